"""Every page a customer can meet, checked by axe-core (WCAG 2.0/2.1 A and AA, and axe's best
practices) in Chromium: in Dutch, English, French and Spanish, at 1280 and 390 pixels wide. And
the keyboard focus indicator: at least 3:1 against what surrounds it (WCAG 2.2 SC 1.4.11 and
2.4.13's contrast), checked by tabbing through each page."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, Page
from sqlalchemy import update

from idp.security import passwords
from idp.security.clock import FrozenClock as FixedClock
from idp.store import Store
from idp.store.tables import auth_sessions, terms_versions
from tests.conftest import pkce_pair
from tests.e2e import EMAIL, PASSWORD, Customer, Stack, eventually
from tests.test_browser_flow1 import browser  # noqa: F401 - the shared Chromium fixture
from tests.test_links import open_session

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
LANGUAGES = ("nl", "en", "fr", "es")
WIDTHS = (1280, 390)
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
MIN_FOCUS_CONTRAST = 3.0
TABS_PER_PAGE = 12

# tests/axe/focus_contrast.js: the focused element's outline against its background (WCAG).
FOCUS_CONTRAST = (Path(__file__).resolve().parent / "axe" / "focus_contrast.js").read_text()


class Audit:
    """Runs axe (both widths) and the focus check on pages; collects what fails."""

    def __init__(self, page: Page, language: str) -> None:
        self.page = page
        self.language = language
        self.failures: list[str] = []
        self.checked: list[str] = []

    async def check(self, name: str) -> None:
        page = self.page
        await page.wait_for_load_state("load")
        self.checked.append(name)
        for width in WIDTHS:
            await page.set_viewport_size({"width": width, "height": 900})
            if not await page.evaluate("() => typeof axe !== 'undefined'"):
                await page.add_script_tag(path=str(AXE))
            result = await page.evaluate(
                "async (rules) => await axe.run(document, {runOnly: rules})", RULES
            )
            for v in result["violations"]:
                targets = [n["target"] for n in v["nodes"]][:3]
                self.failures.append(f"{name} [{self.language}, {width}px]: {v['id']} {targets}")
        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.evaluate("() => document.activeElement && document.activeElement.blur()")
        for _ in range(TABS_PER_PAGE):
            await page.keyboard.press("Tab")
            found = await page.evaluate(FOCUS_CONTRAST)
            if found and found["ratio"] < MIN_FOCUS_CONTRAST:
                ratio, where = found["ratio"], found["el"]
                self.failures.append(f"{name} [{self.language}]: focus {ratio:.2f} on {where}")


async def start_at_nox(page: Page, stack: Stack, language: str) -> None:
    await page.goto(f"{stack.sandbox.url}/enable")
    await page.check("input[name=supplier][value=local-supplier]")
    await page.select_option("#language", language)
    await page.click("button[type=submit]")


def form_post_authorize_url(stack: Stack, language: str) -> str:
    _, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "response_mode": "form_post",
        "client_id": "nox",
        "redirect_uri": stack.sandbox.url + "/callback",
        "scope": "openid",
        "state": "a11y",
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "ui_locales": language,
    }
    return f"{stack.idp.url}/authorize?{urlencode(query)}"


async def in_database(stack: Stack, statement: Any) -> None:
    store = Store.connect(stack.database_url)
    try:
        async with store.engine.begin() as conn:
            await conn.execute(statement)
    finally:
        await store.close()


async def device_with_news(stack: Stack) -> None:
    store = Store.connect(stack.database_url)
    try:
        now = int(time.time())
        session = await open_session(store, FixedClock(now))
        linked = dict(nox_user_id="n1", brand="daikin", connected_at=1, now=now)
        assert await store.links.complete(session, device_ids=["pump-a11y"], **linked)
        steering = {"steerable_status": "being_steered", "steerable": True}
        await store.device_status.receive("w1", now, "pump-a11y", "steerable", steering, now)
        reauth = {"needs_reauthentication": True}
        await store.device_status.receive("w2", now, "pump-a11y", "reauthentication", reauth, now)
    finally:
        await store.close()


async def expire_sessions(stack: Stack) -> None:
    await in_database(stack, update(auth_sessions).values(expires_at=int(time.time()) - 1))


async def unpublish_terms(stack: Stack) -> None:
    await in_database(stack, update(terms_versions).values(published_at=None))


async def new_password_set(page: Page, audit: Audit, stack: Stack, language: str) -> None:
    """A customer of this language's own (one reset mail a minute each) sets a new password."""
    email = f"reset-{language}@example.com"
    store = Store.connect(stack.database_url)
    try:
        await store.users.add(
            email=email,
            supplier_user_id=f"reset-{language}",
            name=None,
            password_hash=passwords.hash_password(PASSWORD),
            now=0,
        )
    finally:
        await store.close()
    await page.goto(f"{stack.idp.url}/password/forgot?language={language}")
    await page.fill("#email", email)
    await page.click("button[type=submit]")

    async def mailed() -> list[Any]:
        return [m for m in await stack.mail() if m["to"] == [email]]

    [mail] = await eventually(mailed)
    found = re.search(r"http://\S+/password/reset\?token=\S+", mail["text"])
    assert found, mail["text"]
    await page.goto(found.group(0))
    await page.fill("#password", "a long enough new password")
    await page.fill("#confirm", "a long enough new password")
    await page.click("button[type=submit]")
    await audit.check("password changed")


async def publish_terms(stack: Stack, version: str) -> None:
    """A new terms version in every language, so each language's run meets the terms page."""
    store = Store.connect(stack.database_url)
    try:
        for language in LANGUAGES:
            await store.terms.publish(
                version=version,
                language=language,
                body_md=f"# Terms {version} ({language})\n\n- One\n- Two",
                now=int(time.time()),
            )
    finally:
        await store.close()


async def reset_link(stack: Stack) -> str:
    """A password-reset link for the customer, from the sandbox's mail catcher."""
    customer = Customer()
    forgot = await customer.go(stack.idp.url + "/password/forgot")
    await customer.submit(forgot, {"email": EMAIL})
    await customer.close()
    [mail] = await eventually(stack.mail)
    found = re.search(r"http://\S+/password/reset\?token=[\w-]+", mail["text"])
    assert found, mail["text"]
    return found.group(0)


async def audit_language(
    browser: Browser,  # noqa: F811
    stack: Stack,
    language: str,
    link: str,
) -> Audit:
    context = await browser.new_context(bypass_csp=True)  # to inject axe; our CSP forbids script
    page = await context.new_page()
    audit = Audit(page, language)
    idp, nox = stack.idp.url, stack.sandbox.url
    await publish_terms(stack, f"2027-{language}")

    await page.goto(f"{idp}/?language={language}")
    await audit.check("home")
    await page.goto(f"{idp}/account/login?language={language}")
    await audit.check("account sign-in")
    await page.goto(f"{idp}/password/forgot?language={language}")
    await audit.check("forgot password")
    await page.fill("#email", "nobody@example.com")
    await page.click("button[type=submit]")
    await audit.check("reset link sent")
    await page.goto(f"{idp}/password/reset?token=not-a-token&language={language}")
    await audit.check("reset link dead")
    await page.goto(f"{link}&language={language}")  # opening it uses nothing up
    await audit.check("new password")
    await page.fill("#password", "short")
    await page.fill("#confirm", "short")
    await page.click("button[type=submit]")
    await audit.check("new password, refused")
    await new_password_set(page, audit, stack, language)
    await page.goto(f"{idp}/authorize?client_id=nobody&ui_locales={language}")
    await audit.check("authorization error")
    await page.goto(f"{idp}/interaction/not-a-session/login?language={language}")
    await audit.check("unknown authentication session")

    # An authentication session that ran out (its 15 minutes, moved into the past here).
    await start_at_nox(page, stack, language)
    await page.wait_for_url(f"{idp}/interaction/*/login")
    await expire_sessions(stack)
    await page.reload()
    await audit.check("authentication session expired")

    # Flow 1 from NOX: sign-in and terms inside an authentication session.
    await start_at_nox(page, stack, language)
    await page.wait_for_url(f"{idp}/interaction/*/login")
    await page.click("button[type=submit]")  # empty: the error state
    await audit.check("sign-in, with an error")
    await page.fill("#email", EMAIL)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{idp}/interaction/*/terms")
    await audit.check("terms")
    await page.check("input[name=accept_terms]")
    await page.click("button[name=action][value=accept]")
    await page.wait_for_url(f"{nox}/result/*")

    await start_at_nox(page, stack, language)  # again: "Continue as"
    await page.wait_for_url(f"{idp}/interaction/*/confirm")
    await audit.check("continue as")

    # The form_post response mode: the page that carries the code to the client.
    await page.goto(form_post_authorize_url(stack, language))
    await page.wait_for_url(f"{idp}/interaction/*/confirm")
    await page.click("button[name=action][value=continue]")
    await page.wait_for_selector(f"form[action='{nox}/callback']")
    await audit.check("form_post")

    await page.goto(f"{idp}/account?language={language}")
    await audit.check("account")
    await page.click(".items a[href^='/account/terms/']")
    await audit.check("terms as accepted")
    await page.goto(f"{idp}/logout?client_id=nox&ui_locales={language}")
    await audit.check("sign out?")
    await page.click("button[name=confirm]")
    await audit.check("signed out")

    # No terms published: the customer cannot be handed over, and is told so.
    await unpublish_terms(stack)
    await start_at_nox(page, stack, language)
    await page.wait_for_url(f"{idp}/interaction/*/login")
    await page.fill("#email", EMAIL)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await audit.check("terms unavailable")
    await context.close()
    return audit


async def test_customer_pages_pass_axe_and_show_focus(browser: Browser, stack: Stack) -> None:  # noqa: F811
    assert AXE.exists(), "run `make test` (it installs tests/axe with npm ci)"
    failures: list[str] = []
    await device_with_news(stack)  # the account page then lists it, with what NOX said
    link = await reset_link(stack)
    for language in LANGUAGES:
        audit = await audit_language(browser, stack, language, link)
        assert len(audit.checked) == 20, audit.checked
        failures += audit.failures
    assert failures == []


@pytest.mark.parametrize(("outline", "passes"), [("rgba(11,122,83,.35)", False), ("#0b7a53", True)])
async def test_the_focus_check_tells_a_faint_outline_from_a_clear_one(
    browser: Browser,  # noqa: F811
    outline: str,
    passes: bool,
) -> None:
    """The focus check itself: the faint outline the pages had before fails it."""
    page = await browser.new_page()
    await page.set_content(
        f"<style>button:focus {{ outline: 3px solid {outline}; }}</style><button>Go</button>"
    )
    await page.keyboard.press("Tab")
    found = await page.evaluate(FOCUS_CONTRAST)
    assert (found["ratio"] >= MIN_FOCUS_CONTRAST) is passes, found
    await page.close()


async def test_the_audit_reports_what_it_finds(browser: Browser) -> None:  # noqa: F811
    """The audit is not vacuous: an image without text and a faint focus outline are both
    reported, at both widths."""
    context = await browser.new_context(bypass_csp=True)
    page = await context.new_page()
    await page.set_content(
        '<html lang="en"><head><title>t</title><style>a:focus { outline: 3px solid '
        "rgba(11,122,83,.35); }</style></head><body><main><h1>t</h1><img src=x>"
        '<a href="#">link</a></main></body></html>'
    )
    audit = Audit(page, "en")
    await audit.check("bad page")
    assert [f for f in audit.failures if "image-alt" in f] == [
        "bad page [en, 1280px]: image-alt [['img']]",
        "bad page [en, 390px]: image-alt [['img']]",
    ]
    assert any("focus 1.6" in f for f in audit.failures), audit.failures
    await context.close()
