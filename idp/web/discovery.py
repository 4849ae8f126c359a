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
from idp.oauth.keys import JWKS_MAX_AGE_SECONDS
from idp.oauth.metadata import PublicDocument, PublicDocuments
from idp.web.raw import Answering

JWKS_PATH = "/jwks.json"
ENDPOINTS = {  # path: endpoint name
    "/.well-known/openid-configuration": "openid_configuration",
    "/.well-known/oauth-authorization-server": "oauth_authorization_server",
    JWKS_PATH: "jwks",
}
# A public document any origin may read and caches may keep for five minutes.
PUBLIC = (
    ("Cache-Control", f"public, max-age={JWKS_MAX_AGE_SECONDS}"),
    ("Access-Control-Allow-Origin", "*"),
)


def pick(documents: PublicDocuments, path: str) -> PublicDocument:
    return documents.jwks if path == JWKS_PATH else documents.metadata


def answer(
    document: PublicDocument, if_none_match: str
) -> tuple[int, list[tuple[str, str]], bytes]:
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

    def __init__(self, app: Any, oauth: OAuth, answering: Answering) -> None:
        self.app = app
        self.oauth = oauth
        self.answering = answering
        self.paths = frozenset(ENDPOINTS)

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
        if_none_match = next((v for n, v in scope["headers"] if n == b"if-none-match"), b"")
        status, headers, body = answer(pick(documents, path), if_none_match.decode("latin-1"))
        request_id = self.answering.request_id(scope)
        await self.answering.send(send, scope, request_id, started, status, headers, body)
