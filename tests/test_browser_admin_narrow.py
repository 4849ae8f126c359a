"""The console on a phone (390 px wide): its wide tables scroll sideways in their own box, the
page itself does not. Screenshots in test-artifacts/admin/."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from tests.e2e import Stack
from tests.test_browser_admin import ARTIFACTS, sign_in_owner, stack  # noqa: F401
from tests.test_browser_flow1 import browser  # noqa: F401 - the shared Chromium fixture

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

OVERFLOW = """() => ({
    page: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    boxes: [...document.querySelectorAll('.table-scroll')].map(b => ({
        scroll: b.scrollWidth, client: b.clientWidth, overflow: getComputedStyle(b).overflowX,
    })),
})"""


async def test_console_tables_scroll_inside_the_page_at_390_px(
    browser: Browser,  # noqa: F811
    stack: tuple[Stack, str],  # noqa: F811
) -> None:
    stack_, secret = stack
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = await browser.new_page(viewport={"width": 390, "height": 844})
    await sign_in_owner(page, stack_, secret)

    await page.goto(stack_.idp.url + "/admin/audit")
    measured = await page.evaluate(OVERFLOW)
    await page.screenshot(path=str(ARTIFACTS / "narrow-audit.png"), full_page=True)
    assert measured["page"] <= measured["viewport"], measured
    [box] = measured["boxes"]
    assert box["overflow"] == "auto"
    assert box["scroll"] > box["client"], measured  # the table is wider: it scrolls in its box
    await page.focus(".table-scroll")  # reachable by keyboard, to scroll with the arrow keys
    await page.keyboard.press("ArrowRight")
    # Polled from here: wait_for_function's predicate is eval'd, which the console's CSP forbids.
    scrolled = "() => document.querySelector('.table-scroll').scrollLeft"
    for _ in range(50):
        if await page.evaluate(scrolled) > 0:
            break
        await page.wait_for_timeout(100)
    assert await page.evaluate(scrolled) > 0

    await page.goto(stack_.idp.url + "/admin")  # the overview's charts fit too
    measured = await page.evaluate(OVERFLOW)
    await page.screenshot(path=str(ARTIFACTS / "narrow-overview.png"), full_page=True)
    assert measured["page"] <= measured["viewport"], measured
