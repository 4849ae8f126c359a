"""What static/idp.js adds, in a real browser: "Show password" on the sign-in page, and a link
form that is sent once however often it is submitted. Every page also works without it (the
other browser tests and all in-process tests run the pages as plain HTML forms)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, ConsoleMessage, Route

from tests.e2e import EMAIL, PASSWORD, Stack
from tests.test_browser_flow1 import browser  # noqa: F401 - the shared Chromium fixture

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


async def test_show_password_and_a_link_form_sent_once(browser: Browser, stack: Stack) -> None:  # noqa: F811
    page = await browser.new_page(locale="en-GB")
    errors: list[ConsoleMessage] = []
    page.on("console", lambda m: errors.append(m) if m.type == "error" else None)
    await page.goto(stack.idp.url + "/account/login?language=en")
    await page.fill("#email", EMAIL)
    await page.fill("#password", PASSWORD)
    toggle = page.get_by_role("button", name="Show password")
    assert await toggle.get_attribute("aria-pressed") == "false"
    await toggle.click()
    assert await page.get_attribute("#password", "type") == "text"
    hide = page.get_by_role("button", name="Hide password")
    assert await hide.get_attribute("aria-pressed") == "true"
    await hide.click()
    assert await page.get_attribute("#password", "type") == "password"
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await page.wait_for_url(stack.idp.url + "/account")

    # "Connect a heat pump" pressed, and again 200 ms later while the first request is still
    # out (held here, as if NOX were slow): the second press sends nothing.
    held: list[Route] = []
    await page.route("**/account/link", lambda route: held.append(route))
    await page.evaluate(
        """() => { const b = document.querySelector("form[action='/account/link'] button");
                   b.click(); setTimeout(() => b.click(), 200); }"""
    )
    await page.wait_for_timeout(800)
    assert len(held) == 1
    await held[-1].continue_()
    await page.wait_for_url(stack.sandbox.url + "/ui*")
    assert len(await stack.events("link_session_created")) == 1

    # Nothing the CSP refused, no script error, nothing missing on our pages (the sandbox's
    # pages have no icon).
    ours = [m.text for m in errors if m.location["url"].startswith(stack.idp.url)]
    assert ours == []
