"""The catalogues are whole: every string in the code and templates has a translation in nl, fr
and es, with the same placeholders, and pages come in the language NOX or OIDC asks for.

When a test here fails after adding a string: run the `make messages` steps in babel.cfg.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from idp.i18n import CATALOGUE_DIR, CATALOGUES
from idp.vocab import DEFAULT_LANGUAGE, LANGUAGES
from tests.conftest import Flow, location

ROOT = Path(__file__).resolve().parent.parent
BABEL_CFG = ROOT / "babel.cfg"
MUST_TRANSLATE = ("nl", "fr", "es")  # en falls back to the English msgid
# %(name)s-style conversions, a literal %% and a stray % (which would break Jinja's newstyle
# gettext, where the translation is always %-formatted).
PERCENT = re.compile(r"%\(\w+\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%%|%")


@dataclass(frozen=True)
class Source:
    msgid: str | tuple[str, ...]
    context: str | None
    where: str


def extracted() -> list[Source]:
    """Every message in idp/**.py and templates/**.html, found the way pybabel finds them."""
    with BABEL_CFG.open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(BABEL_CFG))
    skip = {"node_modules", "var", "test-artifacts", "__pycache__"}

    def wanted(dirpath: str) -> bool:
        name = Path(dirpath).name
        return not (name.startswith((".", "_")) or name in skip)

    found: dict[tuple[str | tuple[str, ...], str | None], Source] = {}
    results = extract_from_dir(ROOT, method_map, options_map, directory_filter=wanted)
    for filename, lineno, message, _comments, context in results:
        msgid = message if isinstance(message, str) else tuple(m for m in message if m)
        if msgid:
            found.setdefault((msgid, context), Source(msgid, context, f"{filename}:{lineno}"))
    return list(found.values())


SOURCES = extracted()


def catalogue(language: str) -> Catalog:
    with (CATALOGUE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=language)


def placeholders(text: str) -> set[str]:
    return set(PERCENT.findall(text))


def show(msgid: str | tuple[str, ...]) -> str:
    return msgid if isinstance(msgid, str) else " | ".join(msgid)


def problems(language: str) -> Iterator[str]:
    cat = catalogue(language)
    for source in SOURCES:
        entry = cat.get(source.msgid, context=source.context)
        label = f"{show(source.msgid)!r} ({source.where})"
        if entry is None:
            yield f"not in the catalogue: {label}"
            continue
        forms = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        if not all(forms):
            yield f"no translation: {label}"
        elif entry.fuzzy:
            yield f"fuzzy (review it, then drop the flag): {label}"


def test_messages_are_extracted() -> None:
    """Guards the test itself: babel.cfg still finds the strings of the code and templates."""
    where = {s.where.split(":")[0] for s in SOURCES}
    assert any(w.startswith("templates/") for w in where), where
    assert any(w.startswith("idp/") for w in where), where
    assert "Sign in" in {s.msgid for s in SOURCES}


# The console's pages and the admin's mail: every word shown goes through gettext. What may
# stay as it is: names, protocol values shown as data (option values such as "backchannel"),
# the language codes of the terms form.
CONSOLE_TEMPLATES = sorted(
    [*(ROOT / "templates" / "admin").glob("*.html"), *(ROOT / "templates" / "mail").glob("admin_*")]
)
UNTRANSLATED = {
    "NOX", "HTTP", "supplier_user_id", "client_secret_basic", "client_secret_post", "none",
    "redirect", "backchannel", "form_post", "nl", "en", "fr", "es", "https",
}  # fmt: skip
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
SHOWN_ATTRIBUTES = re.compile(r'\b(?:aria-label|placeholder|alt|title)="([^"]*)"')


def unmarked(template: Path) -> list[str]:
    """Words in the template that reach the reader without gettext: text between tags, and
    the attributes a reader (or a screen reader) is given."""
    source = template.read_text(encoding="utf-8")
    attributes = [JINJA.sub(" ", value) for value in SHOWN_ATTRIBUTES.findall(source)]
    without_jinja = JINJA.sub(" ", source)
    text = re.sub(r"<style.*?</style>|<[^>]*>", " ", without_jinja, flags=re.DOTALL)
    words = re.findall(r"[A-Za-z][A-Za-z_'-]*", " ".join([text, *attributes]))
    return [w for w in words if w not in UNTRANSLATED]


def test_the_console_templates_are_found() -> None:
    names = {t.name for t in CONSOLE_TEMPLATES}
    assert {"base.html", "login.html", "preferences.html", "admin_enrolment.txt"} <= names


@pytest.mark.parametrize("template", CONSOLE_TEMPLATES, ids=lambda t: t.name)
def test_every_console_word_is_marked(template: Path) -> None:
    """An unmarked word would stay English on a French page; mark it (`{{ _("...") }}`) and run
    the `make messages` steps. The catalogues' completeness is checked above."""
    assert not unmarked(template), f"{template.name}: not through gettext: {unmarked(template)}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_header(language: str) -> None:
    cat = catalogue(language)
    assert str(cat.locale) == language
    assert cat.charset.lower() == "utf-8"
    # The plural rule is CLDR's, as the locked Babel knows it (French and Spanish have three forms
    # since CLDR 47); a catalogue written with another rule would pick the wrong plural.
    assert cat.plural_forms == Catalog(locale=language).plural_forms
    assert not cat.fuzzy, f"the {language} catalogue header is marked fuzzy"


@pytest.mark.parametrize("language", MUST_TRANSLATE)
def test_every_message_is_translated(language: str) -> None:
    found = list(problems(language))
    assert not found, (
        f"{len(found)} message(s) not translated in {language} (see `make messages` in "
        "babel.cfg):\n  " + "\n  ".join(found)
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_match(language: str) -> None:
    wrong = []
    for entry in catalogue(language):
        ids = [entry.id] if isinstance(entry.id, str) else list(entry.id)
        forms = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        if not entry.id or not any(forms):  # untranslated (en may be): the msgid is used
            continue
        expected = set().union(*(placeholders(i) for i in ids))
        if isinstance(entry.id, str):
            ok = placeholders(forms[0]) == expected
        else:  # a plural form may leave out the number ("one attempt"), nothing else
            used = [placeholders(f) for f in forms if f]
            ok = all(u <= expected for u in used) and set().union(*used) == expected
        if not ok:
            wrong.append(f"{show(entry.id)!r} -> {show(entry.string)!r}")
    assert not wrong, f"placeholders differ in {language}:\n  " + "\n  ".join(wrong)


@pytest.mark.parametrize("language", MUST_TRANSLATE)
def test_loader_uses_the_catalogue(language: str) -> None:
    """idp.i18n compiles the .po in memory; a translated string comes back translated."""
    assert CATALOGUES[language].gettext("Sign in") == catalogue(language).get("Sign in").string


SIGN_IN = {"nl": "Inloggen", "en": "Sign in", "fr": "Se connecter", "es": "Iniciar sesión"}
FOOTER = {
    "nl": "Veilig inloggen via Groene Stroom",
    "en": "Secure sign-in by Groene Stroom",
    "fr": "Connexion sécurisée par Groene Stroom",
    "es": "Inicio de sesión seguro de Groene Stroom",
}


async def login_page(flow: Flow, **params: str) -> str:
    response = await flow.authorize(**params)
    url = location(response)
    assert url.endswith("/login"), url
    page, body = await flow.page(url)
    assert page.status_code == 200
    return html.unescape(body)


async def test_sign_in_page_is_dutch_by_default(flow: Flow) -> None:
    body = await login_page(flow)
    assert f'<html lang="{DEFAULT_LANGUAGE}">' in body
    assert f"<h1>{SIGN_IN['nl']}</h1>" in body
    assert FOOTER["nl"] in body  # a newstyle placeholder filled in a translated string


@pytest.mark.parametrize("language", ["en", "fr", "es"])
async def test_sign_in_page_in_the_language_asked_for(flow: Flow, language: str) -> None:
    body = await login_page(flow, language=language)
    assert f'<html lang="{language}">' in body
    assert f"<h1>{SIGN_IN[language]}</h1>" in body
    assert FOOTER[language] in body


async def test_ui_locales_picks_the_first_supported_language(flow: Flow) -> None:
    body = await login_page(flow, ui_locales="de-DE es-ES en")
    assert '<html lang="es">' in body
    assert f"<h1>{SIGN_IN['es']}</h1>" in body


async def test_unsupported_language_falls_back_to_dutch(flow: Flow) -> None:
    body = await login_page(flow, language="de")
    assert '<html lang="nl">' in body
    assert f"<h1>{SIGN_IN['nl']}</h1>" in body
