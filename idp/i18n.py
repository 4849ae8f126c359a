"""Translations: gettext catalogues per language, chosen per request (nl is NOX's default).

Catalogues are the .po files under idp/translations, compiled in memory at start-up, so there is
no build step and no compiled file to keep in sync.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import tzinfo
from pathlib import Path

from babel.dates import format_date, format_datetime, format_time, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from idp.vocab import DEFAULT_LANGUAGE, LANGUAGES

LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English", "fr": "Français", "es": "Español"}
CATALOGUE_DIR = Path(__file__).parent / "translations"
_language: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)


def _load(language: str) -> NullTranslations:
    po_path = CATALOGUE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


CATALOGUES: dict[str, NullTranslations] = {lang: _load(lang) for lang in LANGUAGES}


def pick_language(*candidates: str | None) -> str:
    """The first supported language among the candidates (each may be a space-separated list of
    BCP 47 tags, as in OIDC `ui_locales`), else nl."""
    for candidate in candidates:
        for tag in (candidate or "").replace(",", " ").split():
            primary = tag.split("-")[0].split(";")[0].strip().lower()
            if primary in LANGUAGES:
                return primary
    return DEFAULT_LANGUAGE


def set_language(language: str) -> None:
    _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)


def current_language() -> str:
    return _language.get()


@contextmanager
def in_language(language: str) -> Iterator[None]:
    """Translate in `language` for a while (a mail to someone else, say), then go back."""
    token = _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _language.reset(token)


def gettext(message: str) -> str:
    return CATALOGUES[_language.get()].gettext(message)


def N_(message: str) -> str:
    """Marks a message where it is defined (a module's constant) for extraction; it is
    translated where it is shown, with gettext, in the language of that moment."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    return CATALOGUES[_language.get()].ngettext(singular, plural, n)


def moment(timestamp: int, zone: tzinfo) -> str:
    """A time as the customer reads it: their language's medium date and time, in `zone`."""
    when = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return format_datetime(when, "medium", tzinfo=zone, locale=_language.get())


def wait_until(seconds: int, now: int, zone: tzinfo) -> dict[str, str]:
    """A wait as the customer reads it: how long ("2 minutes") and until when ("16:42")."""
    until = dt.datetime.fromtimestamp(now + seconds, dt.UTC)
    return {
        "wait": format_timedelta(dt.timedelta(seconds=seconds), locale=_language.get()),
        "time": format_time(until, "short", tzinfo=zone, locale=_language.get()),
    }


def day(timestamp: int, zone: tzinfo) -> str:
    """A date as the customer reads it: their language's long date, in `zone`."""
    when = dt.datetime.fromtimestamp(timestamp, dt.UTC).astimezone(zone)
    return format_date(when.date(), "long", locale=_language.get())
