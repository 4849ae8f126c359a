"""Security headers, request ids and one log line per request, and error pages without traces."""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
from urllib.parse import unquote_plus

from quart import Quart, Response, g, request
from werkzeug.exceptions import HTTPException

from idp.i18n import gettext as _
from idp.metrics import metrics
from idp.security.logs import FIELDS, bind_client, bind_request, client_id_var
from idp.security.passwords import PasswordPoolFull
from idp.web.common import json_error, page

log = logging.getLogger("idp.request")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
JSON_PATHS = (
    "/token",
    "/revoke",
    "/introspect",
    "/userinfo",
    "/api/",
    "/.well-known/",
    "/jwks",
    "/nox/",
)

SECURITY_HEADERS = {
    # Script only from our own static file (static/idp.js, an enhancement every page works
    # without), never inline; forms post to our own pages, which then redirect.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def security_headers(https: bool) -> list[tuple[str, str]]:
    """The headers every answer carries (HSTS only when the issuer is https)."""
    hsts = [("Strict-Transport-Security", "max-age=31536000")] if https else []
    return [*SECURITY_HEADERS.items(), *hsts]


def choose_request_id(incoming: str) -> str:
    """The caller's X-Request-Id when it is a plain token, else a new one."""
    return incoming if REQUEST_ID.match(incoming) else f"{time.time_ns():x}"


def claimed_client(authorization: str | None) -> str | None:
    """The client id in HTTP Basic credentials (RFC 6749 §2.3.1: form-encoded), if any: what
    the caller claims, for the log, before anything checked it."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, _ = decoded.partition(":")
    return unquote_plus(client_id) if colon and client_id else None


def log_request(
    request_id: str,
    method: str,
    path: str,
    status: int,
    elapsed_ms: float,
    ip: str | None,
) -> None:
    """The one line each request leaves in the log (also written by the fast paths), with the
    client the request named when it named one."""
    # The path only: query strings carry codes and states, bodies carry passwords.
    fields = {
        "request_id": request_id,
        "method": method,
        "path": path,
        "status": status,
        "ms": round(elapsed_ms, 1),
        "ip": ip,
    }
    client_id = client_id_var.get()
    if client_id is not None:
        fields["client_id"] = client_id
    log.info(
        "%(request_id)s %(method)s %(path)s %(status)s %(ms)sms %(ip)s",
        fields,
        extra={FIELDS: fields},
    )


def wants_json() -> bool:
    return request.path.startswith(JSON_PATHS)


# Pages that show a secret or someone's account: never kept by a browser or a proxy.
NO_STORE_PREFIXES = ("/interaction/", "/account", "/link/", "/admin", "/api/v1/")
NO_STORE_PATHS = ("/authorize", "/link", "/admin")


def no_store(path: str) -> bool:
    return path in NO_STORE_PATHS or path.startswith(NO_STORE_PREFIXES)


def install(app: Quart, https: bool, server_timing: bool = False) -> None:
    """`server_timing` (IDP_SERVER_TIMING, development only) adds `Server-Timing`: how long a
    sign-in took tells whether the email is known, so production never sends it."""

    @app.before_request
    async def _start() -> None:
        g.request_id = choose_request_id(request.headers.get("X-Request-Id", ""))
        g.started = time.perf_counter()
        bind_request(g.request_id)
        # The client a request names in its query (/authorize, /logout) or Basic credentials
        # (/token, /revoke, /introspect); form bodies are read by the routes that take them.
        bind_client(
            request.args.get("client_id") or claimed_client(request.headers.get("Authorization"))
        )

    @app.after_request
    async def _finish(response: Response) -> Response:
        for name, value in security_headers(https):
            response.headers.setdefault(name, value)
        if no_store(request.path):
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        response.headers["X-Request-Id"] = g.get("request_id", "-")
        elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        if server_timing:
            response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
        log_request(
            g.get("request_id", "-"),
            request.method,
            request.path,
            response.status_code,
            elapsed_ms,
            request.remote_addr,
        )
        # By route (the rule, `/interaction/<session_id>/login`): never an id in a label.
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics().request(route, request.method, response.status_code, elapsed_ms / 1000)
        return response

    @app.errorhandler(HTTPException)
    async def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if wants_json():
            codes = {405: "invalid_request", 413: "invalid_request", 404: "not_found"}
            return json_error(status, codes.get(status, "invalid_request"), error.name)
        messages = {
            404: _("This page does not exist."),
            405: _("This page cannot be used this way."),
            413: _("What was sent is too large."),
        }
        return await page(
            "error.html", status=status, message=messages.get(status, _("Something went wrong."))
        )

    @app.errorhandler(PasswordPoolFull)
    async def _busy(error: PasswordPoolFull) -> Response:
        """The password pool is full (a burst of sign-ins): come back in a moment."""
        if wants_json():
            response = json_error(503, "temporarily_unavailable", "Try again in a moment")
        else:
            message = _("Many people are signing in right now. Please try again in a moment.")
            response = await page("error.html", status=503, message=message)
        response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(Exception)
    async def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error in %s %s", request.method, request.path)
        if wants_json():
            return json_error(500, "server_error", "The server could not handle the request")
        return await page("error.html", status=500, message=_("Something went wrong on our side."))
