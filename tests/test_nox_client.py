"""NOX as a first-class client: the preset registers the back-channel hand-off, the NOX API key
goes only to NOX's origin, an empty key is never sent, and what keeps NOX from getting the
supplier_user_id is said at start-up, on /readyz and in the console."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from idp.admin.actions import ActionError, Actor
from idp.nox.handoff import HandoffDelivery
from tests.conftest import NOX_API_KEY, NOX_BASE, REDIRECT_URI, Flow, location
from tests.test_admin import admin_form, make_admin, sign_in

ACTOR = Actor("test")
NO_DATA_API = (
    "IDP_NOX_API_BASE is empty: NOX cannot confirm the devices in a link callback, so a "
    "device moving to another customer is held for an operator (idp links held)"
)


@pytest.fixture
async def owner(app, seeded, clock):  # type: ignore[no-untyped-def]
    """A signed-in owner's console client."""
    admin = await make_admin(app, "owner")
    console = app.test_client()
    assert location(await sign_in(console, admin, clock)) == "/admin"
    return console


# ---- the preset -------------------------------------------------------------------------------
async def test_preset_registers_nox_with_the_back_channel(app, store) -> None:
    actions = app.extensions["idp"].actions
    secret = await actions.create_client(ACTOR, preset="nox", redirect_uris=[REDIRECT_URI])
    client = await store.clients.get("nox")
    assert secret and client.name == "NOX Energy"
    assert client.preset == "nox" and client.is_nox
    assert client.handoff_mode == "backchannel"
    assert client.post_login_redirect_url == NOX_BASE + "/post-login-redirect"
    [event] = await store.events.recent(kind="admin.client.created")
    assert event["detail"]["preset"] == "nox"
    assert event["detail"]["handoff_mode"] == "backchannel"


async def test_nox_cannot_lose_its_hand_off(app, store) -> None:
    actions = app.extensions["idp"].actions
    with pytest.raises(ActionError, match="backchannel"):
        await actions.create_client(
            ACTOR, preset="nox", redirect_uris=[REDIRECT_URI], handoff_mode="redirect"
        )
    assert await store.clients.get("nox") is None
    await actions.create_client(ACTOR, preset="nox", redirect_uris=[REDIRECT_URI])
    with pytest.raises(ActionError, match="backchannel"):
        await actions.update_client(ACTOR, "nox", handoff_mode="form_post")
    assert (await store.clients.get("nox")).handoff_mode == "backchannel"


@pytest.mark.parametrize(
    "url",
    [
        "https://maker.example/post-login-redirect",  # a heat-pump maker's URL
        "http://127.0.0.1:10/post-login-redirect",  # another port is another origin
        "https://127.0.0.1:9/post-login-redirect",  # and so is another scheme
    ],
)
async def test_back_channel_urls_off_nox_origin_are_refused(app, store, url: str) -> None:
    actions = app.extensions["idp"].actions
    with pytest.raises(ActionError, match="not on NOX's origin"):
        await actions.create_client(
            ACTOR,
            client_id="maker",
            name="Maker",
            redirect_uris=[REDIRECT_URI],
            handoff_mode="backchannel",
            post_login_redirect_url=url,
        )
    assert await store.clients.get("maker") is None


async def test_an_operator_may_allow_one_more_url(settings, clock) -> None:
    from idp.admin.actions import AdminActions
    from idp.store import Store

    allowed = "https://maker.example/post-login-redirect"
    store = Store.connect(settings.database_url)
    try:
        actions = AdminActions(store, clock, settings.with_overrides(handoff_allowed_urls=allowed))
        await actions.create_client(
            ACTOR,
            client_id="maker",
            name="Maker",
            redirect_uris=[REDIRECT_URI],
            handoff_mode="backchannel",
            post_login_redirect_url=allowed,
        )
        assert (await store.clients.get("maker")).post_login_redirect_url == allowed
    finally:
        await store.close()


async def test_console_registers_nox(owner, store) -> None:
    csrf = await admin_form(owner, "/admin/clients")
    response = await owner.post(
        "/admin/clients",
        form={
            "csrf_token": csrf,
            "preset": "nox",
            "client_id": "nox-app",
            "name": "NOX",
            "redirect_uris": REDIRECT_URI,
            "post_login_redirect_url": NOX_BASE + "/post-login-redirect",
        },
    )
    assert response.status_code == 200
    client = await store.clients.get("nox-app")
    assert (client.preset, client.handoff_mode) == ("nox", "backchannel")


# ---- the key goes to NOX only ---------------------------------------------------------------
class Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.seen.append(
            {"headers": dict(self.headers), "body": json.loads(self.rfile.read(length))}
        )
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on loopback that records what it receives."""
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


async def handoff_to(store, clock, url: str) -> str:  # type: ignore[no-untyped-def]
    await store.grants.add_code(
        code_hash="c-" + url,
        client_id="nox",
        user_id=1,
        redirect_uri=REDIRECT_URI,
        scope="openid",
        nonce=None,
        code_challenge=None,
        code_challenge_method=None,
        auth_time=clock.now(),
        auth_session_id=None,
        now=clock.now(),
        expires_at=clock.now() + 60,
        handoff={"id": "h-" + url[-5:], "client_id": "nox", "url": url, "body": {"state": "s"}},
    )
    return "h-" + url[-5:]


async def test_the_key_goes_to_nox_and_nowhere_else(settings, clock, seeded, listener) -> None:
    from idp.store import Store

    nox_url, seen = listener
    other = (
        "http://localhost:" + nox_url.rsplit(":", 1)[1] + "/maker-hook"
    )  # same port, other origin
    settings = settings.with_overrides(nox_auth_base=nox_url, handoff_allowed_urls=other)
    store = Store.connect(settings.database_url)
    delivery = HandoffDelivery(settings, store.outbox, clock)
    try:
        to_nox = await handoff_to(store, clock, nox_url + "/post-login-redirect")
        to_other = await handoff_to(store, clock, other)
        assert await delivery.attempt(to_nox) == "delivered"
        assert await delivery.attempt(to_other) == "delivered"
    finally:
        await delivery.close()
        await store.close()
    keys = [{k.lower(): v for k, v in s["headers"].items()}.get("x-api-key") for s in seen]
    assert keys == [NOX_API_KEY, None]


async def test_an_unlisted_url_gets_nothing(settings, clock, seeded, listener, store) -> None:
    nox_url, seen = listener
    delivery = HandoffDelivery(settings, store.outbox, clock)  # NOX is at NOX_BASE, not here
    try:
        handoff_id = await handoff_to(store, clock, nox_url + "/post-login-redirect")
        assert await delivery.attempt(handoff_id) == "failed"
    finally:
        await delivery.close()
    assert seen == []
    assert "not on NOX's origin" in (await store.outbox.get(handoff_id)).last_error


async def test_an_empty_key_is_never_sent(settings, clock, seeded, listener) -> None:
    from idp.store import Store

    nox_url, seen = listener
    settings = settings.with_overrides(nox_auth_base=nox_url, nox_api_key=None)
    store = Store.connect(settings.database_url)
    delivery = HandoffDelivery(settings, store.outbox, clock)
    try:
        handoff_id = await handoff_to(store, clock, nox_url + "/post-login-redirect")
        assert await delivery.attempt(handoff_id) == "pending"  # held, not failed for good
        handoff = await store.outbox.get(handoff_id)
    finally:
        await delivery.close()
        await store.close()
    assert seen == []
    assert handoff.status == "pending"
    assert handoff.last_error == "not sent: IDP_NOX_API_KEY is not set"


# ---- saying what is wrong ---------------------------------------------------------------------
async def add_public_client(store, client_id: str, **extra: Any) -> None:  # type: ignore[no-untyped-def]
    await store.clients.add(
        client_id=client_id,
        name="NOX",
        secret_hash=None,
        token_endpoint_auth_method="none",
        grant_types=["authorization_code"],
        scopes=["openid"],
        redirect_uris=[REDIRECT_URI],
        now=0,
        **extra,
    )


async def test_readyz_and_console_say_what_keeps_nox_from_its_data(
    app,
    owner,
    store,
    client,
) -> None:
    body = await (await client.get("/readyz")).get_json()
    # Seeded: terms published, a key, nox in redirect mode (not the preset); no data API.
    assert body["warnings"] == [NO_DATA_API]
    await add_public_client(store, "nox2", preset="nox")
    body = await (await client.get("/readyz")).get_json()
    assert body["warnings"] == [
        "client nox2 is NOX but has no back-channel hand-off: NOX never receives the "
        "supplier_user_id",
        NO_DATA_API,
    ]
    page = await (await owner.get("/admin")).get_data(as_text=True)
    assert "client nox2 is NOX but has no back-channel hand-off" in page


async def test_readyz_names_a_missing_key_and_missing_terms(settings, clock) -> None:
    from idp.app import create_app

    app = create_app(settings.with_overrides(nox_api_key=None), clock)
    async with app.test_app() as test_app:
        store = app.extensions["idp"].store
        await add_public_client(
            store, "nox", handoff_mode="backchannel", post_login_redirect_url=NOX_BASE + "/plr"
        )
        body = await (await test_app.test_client().get("/readyz")).get_json()
    assert body["status"] == "ok"
    assert body["warnings"] == [
        "IDP_NOX_API_KEY is empty: link sessions with NOX cannot be created, and hand-offs to "
        "nox are held back",
        NO_DATA_API,
        "no terms and conditions are published: customers cannot be handed to NOX until a "
        "version is published (idp terms publish, or the console)",
    ]


async def test_start_up_logs_the_warnings(settings, clock, caplog) -> None:
    from idp.app import create_app

    app = create_app(settings.with_overrides(nox_api_key=None), clock)
    async with app.test_app():
        pass
    lines = [r.getMessage() for r in caplog.records if r.name == "idp"]
    assert (
        "configuration: no terms and conditions are published: customers cannot be handed "
        "to NOX until a version is published (idp terms publish, or the console)"
    ) in lines


async def test_flow_with_the_preset_hands_off(client, store, app, seeded) -> None:
    """End to end in process: the preset's client gets a hand-off row after the terms."""
    await store.clients.update(
        "nox", 0, handoff_mode="backchannel", post_login_redirect_url=NOX_BASE + "/p"
    )
    flow = Flow(client)
    url = location(await flow.authorize())
    assert url.endswith("/login")
    await flow.code()
    [handoff] = await store.outbox.list()
    assert handoff.url == NOX_BASE + "/p"


@pytest.mark.parametrize("name", ["nox_auth_base", "nox_api_base"])
def test_the_key_never_travels_in_clear_beyond_this_machine(settings, name: str) -> None:
    from idp.config import ConfigError

    with pytest.raises(ConfigError, match="http:// only on a loopback host"):
        settings.with_overrides(**{name: "http://api.nox.example"})
    assert getattr(settings.with_overrides(**{name: "http://127.0.0.1:9"}), name)


async def test_no_link_session_is_asked_for_with_an_empty_key(settings) -> None:
    from idp.nox.client import NoxLinkClient, NoxUnavailable

    nox = NoxLinkClient(settings.with_overrides(nox_api_key=None))
    try:
        with pytest.raises(NoxUnavailable, match="IDP_NOX_API_KEY is not set"):
            await nox.create(user_id="cust-0001", asset_type="hp", language="nl", brand=None)
    finally:
        await nox.close()
