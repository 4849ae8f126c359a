"""The terms and conditions in flow 1: which version a customer still has to accept, and the
acceptance itself (version, language, time, client, IP and the SHA-256 of the text shown: the
evidence)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from idp.records import TermsVersion
from idp.store.terms import Terms
from idp.vocab import DEFAULT_LANGUAGE


class TermsUnavailable(Exception):
    """No published terms in the customer's language or its fallbacks: nobody can accept them."""


@dataclass(frozen=True)
class TermsToAccept:
    version: str
    text: TermsVersion


def terms_languages(language: str) -> list[str]:
    """The customer's language, then NOX's default, then English."""
    return list(dict.fromkeys([language, DEFAULT_LANGUAGE, "en"]))


class TermsAcceptance:
    def __init__(self, terms: Terms) -> None:
        self.terms = terms

    async def needed(self, user_id: int, language: str) -> TermsToAccept | None:
        """The current terms when this customer has not accepted them yet. Raises
        TermsUnavailable when no version is published (in a language the customer can be
        shown), so that nobody is handed to the client as if they had accepted terms that do
        not exist. Drafts are never shown."""
        current = await self.terms.current_version()
        text = await self.terms.text(current, terms_languages(language)) if current else None
        if current is None or text is None:
            raise TermsUnavailable
        if await self.terms.has_accepted(user_id, current):
            return None
        return TermsToAccept(current, text)

    async def accept(
        self,
        user_id: int,
        terms: TermsToAccept,
        *,
        now: int,
        client_id: str,
        ip: str,
        user_agent: str,
    ) -> None:
        await self.terms.accept(
            user_id=user_id,
            version=terms.version,
            language=terms.text.language,
            now=now,
            client_id=client_id,
            ip=ip,
            user_agent=user_agent,
            text_sha256=hashlib.sha256(terms.text.body_md.encode()).hexdigest(),
        )
