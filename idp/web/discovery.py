"""Discovery (OIDC Discovery 1.0, RFC 8414) and the JWKS: public, cacheable, any origin.

The documents change only when the published keys do, so they are served as prepared bytes
with an entity tag (304 to a matching If-None-Match). A GET reaches them through
`PublicDocumentsFastPath`, a raw ASGI layer in front of Quart that sends what the Quart routes
below would send (the same headers from web/hardening.py, the same log line) without building
Quart's request and response; other methods (HEAD) and failures go on to those routes.
"""

from __future__ import annotations

import time
from typing import Any

from quart import Blueprint, Response, request
from werkzeug.datastructures import Headers

from idp.oauth.facade import OAuth
from idp.oauth.metadata import PublicDocument, PublicDocuments
from idp.web.hardening import choose_request_id, log_request, security_headers

JWKS_PATH = "/jwks.json"
ENDPOINTS = {  # path: endpoint name
    "/.well-known/openid-configuration": "openid_configuration",
    "/.well-known/oauth-authorization-server": "oauth_authorization_server",
    JWKS_PATH: "jwks",
}
# A public document any origin may read and caches may keep for five minutes.
PUBLIC = (("Cache-Control", "public, max-age=300"), ("Access-Control-Allow-Origin", "*"))

HeaderList = list[tuple[str, str]]


def pick(documents: PublicDocuments, path: str) -> PublicDocument:
    return documents.jwks if path == JWKS_PATH else documents.metadata


def answer(document: PublicDocument, if_none_match: str) -> tuple[int, HeaderList, bytes]:
    """200 with the bytes, or 304 without them when the caller holds them already (RFC 9110
    §13.1.2, §15.4.5: a 304 carries the validators and caching headers, no content headers)."""
    if if_none_match and document.matches(if_none_match):
        return 304, [*PUBLIC, ("ETag", document.etag)], b""
    body = document.body
    content = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    return 200, [*content, *PUBLIC, ("ETag", document.etag)], body


def blueprint(oauth: OAuth) -> Blueprint:
    """The metadata under both well-known paths, and the keys that verify ID tokens."""
    bp = Blueprint("discovery", __name__)

    async def public_document() -> Response:
        documents = await oauth.public_documents()
        document = pick(documents, request.path)
        status, headers, body = answer(document, request.headers.get("If-None-Match", ""))
        response = Response(body, status, Headers(headers))
        if status == 304:
            del response.headers["Content-Type"]  # Quart's default, not ours
            del response.headers["Content-Length"]
        return response

    for path, endpoint in ENDPOINTS.items():
        bp.add_url_rule(path, endpoint, public_document)
    return bp


class PublicDocumentsFastPath:
    """ASGI middleware: a GET of a discovery path answered from the prepared bytes, with the
    security headers, request id, Server-Timing and log line of `hardening.install`."""

    def __init__(
        self, app: Any, oauth: OAuth, json_logs: bool, https: bool, server_timing: bool
    ) -> None:
        self.app = app
        self.oauth = oauth
        self.json_logs = json_logs
        self.server_timing = server_timing
        self.paths = frozenset(ENDPOINTS)
        self.trailer = encode(security_headers(https))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path")
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or path not in self.paths
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            documents = await self.oauth.public_documents()
        except Exception:
            await self.app(scope, receive, send)  # the route fails the same way, and says so
            return
        incoming = if_none_match = None
        for name, value in scope["headers"]:  # the first of each, as Quart's headers.get
            if name == b"x-request-id" and incoming is None:
                incoming = value.decode("latin-1")
            elif name == b"if-none-match" and if_none_match is None:
                if_none_match = value.decode("latin-1")
        request_id = choose_request_id(incoming or "")
        status, headers, body = answer(pick(documents, path), if_none_match or "")
        raw = [*encode(headers), *self.trailer, (b"x-request-id", request_id.encode())]
        elapsed_ms = (time.perf_counter() - started) * 1000
        if self.server_timing:
            raw.append((b"server-timing", f"app;dur={elapsed_ms:.1f}".encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
        client = (scope.get("client") or ["<local>"])[0]
        log_request(self.json_logs, request_id, "GET", path, status, elapsed_ms, client)


def encode(headers: HeaderList) -> list[tuple[bytes, bytes]]:
    """Headers as ASGI sends them: lower-case names, Latin-1 bytes (as Quart encodes them)."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
