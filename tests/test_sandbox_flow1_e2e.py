"""The NOX sandbox's flow 1 over real processes (`idp serve` and `idp sandbox`): a late hand-off
keeps the result waiting, a state NOX never issued is refused, the maker-app start returns the
customer to the maker, and a supplier without back-channel hand-off succeeds on the code alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from tests.e2e import SANDBOX_SUPPLIER, SUPPLIER_USER_ID, Customer, Stack, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
async def customer() -> AsyncIterator[Customer]:
    customer = Customer()
    yield customer
    await customer.close()


async def test_result_waits_for_a_late_handoff_and_only_then_succeeds(
    stack: Stack, customer: Customer
) -> None:
    await stack.control(post_login_redirect="503")  # NOX refuses every hand-off for now
    back = await customer.sign_in_and_accept(await customer.start_at_nox(stack.sandbox.url))
    result = await customer.follow(back)
    assert str(result.url).startswith(stack.sandbox.url + "/result/")
    assert result.status_code == 200
    assert '<h1 id="outcome">Waiting for the hand-off</h1>' in result.text
    assert '<meta http-equiv="refresh" content="2">' in result.text
    assert (
        f'ID token verified; its sub is <span id="id-token-sub">{SUPPLIER_USER_ID}' in result.text
    )
    assert '<p id="handoff">not received (yet)</p>' in result.text
    assert "Supplier authentication succeeded" not in result.text
    [verified] = await stack.events("code_redirect_verified")
    assert verified["handoff_received"] is False
    assert await stack.events("supplier_linked") == []

    await stack.control(post_login_redirect="ok")

    async def delivered() -> bool:
        [handoff] = await stack.outbox()
        return handoff.status == "delivered"

    assert await eventually(delivered)
    again = await customer.go(str(result.url))  # what the refresh does
    assert again.status_code == 200
    assert "Supplier authentication succeeded" in again.text
    assert "matches the ID token's sub" in again.text
    [linked] = await stack.events("supplier_linked")
    assert linked["supplier_user_id"] == SUPPLIER_USER_ID
    assert linked["handoff_received"] is True and linked["state"] == verified["state"]


async def test_handoff_for_a_state_nox_never_issued_is_refused(
    stack: Stack, customer: Customer
) -> None:
    selector = await customer.go(stack.sandbox.url + "/enable")
    to_idp = await customer.submit(selector, {"language": "en", "supplier": SANDBOX_SUPPLIER})
    authorize = urlsplit(to_idp.headers["location"])
    query = {**dict(parse_qsl(authorize.query)), "state": "a-state-nox-never-issued"}
    forged = urlunsplit(authorize._replace(query=urlencode(query)))
    login = await customer.follow(await customer.go(forged))
    back = await customer.sign_in_and_accept(login)
    assert "state=a-state-nox-never-issued" in back.headers["location"]

    [handoff] = await stack.outbox()
    assert handoff.status == "failed" and handoff.last_status == 400
    assert "unknown_state" in (handoff.last_error or "")
    [rejected] = await stack.events("post_login_redirect_rejected")
    assert rejected["error"] == "unknown_state"
    assert rejected["body"]["state"] == "a-state-nox-never-issued"
    assert await stack.events("post_login_redirect") == []

    callback = await customer.follow(back)
    assert callback.status_code == 400
    assert "Unknown state." in callback.text
    assert await stack.events("supplier_linked") == []


async def test_maker_app_start_returns_the_customer_to_the_maker(
    stack: Stack, customer: Customer
) -> None:
    login = await customer.start_at_nox(stack.sandbox.url, maker="daikin")
    assert login.url.path.endswith("/login")
    back = await customer.sign_in_and_accept(login)
    returned = await customer.follow(back)
    assert returned.status_code == 200
    assert str(returned.url).startswith(stack.sandbox.url + "/maker/daikin/return?result=")
    assert "stands in for the Daikin app" in returned.text
    assert '<h1 class="nox-ok" id="outcome">Supplier authentication succeeded</h1>' in returned.text
    assert f'<strong id="supplier-user-id">{SUPPLIER_USER_ID}</strong>' in returned.text
    [selected] = await stack.events("supplier_selected")
    assert selected["maker"] == "daikin"
    [linked] = await stack.events("supplier_linked")
    assert linked["maker"] == "daikin" and linked["handoff_received"] is True


@pytest.fixture
async def redirect_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """A supplier whose NOX client uses the code redirect alone, and a sandbox told so."""
    stack = Stack(tmp_path)
    await stack.seed(handoff_mode="redirect")
    stack.sandbox.env = {**stack.sandbox.env, "IDP_SANDBOX_HANDOFF_MODE": "redirect"}
    with stack.running():
        yield stack


async def test_redirect_mode_succeeds_on_the_code_alone(
    redirect_stack: Stack, customer: Customer
) -> None:
    stack = redirect_stack
    back = await customer.sign_in_and_accept(await customer.start_at_nox(stack.sandbox.url))
    result = await customer.follow(back)
    assert result.status_code == 200
    assert "Supplier authentication succeeded" in result.text
    assert "Not required: this supplier's hand-off mode is redirect." in result.text
    assert '<p id="handoff">not received</p>' in result.text
    assert await stack.outbox() == []
    [linked] = await stack.events("supplier_linked")
    assert linked["handoff_mode"] == "redirect" and linked["handoff_received"] is False
