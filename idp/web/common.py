"""Helpers every blueprint shares: the services, rendering, and Authlib request/response glue."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from quart import Response, abort, render_template, request

from idp.i18n import current_language, gettext
from idp.oauth.facade import HttpCall
from idp.oauth.server import ProtocolResponse

# The ids we hand out (new_secret: URL-safe base64) as they may appear in a path or a form.
OPAQUE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def valid_id(value: str | None) -> bool:
    """True when `value` is wholly an id we could have issued (never a CR, LF or other byte)."""
    return value is not None and OPAQUE_ID.fullmatch(value) is not None


def client_ip() -> str:
    return request.remote_addr or "unknown"


def user_agent() -> str:
    return request.headers.get("User-Agent", "")[:512]


async def page(template: str, status: int = 200, **context: Any) -> Response:
    """An HTML page in the customer's language (the supplier's name and logo come from the
    app's template context, see app.py)."""
    body = await render_template(template, lang=current_language(), **context)
    return Response(body, status=status, content_type="text/html; charset=utf-8")


def readable_headers(headers: dict[str, str]) -> dict[str, str]:
    """Request headers for Authlib, without an Authorization header its Basic parser would
    raise on (a 500): one with nothing after the scheme, or Basic credentials that are not
    UTF-8. Authlib treats an unreadable header as none, so dropping it changes nothing."""
    name = next((k for k in headers if k.lower() == "authorization"), None)
    if name is None:
        return headers
    parts = headers[name].split(None, 1)
    readable = len(parts) == 2
    if readable and parts[0].lower() == "basic":
        try:
            base64.b64decode(parts[1]).decode("utf-8")
        except binascii.Error:
            pass  # Authlib catches this one itself
        except ValueError:
            readable = False
    if not readable:
        del headers[name]
    return headers


async def http_call(path: str | None = None) -> HttpCall:
    """This HTTP request as the protocol package takes it (see oauth.facade.HttpCall)."""
    form: list[tuple[str, str]] = []
    if request.method == "POST":
        form = list((await request.form).items(multi=True))
    return HttpCall(
        request.method,
        path or request.path,
        readable_headers(dict(request.headers.items())),
        query=list(request.args.items(multi=True)),
        form=form,
    )


def response_body(result: ProtocolResponse) -> str:
    body = result.body
    return json.dumps(body) if isinstance(body, dict | list) else str(body or "")


def to_response(result: ProtocolResponse) -> Response:
    response = Response(response_body(result), status=result.status)
    for name, value in result.headers:
        response.headers[name] = value
    return response


async def forbidden_form() -> Response:
    """A form without a valid CSRF token: refused, nothing changed."""
    return await page(
        "error.html",
        status=403,
        message=gettext("This form has expired. Please go back and try again."),
    )


def guarded_static(view: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Quart's static view, but a name the file system refuses (too long, a NUL byte) is a 404
    rather than an OSError or ValueError and a 500."""

    async def static(filename: str) -> Any:
        if len(filename) > 1024 or any(len(p.encode()) > 255 for p in filename.split("/")):
            abort(404)
        try:
            return await view(filename=filename)
        except (OSError, ValueError):
            abort(404)

    return static


def go(url: str) -> Response:
    """A 302 to `url` (only ever our own pages or a client's verified redirect URI)."""
    return Response("", status=302, headers={"Location": url})


def json_error_body(error: str, description: str) -> bytes:
    return json.dumps({"error": error, "error_description": description}).encode()


def json_error(status: int, error: str, description: str) -> Response:
    response = Response(
        json_error_body(error, description), status=status, content_type="application/json"
    )
    response.headers["Cache-Control"] = "no-store"
    return response
