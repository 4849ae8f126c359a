"""Flow 1 in a real browser (Debian's chromium, driven by Playwright): from the NOX sandbox's
start page to its result page, through our sign-in and terms pages. Screenshots of every page
land in test-artifacts/flow1/ (git-ignored)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.e2e import EMAIL, PASSWORD, SUPPLIER_USER_ID, Stack, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "flow1"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        await browser.close()


async def test_flow1_from_nox_to_linked(browser: Browser, stack: Stack) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = await browser.new_page(locale="en-GB")
    shots = iter(range(1, 100))

    async def shot(name: str) -> None:
        await page.screenshot(path=str(ARTIFACTS / f"{next(shots):02d}-{name}.png"), full_page=True)

    await page.goto(stack.sandbox.url + "/")
    await shot("nox-start")
    await page.get_by_role("link", name="Enable NOX optimisation").click()
    await page.check("input[name=supplier][value=local-supplier]")
    await page.select_option("#language", "en")
    await shot("nox-supplier-selector")
    await page.get_by_role("button", name="Continue to your supplier").click()

    await page.wait_for_url(f"{stack.idp.url}/interaction/*/login")
    await shot("idp-sign-in")
    await page.fill("#email", EMAIL)
    await page.fill("#password", "not the password")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector(".alert")
    await shot("idp-sign-in-error")
    await page.fill("#password", PASSWORD)
    await page.get_by_role("button", name="Sign in").click()

    await page.wait_for_url(f"{stack.idp.url}/interaction/*/terms")
    await shot("idp-terms")
    await page.get_by_role("button", name="Accept and continue").click()
    await page.wait_for_selector(".alert")  # the box was not ticked
    await page.check("input[name=accept_terms]")
    await page.get_by_role("button", name="Accept and continue").click()

    await page.wait_for_url(f"{stack.sandbox.url}/result/*")
    await shot("nox-result")
    assert await page.inner_text("#outcome") == "Supplier authentication succeeded"
    assert await page.inner_text("#supplier-user-id") == SUPPLIER_USER_ID
    assert await page.inner_text("#id-token-sub") == SUPPLIER_USER_ID
    assert await page.inner_text("#handoff-supplier-user-id") == SUPPLIER_USER_ID
    assert await page.inner_text("#handoff-match") == "matches the ID token's sub"

    [post] = [e for e in await stack.events("post_login_redirect") if e["answered"] == "ok"]
    assert post["body"]["supplier_user_id"] == SUPPLIER_USER_ID
    [linked] = await stack.events("supplier_linked")
    assert linked["handoff_received"] is True

    # A second run in the same browser: still signed in, so it asks "Continue as …" before
    # anything goes to NOX.
    await page.goto(stack.sandbox.url + "/")
    await page.get_by_role("link", name="Enable NOX optimisation").click()
    await page.check("input[name=supplier][value=local-supplier]")
    await page.select_option("#language", "en")
    await page.get_by_role("button", name="Continue to your supplier").click()
    await page.wait_for_url(f"{stack.idp.url}/interaction/*/confirm")
    await shot("idp-continue-as")
    assert await page.inner_text("h1") == "Continue as Ada Lovelace?"
    assert len(await stack.events("supplier_linked")) == 1  # nothing new reached NOX yet
    await page.get_by_role("button", name="Continue as Ada Lovelace").click()
    await page.wait_for_url(f"{stack.sandbox.url}/result/*")
    await shot("nox-result-second-run")
    assert await page.inner_text("#outcome") == "Supplier authentication succeeded"
    assert len(await stack.events("supplier_linked")) == 2
    assert len(list(ARTIFACTS.glob("*.png"))) >= 8


async def test_sign_out_from_nox(browser: Browser, stack: Stack) -> None:
    """NOX signs the customer out at the supplier (RP-Initiated Logout): the ID token as hint
    names the customer signed in, so it happens without a question, and the browser comes back
    to NOX's registered post-logout URI with NOX's state. The next run asks to sign in again."""
    page = await browser.new_page(locale="nl-NL")

    async def start_at_nox() -> None:
        await page.goto(stack.sandbox.url + "/")
        await page.get_by_role("link", name="Enable NOX optimisation").click()
        await page.check("input[name=supplier][value=local-supplier]")
        await page.select_option("#language", "nl")
        await page.get_by_role("button", name="Continue to your supplier").click()

    await start_at_nox()
    await page.wait_for_url(f"{stack.idp.url}/interaction/*/login")
    await page.fill("#email", EMAIL)
    await page.fill("#password", PASSWORD)
    await page.get_by_role("button", name="Inloggen").click()
    await page.wait_for_url(f"{stack.idp.url}/interaction/*/terms")
    await page.check("input[name=accept_terms]")
    await page.get_by_role("button", name="Accepteren en doorgaan").click()
    await page.wait_for_url(f"{stack.sandbox.url}/result/*")
    assert await page.inner_text("#outcome") == "Supplier authentication succeeded"

    await page.get_by_role("button", name="Sign out at the supplier").click()
    await page.wait_for_url(f"{stack.sandbox.url}/signed-out?state=*")
    assert await page.inner_text("#signed-out") == "Signed out at the supplier"
    assert len(await stack.events("supplier_signed_out")) == 1
    cookies = {c["name"] for c in await page.context.cookies(stack.idp.url)}
    assert "idp_sid" not in cookies
    # Back-Channel Logout: NOX, holding a token of the customer, is told with a logout token
    # that its own check accepts (signature, issuer, audience, event, no nonce).
    [told] = await eventually(lambda: stack.events("backchannel_logout_received"))
    assert told["sub"] == SUPPLIER_USER_ID
    assert await stack.events("backchannel_logout_rejected") == []

    await start_at_nox()  # signed out: no "Continue as", the sign-in page again
    await page.wait_for_url(f"{stack.idp.url}/interaction/*/login")
