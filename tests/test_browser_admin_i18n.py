"""The admin console in another language, in a real browser: an English browser switches the
sign-in page to French, signs in with TOTP and reads the console in French; the owner chooses
Spanish on "Vos préférences" and the console speaks Spanish from then on. Screenshots in
test-artifacts/admin/."""

from __future__ import annotations

import pyotp
import pytest
from playwright.async_api import Browser

from tests.e2e import Stack
from tests.test_browser_admin import ARTIFACTS, OWNER, OWNER_PASSWORD, stack  # noqa: F401
from tests.test_browser_flow1 import browser  # noqa: F401 - the shared Chromium fixture

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


async def test_the_console_in_french_then_spanish(
    browser: Browser,  # noqa: F811 - the fixture imported above
    stack: tuple[Stack, str],  # noqa: F811
) -> None:
    stack_, secret = stack
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(locale="en-US")  # Accept-Language: en-US
    page = await context.new_page()

    await page.goto(stack_.idp.url + "/admin")
    await page.wait_for_url("**/admin/login")
    assert await page.inner_text("h1") == "Admin sign-in"
    await page.get_by_role("link", name="Français").click()
    await page.wait_for_url("**/admin/login?language=fr")
    assert await page.get_attribute("html", "lang") == "fr"
    assert await page.inner_text("h1") == "Connexion administrateur"

    await page.fill("#email", OWNER)
    await page.fill("#password", OWNER_PASSWORD)
    await page.fill("#code", pyotp.TOTP(secret).now())
    await page.screenshot(path=str(ARTIFACTS / "i18n-1-sign-in-fr.png"), full_page=True)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(stack_.idp.url + "/admin")
    assert await page.get_attribute("html", "lang") == "fr"
    assert await page.inner_text("h1") == "Vue d'ensemble"
    await page.get_by_role("link", name="Clients finaux", exact=True).wait_for()
    await page.screenshot(path=str(ARTIFACTS / "i18n-2-overview-fr.png"), full_page=True)

    await page.get_by_role("link", name="Vos préférences").click()
    await page.wait_for_url("**/admin/preferences")
    await page.select_option("#language", "es")
    await page.get_by_role("button", name="Enregistrer").click()
    await page.wait_for_url("**/admin/preferences")
    assert await page.get_attribute("html", "lang") == "es"
    assert await page.inner_text("h1") == "Sus preferencias"
    assert await page.input_value("#language") == "es"
    await page.screenshot(path=str(ARTIFACTS / "i18n-3-preferences-es.png"), full_page=True)

    await page.get_by_role("link", name="Resumen", exact=True).click()
    await page.wait_for_url(stack_.idp.url + "/admin")
    assert await page.inner_text("h1") == "Resumen"
    assert "en las últimas 24 horas" in await page.inner_text("main")
    await page.screenshot(path=str(ARTIFACTS / "i18n-4-overview-es.png"), full_page=True)
    await context.close()
