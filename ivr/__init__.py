"""ivr: a code-first IVR for an imaging prior-authorization line (Twilio + Flask)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ivr import config as cfg

if TYPE_CHECKING:  # Flask is imported when an app is built, so `ivr.engine` stays Flask-free.
    from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then the environment, then `test_config`."""
    from flask import Flask

    app = Flask(__name__, instance_relative_config=True)
    settings = cfg.load(app.instance_path, test_config)
    # Flask's own keys (TESTING...) from the test dict, then the settings under their names
    # for the readers of app.config; new code reads the typed object (cfg.get_settings).
    app.config.update({k: v for k, v in (test_config or {}).items() if k not in cfg.names()})
    app.config.update(settings.as_config())
    app.config.update(MAX_CONTENT_LENGTH=settings.max_request_bytes)
    app.extensions[cfg.EXTENSION] = settings
    from ivr.store.sqlite import private_dir

    private_dir(app.instance_path)  # the SQLite database lives here: the owner's alone
    from ivr import logsafe

    logsafe.configure(settings.log_format)
    logsafe.install()  # every value in an `ivr` log line has its control characters escaped

    from ivr import api, auth, cli, console, db, errors, health, hold, metrics, voice
    from ivr.cli import audit as cli_audit
    from ivr.cli import flows as cli_flows
    from ivr.cli import outage as cli_outages
    from ivr.cli import outbox as cli_messages
    from ivr.cli import tokens as cli_tokens
    from ivr.versions import FlowLibrary

    db.init_app(app)
    app.extensions["ivr.flows"] = FlowLibrary(
        settings.flows_dir,
        settings.prompts_dir,
        settings.data_dir,
        ttl=settings.catalog_ttl,
        refresh=settings.flow_refresh,
    )
    auth.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    cli_outages.init_app(app)
    cli_flows.init_app(app)
    cli_messages.init_app(app)
    cli_tokens.init_app(app)
    cli_audit.init_app(app)
    if settings.preload_index:
        # Build the ICD-10-CM index before gunicorn forks (--preload): workers share it,
        # and no caller waits seconds for it at the diagnosis question.
        from ivr.match.icd import default_index

        default_index()
    if settings.trusted_proxies:
        # Behind nginx or a load balancer: the client's address, scheme and host as the
        # proxies saw them (sign-in limits, audit rows, /metrics' loopback check).
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
    metrics.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(voice.bp)
    app.register_blueprint(hold.bp)
    app.register_blueprint(api.bp)
    console.init_app(app)
    return app
