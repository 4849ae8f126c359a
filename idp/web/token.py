"""The back-channel endpoints: token, revocation, introspection, userinfo.

`POST /token` with a form body is answered by `TokenFastPath`, a raw ASGI layer in front of
Quart that reads the request and sends the answer exactly as the Quart route below and
`hardening.install` would, without building Quart's request and response (the route still
answers what the fast path hands on: another content type, a body over the limit).
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qsl

from quart import Blueprint, Response

from idp.oauth.facade import HttpCall, OAuth
from idp.security.logs import bind_client, request_context
from idp.web.common import (
    http_call,
    json_error_body,
    readable_headers,
    response_body,
    to_response,
)
from idp.web.hardening import claimed_client
from idp.web.raw import Answering, read_body, replay, request_headers

log = logging.getLogger("idp.request")
# The form types Quart parses as URL-encoded; anything else goes on to the route.
URLENCODED = frozenset({"application/x-www-form-urlencoded", "application/x-url-encoded"})


def blueprint(oauth: OAuth) -> Blueprint:
    """RFC 6749 §3.2, RFC 7009, RFC 7662 and OIDC Core §5.3, each answered by the facade."""
    bp = Blueprint("token", __name__)

    @bp.post("/token")
    async def token() -> Response:
        return to_response(await oauth.token(named_client(await http_call("/token"))))

    @bp.post("/revoke")
    async def revoke() -> Response:
        return to_response(await oauth.revoke(named_client(await http_call("/revoke"))))

    @bp.post("/introspect")
    async def introspect() -> Response:
        call = named_client(await http_call("/introspect"))
        response = to_response(await oauth.introspect(call))
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.route("/userinfo", methods=["GET", "POST"])
    async def userinfo() -> Response:
        response = to_response(await oauth.userinfo(await http_call("/userinfo")))
        response.headers["Cache-Control"] = "no-store"
        if response.status_code == 403 and "WWW-Authenticate" not in response.headers:
            # RFC 6750 §3.1: say which scope was missing.
            response.headers["WWW-Authenticate"] = (
                'Bearer error="insufficient_scope", scope="openid"'
            )
        return response

    return bp


def named_client(call: HttpCall) -> HttpCall:
    """Logs name the client of a body-authenticated request (client_secret_post, a public
    client) too; Basic credentials were read as the request began."""
    bind_client(next((value for name, value in call.form if name == "client_id"), None))
    return call


class TokenFastPath:
    """ASGI middleware: `POST /token` (no query) with a URL-encoded body within `max_body_bytes`,
    read as Quart reads it (`parse_qsl` of the UTF-8 body, blank values kept; an undecodable body
    an empty form), answered by the facade, sent as `to_response` and `hardening.install` send
    it (a failure as their 500). Anything else goes on to the Quart route, the body replayed."""

    def __init__(self, app: Any, oauth: OAuth, answering: Answering, max_body_bytes: int) -> None:
        self.app = app
        self.oauth = oauth
        self.answering = answering
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != "/token"
            or scope.get("root_path")
            or scope.get("query_string")
        ):
            await self.app(scope, receive, send)
            return
        headers = request_headers(scope)
        mimetype = headers.get("Content-Type", "").partition(";")[0].strip().lower()
        length = headers.get("Content-Length")
        if mimetype not in URLENCODED or (length is not None and not self._within_limit(length)):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body, messages = await read_body(receive, self.max_body_bytes)
        if body is None:  # too long, or the client left: as the route says it
            await self.app(scope, replay(messages, receive), send)
            return
        try:
            form = parse_qsl(body.decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            form = []
        call = HttpCall("POST", "/token", readable_headers(headers), form=form)
        request_id = self.answering.request_id(scope)
        with request_context(request_id):
            bind_client(claimed_client(headers.get("Authorization")))
            await self._answer(send, scope, request_id, started, named_client(call))

    async def _answer(
        self, send: Any, scope: Any, request_id: str, started: float, call: HttpCall
    ) -> None:
        try:
            result = await self.oauth.token(call)
        except Exception:
            log.exception("unhandled error in POST /token")
            error = json_error_body("server_error", "The server could not handle the request")
            failed = [("Content-Type", "application/json"), ("Content-Length", str(len(error)))]
            failed.append(("Cache-Control", "no-store"))
            await self.answering.send(send, scope, request_id, started, 500, failed, error)
            return
        payload = response_body(result).encode()
        answer = [("Content-Type", "text/html; charset=utf-8")]  # Quart's default
        answer.append(("Content-Length", str(len(payload))))
        for name, value in result.headers:
            answer = set_header(answer, name, value)
        await self.answering.send(send, scope, request_id, started, result.status, answer, payload)

    def _within_limit(self, length: str) -> bool:
        return length.isdigit() and int(length) <= self.max_body_bytes


def set_header(headers: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    """As werkzeug's `headers[name] = value`: the first of that name replaced where it stands,
    any others dropped, or the header added at the end."""
    key = name.lower()
    first = next((i for i, (n, _) in enumerate(headers) if n.lower() == key), None)
    if first is None:
        return [*headers, (name, value)]
    kept = [(n, v) for i, (n, v) in enumerate(headers) if i <= first or n.lower() != key]
    kept[first] = (name, value)
    return kept
