"""The admin console speaks nl (default), en, fr and es: the admin's own preference (saved on
/admin/preferences, CSRF-protected and audited), else the sign-in page's switcher, else the
browser's Accept-Language, else Dutch; `<html lang>` follows. (Every console string being
marked and translated: tests/test_i18n.py.)"""

from __future__ import annotations

import html

import pyotp
import pytest
from quart.testing import QuartClient

from idp.i18n import in_language
from idp.mail import Mailer
from tests.conftest import csrf_of, location
from tests.test_admin import ADMIN_PASSWORD, Admin, make_admin

# The nav's first links and the sign-in page's heading, as each language says them.
NAV = {
    "nl": ("Overzicht", "Klanten", "Voorwaarden", "Uw voorkeuren"),
    "en": ("Overview", "Customers", "Terms", "Your preferences"),
    "fr": ("Vue d'ensemble", "Clients finaux", "Conditions", "Vos préférences"),
    "es": ("Resumen", "Clientes finales", "Condiciones", "Sus preferencias"),
}
SIGN_IN_HEADING = {
    "nl": "Inloggen als beheerder",
    "en": "Admin sign-in",
    "fr": "Connexion administrateur",
    "es": "Inicio de sesión de administrador",
}


def said(body: str) -> str:
    return html.unescape(body)


async def text(client: QuartClient, path: str, language: str | None = None) -> str:
    headers = {"Accept-Language": language} if language else None
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.status_code
    return said(await response.get_data(as_text=True))


async def signed_in(app, clock, language: str) -> tuple[QuartClient, Admin]:  # type: ignore[no-untyped-def]
    """An owner signed in from a browser whose Accept-Language is `language`."""
    admin = await make_admin(app, "owner")
    client = app.test_client()
    headers = {"Accept-Language": language}
    csrf = csrf_of(await (await client.get("/admin/login", headers=headers)).get_data(as_text=True))
    form = {
        "csrf_token": csrf,
        "email": admin.email,
        "password": ADMIN_PASSWORD,
        "code": pyotp.TOTP(admin.secret).at(clock.now()),
    }
    assert location(await client.post("/admin/login", form=form, headers=headers)) == "/admin"
    return client, admin


@pytest.mark.parametrize("language", ["nl", "en", "fr", "es"])
async def test_the_console_follows_accept_language(app, seeded, clock, language: str) -> None:
    client, _ = await signed_in(app, clock, language)
    page = await text(client, "/admin", f"{language}-XX;q=0.9, de;q=0.5")
    assert f'<html lang="{language}">' in page
    for label in NAV[language]:
        assert f">{label}</a>" in page, label
    if language != "en":
        assert ">Overview</a>" not in page and ">Your preferences</a>" not in page


async def test_dutch_when_the_browser_asks_for_none_of_the_four(client, seeded) -> None:
    page = await text(client, "/admin/login", "de-DE, it;q=0.8")
    assert '<html lang="nl">' in page
    assert f"<h1>{SIGN_IN_HEADING['nl']}</h1>" in page


@pytest.mark.parametrize("language", ["fr", "es"])
async def test_the_sign_in_page_in_the_browsers_language(client, seeded, language: str) -> None:
    page = await text(client, "/admin/login", language)
    assert f'<html lang="{language}">' in page
    assert f"<h1>{SIGN_IN_HEADING[language]}</h1>" in page


async def test_the_sign_in_switcher_is_kept_in_this_browser(client, seeded) -> None:
    """?language= on the sign-in page wins over Accept-Language, and stays for the next
    pages (the refused sign-in included) without the parameter."""
    page = await text(client, "/admin/login?language=es", "fr")
    assert '<html lang="es">' in page and SIGN_IN_HEADING["es"] in page
    assert 'href="/admin/login?language=fr" lang="fr" hreflang="fr">Français</a>' in page
    assert '<span aria-current="true" lang="es">Español</span>' in page
    again = await text(client, "/admin/login", "fr")
    assert '<html lang="es">' in again
    refused = await client.post(
        "/admin/login",
        form={"csrf_token": csrf_of(again), "email": "x@y.example", "password": "p", "code": "1"},
        headers={"Accept-Language": "fr"},
    )
    assert refused.status_code == 401
    body = said(await refused.get_data(as_text=True))
    assert "El correo electrónico, la contraseña o el código no es correcto." in body


async def test_an_unknown_language_in_the_switcher_changes_nothing(client, seeded) -> None:
    page = await text(client, "/admin/login?language=xx", "fr")
    assert '<html lang="fr">' in page


async def test_the_preference_is_saved_audited_and_wins(app, seeded, clock, store) -> None:
    client, admin = await signed_in(app, clock, "fr")
    form = await text(client, "/admin/preferences", "fr")
    assert '<select id="language" name="language">' in form
    assert '<option value="" selected>Celle de votre navigateur</option>' in form
    saved = await client.post(
        "/admin/preferences",
        form={"csrf_token": csrf_of(form), "timezone": "", "language": "es"},
        headers={"Accept-Language": "fr"},
    )
    assert location(saved) == "/admin/preferences"
    assert (await store.admins.by_email(admin.email)).language == "es"
    [event] = await store.events.recent("admin.admin.language_changed")
    assert event["actor"] == f"admin:{admin.email}"
    assert event["detail"] == {"email": admin.email, "language": "es", "was": None}
    assert await store.events.recent("admin.admin.timezone_changed") == []  # unchanged

    page = await text(client, "/admin/preferences", "fr")  # the browser still asks for French
    assert '<html lang="es">' in page and ">Sus preferencias</a>" in page
    assert '<option value="es" lang="es" selected>Español</option>' in page
    audit = await text(client, "/admin/audit", "fr")
    assert f"{admin.email} lee ahora la consola en es" in audit

    back = await client.post(
        "/admin/preferences",
        form={"csrf_token": csrf_of(page), "timezone": "", "language": ""},
        headers={"Accept-Language": "fr"},
    )
    assert location(back) == "/admin/preferences"
    assert (await store.admins.by_email(admin.email)).language is None
    assert '<html lang="fr">' in await text(client, "/admin", "fr")


@pytest.mark.parametrize("language", ["de", "english", "xx-YY"])
async def test_an_unknown_language_is_refused(app, seeded, clock, store, language: str) -> None:
    client, admin = await signed_in(app, clock, "fr")
    form = await text(client, "/admin/preferences", "fr")
    refused = await client.post(
        "/admin/preferences",
        form={"csrf_token": csrf_of(form), "timezone": "Asia/Tokyo", "language": language},
        headers={"Accept-Language": "fr"},
    )
    assert refused.status_code == 400
    assert "Choisissez une langue dans la liste." in said(await refused.get_data(as_text=True))
    found = await store.admins.by_email(admin.email)
    assert found.language is None and found.timezone is None  # neither saved: no partial write
    assert await store.events.recent("admin.admin.language_changed") == []
    assert await store.events.recent("admin.admin.timezone_changed") == []


async def test_the_preference_needs_the_csrf_token(app, seeded, clock, store) -> None:
    client, admin = await signed_in(app, clock, "en")
    refused = await client.post("/admin/preferences", form={"timezone": "", "language": "es"})
    assert refused.status_code == 403
    assert (await store.admins.by_email(admin.email)).language is None
    assert await store.events.recent("admin.admin.language_changed") == []


async def test_a_refused_action_says_why_in_the_admins_language(app, seeded, clock) -> None:
    client, _ = await signed_in(app, clock, "nl")
    page = await text(client, "/admin/clients/nox", "nl")
    refused = await client.post(
        "/admin/clients/nox/redirect-uris",
        form={"csrf_token": csrf_of(page), "uri": "https://nox.example/oauth/callback"},
        headers={"Accept-Language": "nl"},
    )
    assert refused.status_code == 400
    assert "Deze redirect-URI is al geregistreerd." in said(await refused.get_data(as_text=True))


async def test_plural_and_placeholder_strings_are_filled(app, seeded, clock) -> None:
    client, _ = await signed_in(app, clock, "es")
    page = await text(client, "/admin", "es")
    assert "Listo, con 1 aviso" in page  # the test settings leave IDP_NOX_API_BASE empty
    assert "<strong>1</strong> clientes OAuth" in page
    assert "en las últimas 24 horas" in page


def test_the_enrolment_mail_in_the_language_asked(settings) -> None:  # type: ignore[no-untyped-def]
    mailer = Mailer(settings)
    with in_language("fr"):
        mail = mailer.render(
            "new@supplier.example",
            "admin_enrolment",
            invitation=True,
            role="operator",
            link="https://idp.example/admin/enrol?token=t",
            expires="2027-01-15 10:00 UTC",
        )
    assert mail.subject.startswith("Vous êtes invité à la console d'administration de ")
    assert '<html lang="fr">' in mail.html
    assert "Le lien fonctionne une fois, jusqu'au 2027-01-15 10:00 UTC." in mail.text
