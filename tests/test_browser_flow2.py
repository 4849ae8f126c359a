"""Flow 2 in a real browser: from the supplier's account page to NOX's authenticator pages (the
sandbox) and back, until the registry shows the devices. Screenshots in test-artifacts/flow2/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from tests.e2e import EMAIL, PASSWORD, SUPPLIER_USER_ID, Stack
from tests.test_browser_flow1 import browser  # noqa: F401 - the shared Chromium fixture

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "flow2"


async def link_heat_pump(
    page: Page, stack: Stack, email: str, maker_username: str, shots: str | None = None
) -> str:
    """Sign in at the supplier, connect a heat pump at NOX, come back; returns the page text."""

    async def shot(name: str) -> None:
        if shots:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / f"{shots}-{name}.png"), full_page=True)

    await page.goto(stack.idp.url + "/account?language=en")
    await page.wait_for_url("**/account/login?*")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(stack.idp.url + "/account")
    await shot("1-account")
    await page.select_option("#language-hp", "en")
    await page.get_by_role("button", name="Connect a heat pump").click()

    await page.wait_for_url(stack.sandbox.url + "/ui*")
    await page.check("input[name=brand][value=daikin]")
    await shot("2-nox-brand")
    await page.get_by_role("button", name="Continue to the maker").click()
    await page.fill("#username", maker_username)
    await page.fill("#password", "maker password")
    await page.check("input[name=accept_terms]")
    await shot("3-nox-maker-sign-in")
    await page.get_by_role("button", name="Sign in and connect").click()

    await page.wait_for_url(stack.idp.url + "/account?*")
    await shot("4-linked")
    return await page.inner_text("main")


async def test_flow2_links_a_heat_pump(browser: Browser, stack: Stack) -> None:  # noqa: F811
    page = await browser.new_page()
    text = await link_heat_pump(page, stack, EMAIL, "ada-at-daikin", shots="ada")
    devices = await stack.devices()
    [device_id] = devices
    assert devices[device_id] == SUPPLIER_USER_ID
    assert device_id in text
    assert "NOX can steer from about" in text
    [completed] = await stack.events("link_completed")
    assert completed  # NOX's side saw it too
    # NOX's side shows that we asked its data API to confirm the device before recording it.
    await page.goto(stack.sandbox.url + "/_sandbox/activity")
    await page.screenshot(path=str(ARTIFACTS / "ada-5-nox-activity.png"), full_page=True)
    activity = await page.inner_text("main")
    assert "Data API asked to confirm devices: GET /v1/devices" in activity
    assert device_id in activity


async def test_same_device_under_another_customer_moves(browser: Browser, stack: Stack) -> None:  # noqa: F811
    ada = await browser.new_context()
    bob = await browser.new_context()
    await link_heat_pump(await ada.new_page(), stack, EMAIL, "shared-maker-account")
    [device_id] = await stack.devices()
    text = await link_heat_pump(
        await bob.new_page(), stack, "bob@example.com", "shared-maker-account"
    )
    assert device_id in text
    assert await stack.devices() == {device_id: "cust-0002"}
    ada_page = await ada.new_page()
    await ada_page.goto(stack.idp.url + "/account?language=en")
    assert device_id not in await ada_page.inner_text("main")
