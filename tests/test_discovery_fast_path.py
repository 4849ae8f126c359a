"""The discovery documents and the JWKS from prepared bytes: entity tags and 304s (RFC 9110
§13.1.2, §15.4.5), renewed when the keys rotate, and the raw ASGI fast path in front of Quart
answering exactly as the Quart routes behind it do (status, headers, body, log line)."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from quart import Quart

from idp.app import create_app
from idp.config import Settings
from idp.oauth.keys import generate_key
from idp.oauth.metadata import server_metadata
from idp.security.clock import FrozenClock
from idp.web.discovery import PublicDocumentsFastPath
from tests.raw_asgi import Counting, call, request_lines, without_timing

PATHS = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
PATHS.append("/jwks.json")


def fast_path(app: Quart) -> PublicDocumentsFastPath:
    fast = app.asgi_app.app  # type: ignore[attr-defined]  # Edge, then the fast path
    assert isinstance(fast, PublicDocumentsFastPath)
    return fast


@pytest.fixture(params=["http", "https"])
async def variant(request: Any, settings: Settings, clock: FrozenClock) -> Any:
    """The app on http, or on https with Server-Timing on, so HSTS and Server-Timing are
    compared too (log lines are compared as both formats are made: message and fields)."""
    if request.param == "https":
        settings = settings.with_overrides(issuer="https://login.example", server_timing=True)
    app = create_app(settings, clock)
    async with app.test_app() as test_app:
        yield test_app.app


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("conditional", [False, True])
async def test_fast_path_answers_as_the_quart_route(
    variant: Quart, caplog: Any, path: str, conditional: bool
) -> None:
    fast = fast_path(variant)
    behind = fast.app = Counting(fast.app)
    headers = [("X-Request-Id", "parity-1")]
    if conditional:
        _, first, _ = await call(variant.asgi_app, path)
        etag = dict(first)[b"etag"].decode()
        headers.append(("If-None-Match", f'"nope", W/{etag}'))
    caplog.set_level(logging.INFO, logger="idp.request")
    caplog.clear()
    quick = await call(variant.asgi_app, path, *headers)
    assert behind.calls == 0  # the fast path answered
    slow = await call(behind, path, *headers)  # the Quart route, the same request
    assert behind.calls == 1
    assert quick[0] == slow[0] == (304 if conditional else 200)
    assert without_timing(quick[1]) == without_timing(slow[1])
    assert quick[2] == slow[2]
    names = dict(quick[1])
    assert (b"server-timing" in names) is fast.answering.server_timing  # the https variant has both
    assert (b"strict-transport-security" in names) is fast.answering.server_timing
    lines = request_lines(caplog.records)
    assert len(lines) == 2 and lines[0] == lines[1], lines
    assert "parity-1" in lines[0][0] and "192.0.2.7" in lines[0][0]
    assert lines[0][1]["request_id"] == "parity-1" and lines[0][1]["status"] == quick[0]


async def test_a_matching_entity_tag_is_a_304_without_content(app: Quart) -> None:
    status, headers, body = await call(app.asgi_app, "/jwks.json")
    etag = dict(headers)[b"etag"].decode()
    assert status == 200 and re.fullmatch(r'"[A-Za-z0-9_-]{24}"', etag)
    for if_none_match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await call(app.asgi_app, "/jwks.json", ("If-None-Match", if_none_match))
        assert again[0] == 304 and again[2] == b"", if_none_match
        names = dict(again[1])
        assert names[b"etag"] == etag.encode()
        assert names[b"cache-control"] == b"public, max-age=300"
        assert names[b"access-control-allow-origin"] == b"*"
        assert names[b"x-content-type-options"] == b"nosniff"
        assert b"content-type" not in names and b"content-length" not in names
    for other in ('"other"', etag[:-2] + '"', etag.strip('"'), ""):
        fresh = await call(app.asgi_app, "/jwks.json", ("If-None-Match", other))
        assert fresh[0] == 200 and fresh[2] == body, other


async def test_documents_keep_the_bytes_quart_wrote_and_one_etag_each(app: Quart) -> None:
    oauth = app.extensions["idp"].oauth
    ring = oauth.keys.ring
    metadata = (await call(app.asgi_app, PATHS[0]))[2]
    same = (await call(app.asgi_app, PATHS[1]))[2]
    jwks = (await call(app.asgi_app, PATHS[2]))[2]
    assert metadata == same
    async with app.app_context():
        expected = app.json.response(server_metadata(oauth.server.settings, ["RS256"]))
        assert metadata == await expected.get_data()
        assert jwks == await app.json.response(ring.jwks()).get_data()
    documents = await oauth.public_documents()
    assert documents.metadata.etag != documents.jwks.etag


async def test_a_rotation_renews_the_bytes_and_the_entity_tag(app: Quart, client, store, clock):  # type: ignore[no-untyped-def]
    before = {path: await client.get(path) for path in PATHS}
    kid, jwk = generate_key("ES256")
    await store.keys.add_current(kid=kid, alg="ES256", private_jwk=jwk, now=clock.now())
    clock.advance(59)  # the keys are read again after a minute, not before
    for path in PATHS:
        etag = before[path].headers["ETag"]
        assert (await client.get(path, headers={"If-None-Match": etag})).status_code == 304
    clock.advance(1)
    for path in PATHS:
        after = await client.get(path, headers={"If-None-Match": before[path].headers["ETag"]})
        assert after.status_code == 200 and after.headers["ETag"] != before[path].headers["ETag"]
    jwks = await (await client.get("/jwks.json")).get_json()
    assert jwks["keys"][0]["kid"] == kid
    metadata = await (await client.get(PATHS[0])).get_json()
    assert metadata["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]


async def test_an_unchanged_key_set_keeps_the_same_documents(app: Quart, clock) -> None:  # type: ignore[no-untyped-def]
    oauth = app.extensions["idp"].oauth
    first = await oauth.public_documents()
    clock.advance(61)  # the ring is read again, with the same keys
    assert await oauth.public_documents() is first


@pytest.mark.parametrize("method", ["HEAD", "POST", "OPTIONS"])
async def test_other_methods_and_paths_go_to_quart(app: Quart, method: str) -> None:
    fast = fast_path(app)
    behind = fast.app = Counting(fast.app)
    status, headers, _ = await call(app.asgi_app, "/jwks.json", method=method)
    assert behind.calls == 1
    assert status == {"HEAD": 200, "POST": 405, "OPTIONS": 200}[method]
    assert dict(headers)[b"x-content-type-options"] == b"nosniff"
    for path in ("/jwks.json/", "/.well-known/openid-configuration/x", "/healthz"):
        await call(app.asgi_app, path)
    assert behind.calls == 4


async def test_a_failing_key_read_is_the_routes_json_500(app: Quart, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    oauth = app.extensions["idp"].oauth

    async def broken() -> Any:
        raise RuntimeError("database down")

    monkeypatch.setattr(oauth, "public_documents", broken)
    caplog.set_level(logging.INFO, logger="idp.request")
    status, headers, body = await call(app.asgi_app, "/jwks.json")
    assert status == 500 and b'"error":"server_error"' in body.replace(b" ", b"")
    assert dict(headers)[b"content-type"] == b"application/json"
    assert any(" 500 " in record.getMessage() for record in caplog.records)
