"""The NOX sandbox's side of flow 1, in-process: what POST /post-login-redirect checks (API key,
a state the sandbox issued, its 15-minute window, only the fields NOX publishes), the result
that keeps the code redirect and the hand-off apart, the second supplier, the maker-app start
and the transactions that outlive a restart. The flows over real processes are in
tests/test_sandbox_flow1_e2e.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from quart.wrappers import Response

from idp.sandbox.app import SandboxSettings, SandboxState, create_sandbox_app
from idp.sandbox.supplier_authentication import SupplierAuthentication
from idp.sandbox.transactions import Transaction, outcome
from idp.security.clock import FrozenClock

IDP_URL = "http://127.0.0.1:8000"
PUBLIC_URL = "http://127.0.0.1:8100"
API_KEY = "nox-api-key-for-tests-0123456789"
SUPPLIER = "local-supplier"
METADATA = {
    "authorization_endpoint": IDP_URL + "/authorize",
    "token_endpoint": IDP_URL + "/token",
    "jwks_uri": IDP_URL + "/jwks.json",
}


def make_app(clock: FrozenClock, **overrides: Any) -> Quart:
    settings = SandboxSettings(IDP_URL, PUBLIC_URL, "nox", "client-secret", API_KEY, **overrides)
    app = create_sandbox_app(settings, clock=clock)
    # The identity provider is not running here: give NOX's OAuth client its discovery document.
    authentication: SupplierAuthentication = app.extensions["supplier_authentication"]
    authentication.discovered = METADATA
    return app


@pytest.fixture
async def app(clock: FrozenClock) -> AsyncIterator[Quart]:
    app = make_app(clock)
    async with app.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


@pytest.fixture
def nox(app: Quart) -> Client:
    return app.test_client()


def sandbox(app: Quart) -> SandboxState:
    state: SandboxState = app.extensions["sandbox"]
    return state


def events(app: Quart, kind: str) -> list[dict[str, Any]]:
    return [e for e in sandbox(app).events if e["type"] == kind]


async def select(nox: Client, **form: str) -> Response:
    return await nox.post("/select", form={"supplier": SUPPLIER, "language": "en", **form})


async def issued_state(nox: Client, **form: str) -> str:
    """Pick the supplier, as the customer does; the state NOX sent to the identity provider."""
    response = await select(nox, **form)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(IDP_URL + "/authorize?")
    return parse_qs(urlsplit(location).query)["state"][0]


async def hand_off(nox: Client, body: Any, api_key: str | None = API_KEY) -> Response:
    headers = {} if api_key is None else {"x-api-key": api_key}
    return await nox.post("/post-login-redirect", json=body, headers=headers)


def code_redirect_verified(app: Quart, state: str, sub: str = "cust-0001", at: int = 0) -> None:
    """Stand in for the callback's code exchange and ID-token check, which need the identity
    provider (the real ones run in tests/test_sandbox_flow1_e2e.py)."""
    txn = sandbox(app).transactions.by_state[state]
    txn.callback_at, txn.id_token_sub = at or txn.selected_at, sub


# ---- POST /post-login-redirect -----------------------------------------------------------------
async def test_handoff_for_a_state_the_sandbox_issued_is_accepted(app: Quart, nox: Client) -> None:
    state = await issued_state(nox)
    response = await hand_off(nox, {"supplier_user_id": "cust-0001", "state": state})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert await response.get_json() == {"status": "accepted", "state": state}
    [post] = events(app, "post_login_redirect")
    assert post["body"] == {"supplier_user_id": "cust-0001", "state": state}
    assert post["answered"] == "ok" and post["repeated"] is False
    assert sandbox(app).transactions.by_state[state].handoff == post["body"]


async def test_handoff_for_a_state_the_sandbox_never_issued_is_refused(
    app: Quart, nox: Client
) -> None:
    await issued_state(nox)  # another transaction exists; its state is not this one
    response = await hand_off(nox, {"supplier_user_id": "cust-0001", "state": "made-up"})
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "unknown_state"
    [rejected] = events(app, "post_login_redirect_rejected")
    assert rejected["status"] == 400 and rejected["error"] == "unknown_state"
    assert rejected["body"] == {"supplier_user_id": "cust-0001", "state": "made-up"}
    assert events(app, "post_login_redirect") == []


@pytest.mark.parametrize(("after", "status"), [(900, 200), (901, 400)])
async def test_handoff_after_the_15_minute_window_is_refused(
    app: Quart, nox: Client, clock: FrozenClock, after: int, status: int
) -> None:
    state = await issued_state(nox)
    clock.advance(after)
    response = await hand_off(nox, {"supplier_user_id": "cust-0001", "state": state})
    assert response.status_code == status
    if status == 400:
        assert (await response.get_json())["error"] == "authentication_expired"
        [rejected] = events(app, "post_login_redirect_rejected")
        assert rejected["error"] == "authentication_expired"
        assert sandbox(app).transactions.by_state[state].handoff is None


@pytest.mark.parametrize("api_key", [None, "", API_KEY + "-wrong"])
async def test_handoff_without_the_right_api_key_is_refused(
    app: Quart, nox: Client, api_key: str | None
) -> None:
    state = await issued_state(nox)
    response = await hand_off(nox, {"supplier_user_id": "cust-0001", "state": state}, api_key)
    assert response.status_code == 401
    assert (await response.get_json())["error"] == "invalid_api_key"
    [rejected] = events(app, "post_login_redirect_rejected")
    assert rejected["error"] == "invalid_api_key"
    assert sandbox(app).transactions.by_state[state].handoff is None


async def test_fields_nox_never_published_are_neither_required_nor_checked(
    app: Quart, nox: Client
) -> None:
    state = await issued_state(nox)
    body = {
        "supplier_user_id": "cust-0001",
        "state": state,
        "client_id": 42,  # our identity provider sends a string; NOX publishes no such field
        "authenticated_at": "this morning",
        "tenant": "green",  # an operator-configured extra
    }
    response = await hand_off(nox, body)
    assert response.status_code == 200
    assert sandbox(app).transactions.by_state[state].handoff == body


@pytest.mark.parametrize(
    "body",
    [
        ["not", "an", "object"],
        {"state": "STATE"},
        {"supplier_user_id": "cust-0001"},
        {"supplier_user_id": "", "state": "STATE"},
        {"supplier_user_id": 1, "state": "STATE"},
    ],
)
async def test_handoff_without_the_published_fields_is_refused(
    app: Quart, nox: Client, body: Any
) -> None:
    state = await issued_state(nox)
    if isinstance(body, dict) and body.get("state") == "STATE":
        body = {**body, "state": state}
    response = await hand_off(nox, body)
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_request"
    assert sandbox(app).transactions.by_state[state].handoff is None


async def test_a_repeated_handoff_is_accepted_once_another_customer_is_refused(
    app: Quart, nox: Client
) -> None:
    state = await issued_state(nox)
    first = {"supplier_user_id": "cust-0001", "state": state}
    assert (await hand_off(nox, first)).status_code == 200
    assert (await hand_off(nox, first)).status_code == 200
    response = await hand_off(nox, {"supplier_user_id": "cust-0002", "state": state})
    assert response.status_code == 409
    assert (await response.get_json())["error"] == "state_already_used"
    assert [e["repeated"] for e in events(app, "post_login_redirect")] == [False, True]
    assert sandbox(app).transactions.by_state[state].handoff == first


async def test_misbehaving_answers_are_json_errors(app: Quart, nox: Client) -> None:
    state = await issued_state(nox)
    await nox.post("/_sandbox/control", json={"post_login_redirect": "503"})
    response = await hand_off(nox, {"supplier_user_id": "cust-0001", "state": state})
    assert response.status_code == 503
    assert await response.get_json() == {
        "error": "sandbox_misbehaving",
        "error_description": "sandbox told to answer 503",
    }
    assert sandbox(app).transactions.by_state[state].handoff is None


# ---- the outcome: the code redirect and the hand-off, apart ------------------------------------
def txn(**fields: Any) -> Transaction:
    base: dict[str, Any] = {
        "state": "s",
        "nonce": "n",
        "code_verifier": "v",
        "selected_at": 1000,
        "language": "en",
        "result_id": "r",
        "supplier": SUPPLIER,
    }
    return Transaction(**{**base, **fields})


HANDOFF = {"supplier_user_id": "cust-0001", "state": "s"}


@pytest.mark.parametrize(
    ("fields", "mode", "now", "status"),
    [
        ({}, "backchannel", 1900, "waiting"),
        ({}, "backchannel", 1901, "failed"),
        ({"callback_at": 1100, "code_error": "access_denied: no"}, "backchannel", 1100, "failed"),
        ({"callback_at": 1100, "id_token_sub": "cust-0001"}, "backchannel", 1100, "waiting"),
        ({"callback_at": 1100, "id_token_sub": "cust-0001"}, "backchannel", 1901, "failed"),
        ({"callback_at": 1100, "id_token_sub": "cust-0001"}, "redirect", 1100, "succeeded"),
        ({"callback_at": 1100, "id_token_sub": "cust-0001"}, "form_post", 1100, "succeeded"),
        (
            {"callback_at": 1100, "id_token_sub": "cust-0001", "handoff": HANDOFF},
            "backchannel",
            1100,
            "succeeded",
        ),
        (
            {"callback_at": 1100, "id_token_sub": "cust-0002", "handoff": HANDOFF},
            "backchannel",
            1100,
            "failed",
        ),
        ({"handoff": HANDOFF}, "backchannel", 1100, "waiting"),  # the hand-off alone: not yet
    ],
)
def test_outcome_needs_what_the_handoff_mode_requires(
    fields: dict[str, Any], mode: str, now: int, status: str
) -> None:
    found = outcome(txn(**fields), now, mode, 900)
    assert found.status == status
    assert (found.supplier_user_id is not None) == (status == "succeeded")


def test_outcome_names_a_mismatch() -> None:
    found = outcome(
        txn(callback_at=1100, id_token_sub="cust-0002", handoff=HANDOFF), 1100, "backchannel", 900
    )
    assert found.handoff_matches is False
    assert found.reason == (
        "The hand-off names supplier_user_id 'cust-0001', the ID token's sub is 'cust-0002'."
    )


async def test_result_page_waits_for_the_handoff_then_succeeds(app: Quart, nox: Client) -> None:
    state = await issued_state(nox)
    code_redirect_verified(app, state)
    result_id = sandbox(app).transactions.by_state[state].result_id

    waiting = await nox.get(f"/result/{result_id}")
    page = await waiting.get_data(as_text=True)
    assert waiting.status_code == 200
    assert '<h1 id="outcome">Waiting for the hand-off</h1>' in page
    assert '<meta http-equiv="refresh" content="2">' in page
    assert "succeeded: code exchanged, ID token verified" in page
    assert '<p id="handoff">not received (yet)</p>' in page
    assert "Supplier authentication succeeded" not in page
    assert events(app, "supplier_linked") == []

    assert (
        await hand_off(nox, {"supplier_user_id": "cust-0001", "state": state})
    ).status_code == 200
    [linked] = events(app, "supplier_linked")  # recorded when the hand-off completed it
    assert linked["supplier_user_id"] == "cust-0001" and linked["handoff_received"] is True
    done = await nox.get(f"/result/{result_id}")
    page = await done.get_data(as_text=True)
    assert done.status_code == 200
    assert '<h1 class="nox-ok" id="outcome">Supplier authentication succeeded</h1>' in page
    assert 'http-equiv="refresh"' not in page
    assert '<span id="handoff-match">matches the ID token\'s sub</span>' in page
    assert len(events(app, "supplier_linked")) == 1


async def test_result_page_fails_when_the_handoff_never_came(
    app: Quart, nox: Client, clock: FrozenClock
) -> None:
    state = await issued_state(nox)
    code_redirect_verified(app, state)
    result_id = sandbox(app).transactions.by_state[state].result_id
    clock.advance(901)
    for _ in range(2):
        response = await nox.get(f"/result/{result_id}")
        page = await response.get_data(as_text=True)
        assert response.status_code == 400
        assert "Supplier authentication failed" in page
        assert "did not arrive within the 15 minutes" in page
        assert '<p id="handoff">not received</p>' in page
    [failed] = events(app, "supplier_authentication_failed")  # once, however often it is shown
    assert failed["state"] == state and failed["handoff_received"] is False
    assert events(app, "supplier_linked") == []


async def test_result_page_fails_when_the_handoff_names_someone_else(
    app: Quart, nox: Client
) -> None:
    state = await issued_state(nox)
    code_redirect_verified(app, state, sub="cust-0002")
    await hand_off(nox, {"supplier_user_id": "cust-0001", "state": state})
    txn = sandbox(app).transactions.by_state[state]
    response = await nox.get(f"/result/{txn.result_id}")
    page = await response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Supplier authentication failed" in page
    assert '<span id="handoff-match">does NOT match the ID token\'s sub</span>' in page
    assert events(app, "supplier_linked") == []


async def test_without_backchannel_the_code_redirect_suffices(clock: FrozenClock) -> None:
    app = make_app(clock, handoff_mode="redirect")
    async with app.test_app():
        nox = app.test_client()
        state = await issued_state(nox)
        code_redirect_verified(app, state)
        response = await nox.get(f"/result/{sandbox(app).transactions.by_state[state].result_id}")
        page = await response.get_data(as_text=True)
        assert response.status_code == 200
        assert "Supplier authentication succeeded" in page
        assert "Not required: this supplier&#39;s hand-off mode is redirect." not in page
        assert "Not required: this supplier's hand-off mode is redirect." in page


def test_an_unknown_handoff_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="handoff_mode must be one of"):
        SandboxSettings(IDP_URL, PUBLIC_URL, "nox", "s", API_KEY, handoff_mode="push")


# ---- the callback ------------------------------------------------------------------------------
async def test_callback_with_a_state_never_issued_is_refused(app: Quart, nox: Client) -> None:
    response = await nox.get("/callback", query_string={"code": "c", "state": "x", "iss": IDP_URL})
    assert response.status_code == 400
    assert "Unknown state." in await response.get_data(as_text=True)
    [rejected] = events(app, "callback_rejected")
    assert rejected["reason"] == "unknown state"


async def test_callback_in_another_browser_is_refused(app: Quart, nox: Client) -> None:
    """A lured code redirect carrying the attacker's state, in the victim's browser: NOX (like
    any careful OAuth client) links only in the browser it sent to the supplier."""
    state = await issued_state(nox)  # the attacker's own browser started this
    victim = app.test_client()
    query = {"code": "c", "state": state, "iss": IDP_URL}
    response = await victim.get("/callback", query_string=query)
    assert response.status_code == 400
    assert "started in another browser" in await response.get_data(as_text=True)
    [rejected] = events(app, "callback_rejected")
    assert rejected == {**rejected, "reason": "state issued to another browser", "state": state}


async def test_callback_with_an_error_shows_the_code_redirect_failed(
    app: Quart, nox: Client
) -> None:
    state = await issued_state(nox)
    query = {"error": "access_denied", "error_description": "no", "state": state, "iss": IDP_URL}
    response = await nox.get("/callback", query_string=query)
    assert response.status_code == 303
    result = await nox.get(response.headers["Location"])
    page = await result.get_data(as_text=True)
    assert result.status_code == 400
    assert "Supplier authentication failed" in page
    assert '<p id="code-redirect">failed: access_denied: no</p>' in page
    again = await nox.get("/callback", query_string=query)
    assert again.status_code == 400  # a state is used once
    assert [e["reason"] for e in events(app, "callback_rejected")] == ["state already used"]


# ---- the selector: a second supplier -----------------------------------------------------------
async def test_selector_lists_a_second_supplier_not_configured_here(
    app: Quart, nox: Client
) -> None:
    page = await (await nox.get("/enable")).get_data(as_text=True)
    assert 'name="supplier" value="local-supplier" required' in page
    assert 'name="supplier" value="groene-stroom" required' in page
    assert "Groene Stroom BV (not configured in this sandbox)" in page
    assert "checked" not in page  # the customer picks; nothing is chosen for them

    response = await select(nox, supplier="groene-stroom")
    assert response.status_code == 400
    assert "not configured in this sandbox" in await response.get_data(as_text=True)
    [event] = events(app, "supplier_not_configured")
    assert event["supplier"] == "groene-stroom"
    assert sandbox(app).transactions.by_state == {}


@pytest.mark.parametrize("supplier", ["", "someone-else"])
async def test_selecting_no_known_supplier_is_refused(
    app: Quart, nox: Client, supplier: str
) -> None:
    response = await select(nox, supplier=supplier)
    assert response.status_code == 400
    assert sandbox(app).transactions.by_state == {}


# ---- the manufacturer-app start ----------------------------------------------------------------
async def test_maker_app_starts_the_flow_and_gets_the_customer_back(
    app: Quart, nox: Client
) -> None:
    maker = await nox.get("/maker/daikin")
    assert maker.status_code == 200
    assert 'href="/enable?maker=daikin"' in await maker.get_data(as_text=True)
    selector = await (await nox.get("/enable?maker=daikin")).get_data(as_text=True)
    assert '<input type="hidden" name="maker" value="daikin">' in selector
    assert "Started from the Daikin app" in selector

    state = await issued_state(nox, maker="daikin")
    txn = sandbox(app).transactions.by_state[state]
    assert txn.maker == "daikin"
    code_redirect_verified(app, state)
    waiting = await nox.get(f"/result/{txn.result_id}")
    assert waiting.status_code == 200  # NOX waits for the hand-off before returning to the maker
    assert "Waiting for the hand-off" in await waiting.get_data(as_text=True)

    await hand_off(nox, {"supplier_user_id": "cust-0001", "state": state})
    back = await nox.get(f"/result/{txn.result_id}")
    assert back.status_code == 303
    assert back.headers["Location"] == f"/maker/daikin/return?result={txn.result_id}"
    returned = await nox.get(back.headers["Location"])
    page = await returned.get_data(as_text=True)
    assert returned.status_code == 200
    assert "stands in for the Daikin app" in page
    assert '<h1 class="nox-ok" id="outcome">Supplier authentication succeeded</h1>' in page
    [linked] = events(app, "supplier_linked")
    assert linked["maker"] == "daikin"

    wrong_maker = await nox.get(f"/maker/nibe/return?result={txn.result_id}")
    assert wrong_maker.status_code == 404


async def test_maker_app_is_told_when_it_failed(
    app: Quart, nox: Client, clock: FrozenClock
) -> None:
    state = await issued_state(nox, maker="nibe")
    code_redirect_verified(app, state)
    result_id = sandbox(app).transactions.by_state[state].result_id
    early = await nox.get(f"/maker/nibe/return?result={result_id}")
    assert early.status_code == 303  # not final yet: back to NOX's waiting page
    assert early.headers["Location"] == f"/result/{result_id}"
    clock.advance(901)
    back = await nox.get(f"/result/{result_id}")
    returned = await nox.get(back.headers["Location"])
    page = await returned.get_data(as_text=True)
    assert returned.status_code == 400
    assert "Supplier authentication failed" in page
    assert "Supplier authentication succeeded" not in page


@pytest.mark.parametrize("path", ["/maker/acme", "/enable?maker=acme"])
async def test_unknown_maker_is_refused(nox: Client, path: str) -> None:
    assert (await nox.get(path)).status_code in (400, 404)
    assert (await select(nox, maker="acme")).status_code == 400


# ---- restarts ----------------------------------------------------------------------------------
async def test_transactions_outlive_a_restart_when_kept_in_a_file(
    clock: FrozenClock, tmp_path: Path
) -> None:
    state_file = tmp_path / "sandbox-transactions.json"
    first = make_app(clock, state_file=state_file)
    async with first.test_app():
        state = await issued_state(first.test_client())
    assert state_file.stat().st_mode & 0o077 == 0
    second = make_app(clock, state_file=state_file)
    async with second.test_app():
        body = {"supplier_user_id": "cust-0001", "state": state}
        assert (await hand_off(second.test_client(), body)).status_code == 200
    third = make_app(clock)  # no file: a restarted sandbox knows nothing
    async with third.test_app():
        body = {"supplier_user_id": "cust-0001", "state": state}
        assert (await hand_off(third.test_client(), body)).status_code == 400


async def test_events_record_every_step(app: Quart, nox: Client) -> None:
    state = await issued_state(nox)
    await hand_off(nox, {"supplier_user_id": "cust-0001", "state": "nope"})
    await hand_off(nox, {"supplier_user_id": "cust-0001", "state": state})
    listed = await (await nox.get("/_sandbox/events")).get_json()
    assert [e["type"] for e in listed] == [
        "supplier_selected",
        "post_login_redirect_rejected",
        "post_login_redirect",
    ]
    assert listed[0]["state"] == state and listed[0]["supplier"] == SUPPLIER
