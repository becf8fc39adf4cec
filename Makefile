# The two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
WORKERS ?= 4
# gunicorn (23+) opens a control socket, by default ~/.gunicorn/gunicorn.ctl: one per user,
# so a second `make run` on the host took the first's over and removed it on stopping. Each
# instance has its own, beside its store (instance/ is the owner's alone, 0700).
CONTROL_SOCKET ?= instance/gunicorn-$(HOST)-$(PORT).ctl
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# Every package, pip and setuptools included, comes from a lock with hashes.
INSTALL := $(BIN)/python -m pip install --quiet --require-hashes
# The project itself: its dependencies are already in from the lock, nothing is fetched.
EDITABLE := $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links

export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test setup db browser lint lock bench clean

# The runtime lock only: what `make run` serves with.
$(RUN_STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(INSTALL) -r requirements.txt
	$(EDITABLE)
	touch $@

# Runtime + test and lint tools (a superset of the runtime lock, same versions).
$(DEV_STAMP): requirements-dev.txt requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(INSTALL) -r requirements-dev.txt
	$(EDITABLE)
	touch $(RUN_STAMP) $@

setup: $(DEV_STAMP)

# Recompile both locks from pyproject.toml (+ requirements-tools.in) after changing a pin.
lock: setup
	$(COMPILE) -o requirements.txt pyproject.toml requirements-tools.in
	$(COMPILE) --extra dev -o requirements-dev.txt pyproject.toml requirements-tools.in

# Migrate the store and, when it has no plans yet, load data/ and publish flows/.
db: $(RUN_STAMP)
	$(BIN)/ivr init-db
	$(BIN)/ivr seed --if-empty

# gunicorn, and beside it the outbox worker, which sends the texts calls queue (never inside
# a webhook). Ctrl-C or SIGTERM stops both; so does gunicorn exiting on its own.
# --timeout 20: above the store's timeouts (a webhook answers the failsafe within ~10 s), so
# a worker is only killed when truly stuck; --graceful-timeout 20 lets turns finish on stop.
# The access log shows the path, never the query (API filters name members), with every
# value's control characters escaped (ivr.accesslog): a %0A in a URL cannot forge a line.
# /metrics sums the workers' counts through PROMETHEUS_MULTIPROC_DIR: a fresh directory of
# this instance's own unless one is given (then it must be empty at start).
# IVR_ENV=development lets unsigned webhooks in while no TWILIO_AUTH_TOKEN is set (a local
# try-out); set IVR_ENV=production (and the token) in the environment for a real line.
# Two instances on one host (PORT=5000, PORT=5001) share no file but the store itself.
run: db
	export IVR_ENV=$${IVR_ENV:-development}; \
	export PROMETHEUS_MULTIPROC_DIR=$${PROMETHEUS_MULTIPROC_DIR:-$$(mktemp -d -t ivr-metrics.XXXXXX)}; \
	IVR_PRELOAD_INDEX=1 $(BIN)/gunicorn --workers $(WORKERS) --preload --bind $(HOST):$(PORT) \
		--control-socket $(CONTROL_SOCKET) --timeout 20 --graceful-timeout 20 \
		--logger-class ivr.accesslog.GunicornLogger \
		--access-logfile - --access-logformat '%(t)s "%(m)s %(U)s" %(s)s %(L)ss' wsgi:app & \
	app=$$!; $(BIN)/ivr send-outbox --watch & watcher=$$!; \
	trap 'kill -TERM $$app $$watcher 2>/dev/null' INT TERM; \
	wait $$app; status=$$?; kill -TERM $$watcher 2>/dev/null; wait $$app $$watcher; exit $$status

# The console's browser tests drive Debian's chromium by its path: Playwright's own browser
# download is never used. As root (CI) it is installed with apt when missing; otherwise the
# browser tests skip with the reason (and fail under CI=true). Graphviz (`dot`) draws the
# admin pages' flow pictures; without it they use a simpler layout of their own.
browser:
	@{ command -v chromium && command -v dot && command -v espeak-ng; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium graphviz espeak-ng; \
	  else \
	    echo "chromium, graphviz or espeak-ng is missing: sudo apt-get install chromium graphviz espeak-ng (browser tests skip without chromium; flow pictures use a simpler layout without graphviz; the prompts' Listen button is hidden without espeak-ng)"; \
	  fi; }

# The flows, the types, then the suite (which also checks the models against the migrations).
test: setup db browser
	$(BIN)/ivr check-flows
	$(BIN)/mypy ivr
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: setup
	$(BIN)/ruff check ivr tests bench wsgi.py
	$(BIN)/ruff format --check ivr tests bench wsgi.py
	$(BIN)/mypy ivr

bench: db
	$(BIN)/python bench/match.py
	$(BIN)/python bench/caller_time.py
	$(BIN)/python bench/webhook.py --db both
	$(BIN)/python bench/turn_cost.py --db both

clean:
	rm -rf $(VENV) instance/ivr.db* .pytest_cache .mypy_cache
