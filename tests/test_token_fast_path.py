"""`POST /token` through the raw ASGI fast path (web/token.py) answers exactly as the Quart route
behind it: the same request sent to both gives the same status, headers, body and log line;
what the fast path does not read itself (another content type, a query, a body over the limit)
reaches the route, body and all. The rest of the token suite (test_token.py, test_code_flow.py,
test_client_auth.py, test_hostile_input.py...) goes through the fast path too, as every request
of Quart's test client enters at `app.asgi_app`."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import func, select

from idp.app import create_app
from idp.config import Settings
from idp.security.clock import FrozenClock
from idp.security.secrets import digest
from idp.store import Store
from idp.store.tables import tokens
from idp.web.token import TokenFastPath
from tests.conftest import CLIENT_SECRET, add_client, basic_auth
from tests.raw_asgi import Answer, Counting, call, request_lines, without_timing

FORM = ("Content-Type", "application/x-www-form-urlencoded")
GOOD = b"grant_type=client_credentials&scope=links%3Aread"


def fast_path(app: Quart) -> TokenFastPath:
    fast = app.asgi_app.app.app  # type: ignore[attr-defined]  # Edge, discovery, then tokens
    assert isinstance(fast, TokenFastPath)
    return fast


@pytest.fixture(params=["http", "https"])
async def variant(request: Any, settings: Settings, clock: FrozenClock) -> Any:
    """The app with the `backend` client; on http, or on https with Server-Timing on (so HSTS
    and Server-Timing are compared too). Log lines are compared as both formats are made: the
    message and the fields."""
    if request.param == "https":
        settings = settings.with_overrides(issuer="https://login.example", server_timing=True)
    app = create_app(settings, clock)
    async with app.test_app() as test_app:
        store: Store = test_app.app.extensions["idp"].store
        await add_client(
            store, "backend", grant_types=["client_credentials"], scopes=["links:read"]
        )
        yield test_app.app


def comparable(answer: Answer) -> tuple[int, list[tuple[bytes, bytes]], Any]:
    """An answer with what differs between two good requests taken out: the request's timing,
    and the new token itself (its length stays: both are 43 characters)."""
    status, headers, body = answer
    try:
        content: Any = json.loads(body)
    except ValueError:
        content = body
    if isinstance(content, dict) and "access_token" in content:
        content["access_token"] = len(content["access_token"])
    return status, without_timing(headers), content


def backend(secret: str = CLIENT_SECRET) -> tuple[str, str]:
    return basic_auth("backend", secret).popitem()


def bad_basic(credentials: bytes) -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(credentials).decode())


# (label, headers, body): the fast path answers each of these itself.
ANSWERED: list[tuple[str, list[tuple[str, str]], bytes | list[bytes]]] = [
    ("a token", [FORM, backend()], GOOD),
    ("in chunks", [FORM, backend()], [GOOD[:10], GOOD[10:30], GOOD[30:]]),
    (
        "charset",
        [("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"), backend()],
        GOOD,
    ),
    ("old type name", [("Content-Type", "application/x-url-encoded"), backend()], GOOD),
    ("wrong secret", [FORM, backend("w" * 40)], GOOD),
    ("no credentials", [FORM], GOOD),
    ("secret in the form too", [FORM, backend()], GOOD + b"&client_id=backend&client_secret=x"),
    ("scope not allowed", [FORM, backend()], b"grant_type=client_credentials&scope=openid"),
    ("no grant type", [FORM, backend()], b"scope=links%3Aread"),
    ("unknown grant type", [FORM, backend()], b"grant_type=password&username=a&password=b"),
    ("repeated", [FORM, backend()], GOOD + b"&grant_type=client_credentials"),
    ("empty body", [FORM, backend()], b""),
    ("not UTF-8", [FORM, backend()], b"grant_type=client_credentials&scope=\xff\xfe"),
    ("percent-encoded junk", [FORM, backend()], b"grant_type=%ff%fe&scope=%zz&&=&a"),
    ("scheme only", [FORM, ("Authorization", "Basic")], GOOD),
    ("not base64", [FORM, ("Authorization", "Basic !!!")], GOOD),
    ("not UTF-8 credentials", [FORM, bad_basic(b"backend:\xff")], GOOD),
    ("no colon", [FORM, bad_basic(b"backend")], GOOD),
    ("bearer", [FORM, ("Authorization", "Bearer abc")], GOOD),
    ("bad request id", [FORM, backend(), ("X-Request-Id", "bad id\x7f")], GOOD),
]
# What the fast path hands on to the Quart route.
HANDED_ON: list[tuple[str, list[tuple[str, str]], bytes | list[bytes], bytes]] = [
    ("JSON", [("Content-Type", "application/json"), backend()], b'{"grant_type": "x"}', b""),
    ("no content type", [backend()], GOOD, b""),
    ("multipart", [("Content-Type", "multipart/form-data; boundary=b"), backend()], b"--b--", b""),
    ("query", [FORM, backend()], GOOD, b"grant_type=client_credentials"),
    ("declared too long", [FORM, backend(), ("Content-Length", "70000")], b"a" * 70000, b""),
    ("too long in chunks", [FORM, backend()], [b"a=" + b"b" * 40000, b"c" * 40000], b""),
    ("bad length", [FORM, backend(), ("Content-Length", "x")], GOOD, b""),
]


@pytest.mark.parametrize(("label", "headers", "body"), ANSWERED, ids=[c[0] for c in ANSWERED])
async def test_the_fast_path_answers_as_the_quart_route(
    variant: Quart, caplog: Any, label: str, headers: list[tuple[str, str]], body: Any
) -> None:
    fast = fast_path(variant)
    behind = fast.app = Counting(fast.app)
    headers = [("X-Request-Id", "parity-1"), *headers]
    caplog.set_level(logging.INFO, logger="idp.request")
    caplog.clear()
    quick = await call(variant.asgi_app, "/token", *headers, method="POST", body=body)
    assert behind.calls == 0, "the fast path answered"
    slow = await call(behind, "/token", *headers, method="POST", body=body)
    assert behind.calls == 1
    assert comparable(quick) == comparable(slow)
    names = dict(quick[1])
    assert (b"server-timing" in names) is fast.answering.server_timing
    assert (b"strict-transport-security" in names) is fast.answering.server_timing
    assert names[b"x-content-type-options"] == b"nosniff"
    lines = request_lines(caplog.records)
    assert len(lines) == 2 and lines[0] == lines[1], lines
    assert "192.0.2.7" in lines[0][0] and lines[0][1]["ip"] == "192.0.2.7"
    assert lines[0][1]["request_id"] == "parity-1"
    if label in ("a token", "wrong secret", "secret in the form too"):
        assert lines[0][1]["client_id"] == "backend"  # as claimed by Basic credentials
    if label == "a token":
        assert quick[0] == 200 and b"parity-1" in names[b"x-request-id"]


@pytest.mark.parametrize(
    ("label", "headers", "body", "query"), HANDED_ON, ids=[c[0] for c in HANDED_ON]
)
async def test_what_the_fast_path_does_not_read_reaches_the_route(
    variant: Quart, label: str, headers: list[tuple[str, str]], body: Any, query: bytes
) -> None:
    fast = fast_path(variant)
    behind = fast.app = Counting(fast.app)
    quick = await call(variant.asgi_app, "/token", *headers, method="POST", body=body, query=query)
    assert behind.calls == 1, "handed on"
    slow = await call(behind, "/token", *headers, method="POST", body=body, query=query)
    assert comparable(quick)[0] == comparable(slow)[0]
    assert comparable(quick)[2] == comparable(slow)[2]
    if label.startswith(("declared too long", "too long")):
        assert quick[0] == 413  # the body read so far was replayed to the route, which refused it


async def test_a_failure_is_the_routes_500(variant: Quart, caplog: Any) -> None:
    fast = fast_path(variant)
    behind = fast.app = Counting(fast.app)

    async def broken(call: Any) -> Any:
        raise RuntimeError("the database is gone")

    fast.oauth.token = broken  # type: ignore[method-assign]  # the route uses the same facade
    headers = [FORM, backend(), ("X-Request-Id", "parity-2")]
    quick = await call(variant.asgi_app, "/token", *headers, method="POST", body=GOOD)
    slow = await call(behind, "/token", *headers, method="POST", body=GOOD)
    assert behind.calls == 1
    assert quick[0] == 500 and comparable(quick) == comparable(slow)
    assert json.loads(quick[2])["error"] == "server_error"
    assert b"database is gone" not in quick[2]
    assert sum("unhandled error in POST /token" in r.getMessage() for r in caplog.records) == 2


# ---- the client as remembered, confirmed by the write ------------------------------------------
async def token_status(client: Any, secret: str = CLIENT_SECRET) -> tuple[int, str]:
    response = await client.post(
        "/token",
        form={"grant_type": "client_credentials", "scope": "links:read"},
        headers=basic_auth("backend", secret),
    )
    return response.status_code, (await response.get_json()).get("error", "")


async def test_a_change_made_elsewhere_reaches_the_remembered_client_at_once(
    variant: Quart,
) -> None:
    """The token endpoint authenticates clients as this process remembers them and lets the
    write confirm the client's version (facade.OAuth.token). A change made by anyone else (here
    straight in the store, as another instance or the CLI would) counts from the next request:
    an old secret no longer gets a token, the new one does, a disabled client gets nothing."""
    client = variant.test_client()
    store: Store = variant.extensions["idp"].store
    remembered = variant.extensions["idp"].oauth.server.clients
    tokens_before = await count_tokens(store)
    assert await token_status(client) == (200, "")
    assert remembered.remembered("backend") is not None
    new_secret = "n" * 40
    await store.clients.set_secret_hash("backend", digest(new_secret), now=1)
    assert await token_status(client) == (401, "invalid_client")
    assert await token_status(client, new_secret) == (200, "")
    await store.clients.update("backend", now=2, disabled=True)
    assert await token_status(client, new_secret) == (401, "invalid_client")
    assert await count_tokens(store) == tokens_before + 2, "no token was stored for a refusal"


async def test_a_secret_rotated_elsewhere_is_accepted_at_once(variant: Quart) -> None:
    """The remembered client refuses the new secret; that answer, not confirmed by any write,
    is given again from the client as stored now."""
    client = variant.test_client()
    store: Store = variant.extensions["idp"].store
    assert await token_status(client) == (200, "")
    await store.clients.set_secret_hash("backend", digest("m" * 40), now=1)
    assert await token_status(client, "m" * 40) == (200, "")


async def count_tokens(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(tokens)) or 0)
