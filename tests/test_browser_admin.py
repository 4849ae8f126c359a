"""The admin console in a real browser: an owner signs in with TOTP, adds a redirect URI to the
`nox` client, and a new authorization request with that URI is accepted at once, while an
unregistered one still gets the error page; and the admin lifecycle, from the invitation to the
removal. Screenshots in test-artifacts/admin/."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pyotp
import pytest
from playwright.async_api import Browser, Page

from idp.admin.actions import Actor, AdminActions
from idp.config import Settings
from idp.security.clock import SystemClock
from idp.store import Store
from tests.e2e import Stack
from tests.test_browser_flow1 import browser  # noqa: F401 - the shared Chromium fixture

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "admin"
OWNER = "owner@supplier.example"
OWNER_PASSWORD = "owner password 0123"
NEW_URI = "http://127.0.0.1:9/added-callback"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Stack, str]]:
    stack = Stack(tmp_path)
    await stack.seed()
    store = Store.connect(stack.database_url)
    try:
        settings = Settings(database_url=stack.database_url, var_dir=str(tmp_path))
        await AdminActions(store, SystemClock(), settings).add_admin(
            Actor("test"), OWNER, "owner", OWNER_PASSWORD, "Test"
        )
        secret = (await store.admins.by_email(OWNER)).totp_secret
    finally:
        await store.close()
    try:
        stack.idp.start()
        stack.sandbox.start()  # its mail catcher receives the invitation
        yield stack, secret
    finally:
        stack.stop()
        print(stack.logs())


async def sign_in_owner(page: Page, stack: Stack, secret: str) -> None:
    """The owner signs in to the console on `page` (whose browser asks for English)."""
    await page.goto(stack.idp.url + "/admin/login")
    await page.fill("#email", OWNER)
    await page.fill("#password", OWNER_PASSWORD)
    await page.fill("#code", pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(stack.idp.url + "/admin")


def authorize_url(stack: Stack, redirect_uri: str) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = {
        "response_type": "code",
        "client_id": "nox",
        "redirect_uri": redirect_uri,
        "scope": "openid",
        "state": "s",
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
        "language": "en",
    }
    return f"{stack.idp.url}/authorize?{urlencode(query)}"


async def test_owner_adds_a_redirect_uri(browser: Browser, stack: tuple[Stack, str]) -> None:  # noqa: F811
    stack_, secret = stack
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = await browser.new_page()

    await page.goto(authorize_url(stack_, NEW_URI))
    assert "not valid" in await page.inner_text("main")  # not registered yet

    await page.goto(stack_.idp.url + "/admin")
    await page.wait_for_url("**/admin/login")
    await page.fill("#email", OWNER)
    await page.fill("#password", OWNER_PASSWORD)
    await page.fill("#code", pyotp.TOTP(secret).now())
    await page.screenshot(path=str(ARTIFACTS / "1-sign-in.png"), full_page=True)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(stack_.idp.url + "/admin")

    await page.get_by_role("link", name="Clients", exact=True).click()
    await page.get_by_role("link", name="nox", exact=True).click()
    await page.fill("#new-redirect-uris", NEW_URI)
    await page.get_by_role("button", name="Add a redirect URI").click()
    await page.wait_for_url(stack_.idp.url + "/admin/clients/nox")
    assert NEW_URI in await page.inner_text("main")
    await page.screenshot(path=str(ARTIFACTS / "2-client.png"), full_page=True)

    await page.goto(authorize_url(stack_, NEW_URI))
    await page.wait_for_url(f"{stack_.idp.url}/interaction/*/login")
    await page.screenshot(path=str(ARTIFACTS / "3-accepted.png"), full_page=True)

    response = await page.goto(authorize_url(stack_, NEW_URI + "/other"))
    assert response is not None and response.status == 400
    assert "not valid" in await page.inner_text("main")


async def test_owner_invites_an_admin_who_enrols_from_the_qr_page_then_changes_and_removes_them(
    browser: Browser,  # noqa: F811 - the fixture imported above
    stack: tuple[Stack, str],
) -> None:
    """The admin lifecycle: an owner invites by email and role and sees the link once; the new
    admin opens it in a browser of their own, chooses their password, enrols their
    authenticator from the QR page (drawn and shown under the page's CSP) with a current code
    and is signed in; an owner changes their role, then removes them, and their open console
    page is signed out."""
    import re
    from urllib.parse import parse_qs, unquote, urlsplit

    stack_, secret = stack
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    owner = await browser.new_context()
    page = await owner.new_page()
    await sign_in_owner(page, stack_, secret)

    await page.goto(stack_.idp.url + "/admin/admins")
    await page.fill("input[name=email]", "operator@supplier.example")
    await page.select_option(
        "form[action='/admin/admins/invitations'] select[name=role]", "operator"
    )
    await page.get_by_role("button", name="Invite").click()
    await page.wait_for_url(stack_.idp.url + "/admin/admins/invitations")
    link = await page.inner_text("#enrolment-link")
    assert link.startswith(stack_.idp.url + "/admin/enrol?token=")
    assert "also mailed to operator@supplier.example" in await page.inner_text("main")
    [mail] = [m for m in await stack_.mail() if m["to"] == ["operator@supplier.example"]]
    assert link in mail["text"]
    await page.screenshot(path=str(ARTIFACTS / "4-admin-invited.png"), full_page=True)
    await page.goto(stack_.idp.url + "/admin/admins")
    waiting = page.get_by_role("row", name=re.compile("operator@supplier.example"))
    assert "invitation" in await waiting.inner_text()
    await page.screenshot(path=str(ARTIFACTS / "5-invitation-pending.png"), full_page=True)

    theirs = await (await browser.new_context()).new_page()
    await theirs.goto(link)
    await theirs.wait_for_url(stack_.idp.url + "/admin/enrol")  # the token left the address
    await theirs.fill("#password", "operator password 0123")
    await theirs.fill("#confirm", "operator password 0123")
    await theirs.screenshot(path=str(ARTIFACTS / "6-choose-password.png"), full_page=True)
    await theirs.get_by_role("button", name="Choose this password").click()
    await theirs.wait_for_url(stack_.idp.url + "/admin/enrol")
    qr = theirs.get_by_role("img", name="QR code of the authenticator enrolment URI")
    assert await qr.evaluate("img => img.complete && img.naturalWidth > 100")  # drawn, allowed
    uri = await theirs.inner_text("code.secret")
    assert unquote(urlsplit(uri).path).endswith("operator@supplier.example")
    new_secret = parse_qs(urlsplit(uri).query)["secret"][0]
    await theirs.fill("#code", pyotp.TOTP(new_secret).now())
    await theirs.screenshot(path=str(ARTIFACTS / "7-enrol-qr.png"), full_page=True)
    await theirs.get_by_role("button", name="Confirm and sign in").click()
    await theirs.wait_for_url(stack_.idp.url + "/admin")
    assert "operator@supplier.example (operator)" in await theirs.inner_text("header")
    again = await (await browser.new_context()).new_page()
    await again.goto(link)  # used: the link works once
    assert "expired or was already used" in await again.inner_text("main")

    await page.goto(stack_.idp.url + "/admin/admins")
    await page.get_by_label("Role for operator@supplier.example").select_option("viewer")
    await (
        page.get_by_role("row", name=re.compile("operator@supplier.example"))
        .get_by_role("button", name="Change role")
        .click()
    )
    await page.wait_for_url(stack_.idp.url + "/admin/admins")
    row = page.get_by_role("row", name=re.compile("operator@supplier.example"))
    assert "viewer" in await row.inner_text()
    await theirs.reload()
    assert "operator@supplier.example (viewer)" in await theirs.inner_text("header")
    await row.get_by_role("checkbox", name=re.compile("Remove")).check()
    await row.get_by_role("button", name="Remove").click()
    await page.wait_for_url(stack_.idp.url + "/admin/admins")
    assert "operator@supplier.example" not in await page.inner_text("main")
    await page.screenshot(path=str(ARTIFACTS / "8-admin-removed.png"), full_page=True)

    await theirs.reload()
    await theirs.wait_for_url(stack_.idp.url + "/admin/login")
