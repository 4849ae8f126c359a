"""What a sign-in use case decides; the web layer turns each into a response (web/signin_pages.py).

The use cases in this package never build an HTTP response: they return one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from idp.signin.terms import TermsToAccept


@dataclass(frozen=True)
class Step:
    """Send the browser to one of our pages inside the authentication session; with
    `sign_out`, the browser's sign-in ends first ("Not you?")."""

    url: str
    sign_out: bool = False


@dataclass(frozen=True)
class ToClient:
    """An authorization response (RFC 6749 §4.1.2, §4.1.2.1) to the client's verified redirect
    URI: a redirect to `url`, or for the form_post response mode a form posting its parameters
    to `form_post_to`."""

    url: str
    form_post_to: str | None = None

    @property
    def fields(self) -> list[tuple[str, str]]:
        """The parameters `url` adds to the redirect URI (which may carry a query of its own)."""
        own = parse_qsl(urlsplit(self.form_post_to or "").query, keep_blank_values=True)
        added = parse_qsl(urlsplit(self.url).query, keep_blank_values=True)
        return added[len(own) :]


@dataclass(frozen=True)
class Ended:
    """The session ended without a code; the customer is told why and, when the client's
    redirect URI is still registered, offered the way back (the client gets the error)."""

    reason: Literal["expired", "terms_unavailable"]
    client_name: str
    way_back: ToClient | None


@dataclass(frozen=True)
class ShowTerms:
    """The terms page: the version to accept, with an error when a submission was refused."""

    session_id: str
    language: str  # the session's: the page says so when the text is in a fallback language
    terms: TermsToAccept
    client_name: str
    status: int = 200
    error: str | None = None


@dataclass(frozen=True)
class Refused:
    """Nothing happened, and a page says why (already ended, not found, too many requests)."""

    status: int
    message: str
    retry_after: int | None = None


@dataclass(frozen=True)
class InvalidRequest:
    """RFC 6749 §4.1.2.1: an error found before the redirect URI is verified is shown to the
    customer, never redirected."""

    error: str
    description: str


Decision = Step | ToClient | Ended | ShowTerms | Refused | InvalidRequest
