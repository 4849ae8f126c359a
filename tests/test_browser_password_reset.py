""" "Forgot your password?" in a real browser, through the sandbox's mail catcher: ask for the
link, read the mail at the sandbox's /mail, choose a new password, sign in with it. Then the
same link from four browsers at once against the real server: one new password, not four.
Screenshots in test-artifacts/password-reset/."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from tests.e2e import EMAIL, PASSWORD, Customer, Stack, eventually, form_fields
from tests.test_browser_flow1 import browser  # noqa: F401 - the shared Chromium fixture

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "password-reset"
NEW_PASSWORD = "a new and rather long passphrase"


async def one_mail(stack: Stack) -> dict[str, Any]:
    mails = await eventually(stack.mail)
    assert len(mails) == 1, mails
    return dict(mails[0])


async def test_forgotten_password_through_the_mail_catcher(
    browser: Browser,  # noqa: F811
    stack: Stack,
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = await browser.new_page(locale="en-GB")

    async def shot(name: str) -> None:
        await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    await page.goto(stack.idp.url + "/account/login?language=en")
    await page.get_by_role("link", name="Forgot your password?").click()
    await page.fill("#email", EMAIL)
    await shot("1-forgot")
    await page.get_by_role("button", name="Send the link").click()
    await shot("2-sent")
    assert await page.inner_text("h1") == "Check your email"

    mail = await one_mail(stack)
    assert mail["to"] == [EMAIL] and mail["subject"].startswith("Choose a new password")
    await page.goto(stack.sandbox.url + "/mail")
    await shot("3-mail-catcher")
    await page.get_by_role("link", name=re.compile(r"password.reset.token=")).click()
    await page.wait_for_url(stack.idp.url + "/password/reset?language=en")
    await page.fill("#password", NEW_PASSWORD)
    await page.fill("#confirm", NEW_PASSWORD)
    await shot("4-new-password")
    await page.get_by_role("button", name="Save the new password").click()
    await shot("5-changed")
    assert await page.inner_text("h1") == "Your password has been changed"

    await page.get_by_role("link", name="Sign in").click()
    await page.fill("#email", EMAIL)
    await page.fill("#password", NEW_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(stack.idp.url + "/account")


async def test_one_link_used_from_four_browsers_at_once(stack: Stack) -> None:
    asker = Customer()
    forgot = await asker.go(stack.idp.url + "/password/forgot?language=en")
    assert (await asker.submit(forgot, {"email": EMAIL})).status_code == 200
    link = re.search(r"http://\S+/password/reset\?token=\S+", (await one_mail(stack))["text"])
    assert link
    tabs = [Customer() for _ in range(4)]
    forms = [await tab.follow(await tab.go(link.group(0))) for tab in tabs]
    answers = await asyncio.gather(
        *(
            tab.submit(form, {"password": f"{NEW_PASSWORD} {i}", "confirm": f"{NEW_PASSWORD} {i}"})
            for i, (tab, form) in enumerate(zip(tabs, forms, strict=True))
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400]
    winner = next(i for i, a in enumerate(answers) if a.status_code == 200)
    for password, expected in ((PASSWORD, 401), (f"{NEW_PASSWORD} {winner}", 302)):
        customer = Customer()
        login = await customer.go(stack.idp.url + "/account/login")
        answer = await customer.http.post(
            stack.idp.url + "/account/login",
            data={**form_fields(login.text), "email": EMAIL, "password": password},
        )
        assert answer.status_code == expected
        await customer.close()
    for customer in (asker, *tabs):
        await customer.close()
