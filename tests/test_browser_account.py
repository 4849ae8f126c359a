"""The customer's controls on /account in a real browser: withdrawing NOX's access (every token
NOX holds for them revoked) and disconnecting a device. Screenshots in test-artifacts/account/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser
from sqlalchemy import func, select

from idp.store import Store
from idp.store.tables import tokens
from tests.e2e import EMAIL, Stack
from tests.test_browser_flow1 import browser  # noqa: F401 - the shared Chromium fixture
from tests.test_browser_flow2 import link_heat_pump

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "account"


async def live_tokens(stack: Stack) -> int:
    store = Store.connect(stack.database_url)
    try:
        async with store.grants.engine.connect() as conn:
            found = await conn.scalar(
                select(func.count()).select_from(tokens).where(tokens.c.revoked_at.is_(None))
            )
            return int(found or 0)
    finally:
        await store.close()


async def test_withdraw_nox_and_disconnect_a_device(browser: Browser, stack: Stack) -> None:  # noqa: F811
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = await browser.new_page(locale="en-GB")

    async def shot(name: str) -> None:
        await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    await link_heat_pump(page, stack, EMAIL, "ada-at-daikin")
    [device_id] = await stack.devices()

    # Flow 1 from NOX in the same browser: NOX gets tokens for this customer.
    await page.goto(stack.sandbox.url + "/")
    await page.get_by_role("link", name="Enable NOX optimisation").click()
    await page.check("input[name=supplier][value=local-supplier]")
    await page.select_option("#language", "en")
    await page.get_by_role("button", name="Continue to your supplier").click()
    await page.get_by_role("button", name="Continue as Ada Lovelace").click()
    await page.check("input[name=accept_terms]")
    await page.get_by_role("button", name="Accept and continue").click()
    await page.wait_for_url(f"{stack.sandbox.url}/result/*")
    assert await page.inner_text("#outcome") == "Supplier authentication succeeded"
    assert await live_tokens(stack) == 1

    await page.goto(stack.idp.url + "/account?language=en")
    await shot("1-account")
    main = await page.inner_text("main")
    assert "Version 2026-01 (en), accepted" in main
    await page.get_by_role("button", name="Withdraw access of NOX Energy").click()
    await page.wait_for_url(stack.idp.url + "/account")
    await shot("2-withdrawn")
    assert "Access withdrawn." in await page.inner_text("[role=status]")
    assert "No app has access to your account." in await page.inner_text("main")
    assert await live_tokens(stack) == 0

    await page.get_by_role("button", name=f"Disconnect {device_id}").click()
    await page.wait_for_url(stack.idp.url + "/account")
    await shot("3-disconnected")
    assert "NOX Energy keeps its own link" in await page.inner_text("[role=status]")
    assert "No devices are linked yet." in await page.inner_text("main")
    assert await stack.devices() == {}

    await page.get_by_role("link", name="Read the text you accepted").click()
    assert "Version 2026-01, as you accepted it." in await page.inner_text("main")
    assert "Agreed?" in await page.inner_text("main")
