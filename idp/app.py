"""create_app(settings) -> Quart: wires everything, nothing else."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from functools import partial
from typing import Any

from quart import Quart, Response, send_file
from werkzeug.routing import IntegerConverter, Map

from idp import i18n, retention
from idp.config import Settings, load_settings
from idp.metrics import worker_stopped
from idp.nox.readiness import configuration_warnings
from idp.security.clock import Clock, SystemClock
from idp.security.logs import configure_logging
from idp.security.secrets import new_secret
from idp.services import Services
from idp.web import (
    account,
    account_controls,
    admin,
    api,
    authorize,
    discovery,
    hardening,
    home,
    interaction,
    logout,
    nox_webhooks,
    ops,
    password_reset,
    token,
)
from idp.web.common import guarded_static
from idp.web.edge import Edge
from idp.web.raw import Answering

log = logging.getLogger("idp")
# Authlib logs issued tokens at DEBUG; those lines must never reach a log, whatever the level.
QUIET_LOGGERS = ("authlib", "aiosqlite", "sqlalchemy.engine")


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Quart:
    settings = settings or load_settings()
    clock = clock or SystemClock()
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    app = Quart(
        __name__,
        template_folder=settings.templates_dir,
        static_folder=settings.static_dir,
        static_url_path="/static",
    )
    # A path's <int:...> beyond a 64-bit integer is a 404, not an OverflowError in the database.
    app.url_map.converters["int"] = BoundedInt
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_body_bytes,
        BODY_TIMEOUT=30,
        SESSION_COOKIE_NAME="idp_browser",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    if settings.issuer_is_insecure:
        # Authlib refuses http:// unless told; the issuer was checked to be loopback-only.
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
        log.warning(
            "IDP_ISSUER %s is plain http on loopback: cookies are not Secure. "
            "Never run like this in production.",
            settings.issuer,
        )

    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True
    )
    app.jinja_env.autoescape = True
    app.jinja_env.globals.update(
        supplier_name=settings.supplier_name, has_logo=bool(settings.logo_path)
    )
    app.jinja_env.filters.update(
        moment=partial(i18n.moment, zone=settings.zone), day=partial(i18n.day, zone=settings.zone)
    )

    services = Services.build(settings, clock)
    app.extensions["idp"] = services

    @app.before_serving
    async def _start() -> None:
        await services.start()
        app.secret_key = settings.secret_key or await services.store.settings.get_or_create(
            "secret_key", new_secret(48)
        )
        for warning in await configuration_warnings(settings, services.store):
            log.warning("configuration: %s", warning)
        stop = asyncio.Event()
        workers = [
            asyncio.create_task(services.handoffs.run(stop), name="handoff-worker"),
            asyncio.create_task(
                retention.run(settings, services.store, clock, stop), name="retention-worker"
            ),
        ]
        app.extensions["idp.worker"] = (stop, workers)

    @app.after_serving
    async def _stop() -> None:
        worker_stopped()
        stop, workers = app.extensions.pop("idp.worker")
        stop.set()
        await asyncio.gather(*workers)
        await app.extensions["idp"].close()

    if settings.logo_path:

        @app.get("/logo")
        async def logo() -> Response:
            return await send_file(settings.logo_path)  # type: ignore[arg-type]

    for bp in (
        home.bp,
        discovery.blueprint(services.oauth),
        authorize.blueprint(services.signin),
        interaction.blueprint(services.signin),
        logout.blueprint(services.signin.logout),
        password_reset.blueprint(services.signin.password_reset),
        nox_webhooks.blueprint(services.nox_webhooks),
        token.blueprint(services.oauth),
        account.blueprint(
            settings,
            services.signin,
            services.link_sessions,
            services.link_callbacks,
            services.linked_devices,
        ),
        account_controls.blueprint(services.signin, services.linked_devices),
        api.blueprint(settings, services.oauth, services.link_sessions, services.linked_devices),
        admin.blueprint(services.actions, services.console, services.admin_signin, settings),
        ops.blueprint(services.readiness, settings.metrics_token),
    ):
        app.register_blueprint(bp)
    hardening.install(app, not settings.issuer_is_insecure, server_timing=settings.server_timing)
    app.view_functions["static"] = guarded_static(app.view_functions["static"])
    # Raw ASGI fast paths for the hottest requests, answering as the routes behind them do.
    answering = Answering(not settings.issuer_is_insecure, settings.server_timing)
    tokens = token.TokenFastPath(app.asgi_app, services.oauth, answering, settings.max_body_bytes)
    documents = discovery.PublicDocumentsFastPath(tokens, services.oauth, answering)
    app.asgi_app = Edge(documents, settings.trusted_proxy_networks)  # type: ignore[method-assign]
    if settings.otel_endpoint:
        trace(app, settings.otel_endpoint)
    return app


def trace(app: Quart, endpoint: str) -> None:
    """OpenTelemetry, imported only here: without IDP_OTEL_ENDPOINT it costs nothing."""
    try:
        from idp import tracing
    except ImportError:
        log.warning("IDP_OTEL_ENDPOINT is set but OpenTelemetry is not installed (make otel)")
        return
    tracing.install(app, endpoint)


class BoundedInt(IntegerConverter):
    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


# Allocations (net of frees) that start a collection of generation 0, and how many collections
# of the generation below start one of generations 1 and 2. Measured over 32 s of token load on
# 2 workers: Python's (700, 10, 10) made ~90 young, ~8 middle and one full collection per worker
# (50-60 ms); these, after the freeze, made 2 young ones and nothing else, for ~3 MiB more RSS.
GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    """What exists once a worker has started (modules, the app, the services) lives as long as
    the worker: frozen, collections no longer walk it, and higher thresholds make them rarer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def asgi_app() -> Any:
    """The entry point each server worker loads (`idp.app:asgi_app`, a factory). The garbage
    collector is tuned here, in server workers only, not in every app the tests make. Logging
    is the process's, set up here (and by `idp dev`), not by each app the tests make."""
    settings = load_settings()
    configure_logging(settings.log_format)
    app = create_app(settings)

    @app.before_serving
    async def _tune_gc() -> None:  # after create_app's own start-up
        tune_gc()

    return app
