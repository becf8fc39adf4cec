# The two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
WORKERS ?= 4
STAMP  := $(VENV)/.installed

export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test setup db lint bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

# Migrate the store and, when it has no plans yet, load data/ and publish flows/.
db: setup
	$(BIN)/ivr init-db
	$(BIN)/ivr seed --if-empty

# gunicorn, and beside it the outbox worker, which sends the texts calls queue (never inside
# a webhook). Ctrl-C or SIGTERM stops both; so does gunicorn exiting on its own.
run: db
	IVR_PRELOAD_INDEX=1 $(BIN)/gunicorn --workers $(WORKERS) --preload --bind $(HOST):$(PORT) \
		--access-logfile - --access-logformat '%(t)s "%(m)s %(U)s" %(s)s %(L)ss' wsgi:app & \
	app=$$!; $(BIN)/ivr send-outbox --watch & watcher=$$!; \
	trap 'kill -TERM $$app $$watcher 2>/dev/null' INT TERM; \
	wait $$app; status=$$?; kill -TERM $$watcher 2>/dev/null; wait $$app $$watcher; exit $$status

test: db
	$(BIN)/ivr check-flows
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: setup
	$(BIN)/ruff check ivr tests bench wsgi.py
	$(BIN)/ruff format --check ivr tests bench wsgi.py
	$(BIN)/mypy --follow-imports=silent ivr/engine ivr/match ivr/criteria

bench: db
	$(BIN)/python bench/match.py
	$(BIN)/python bench/caller_time.py
	$(BIN)/python bench/webhook.py --db both

clean:
	rm -rf $(VENV) instance/ivr.db* .pytest_cache
