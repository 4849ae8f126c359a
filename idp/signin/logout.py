"""Signing out when a client asks (OpenID Connect RP-Initiated Logout 1.0).

The request is checked by the protocol (idp/oauth/logout.py). Here we decide whether to end
this browser's sign-in session at once or to ask first. §2 and §6 say to ask unless a valid
id_token_hint names the customer who is signed in: otherwise any site could sign the customer
out by sending their browser to the endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from idp.oauth.facade import HttpCall, OAuth, RefusedLogout
from idp.signin.customers import Customers

# The request's parameters (§2) that the confirmation form carries back unchanged.
CARRIED = (
    "id_token_hint",
    "logout_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
)


@dataclass(frozen=True)
class SignedOut:
    """This browser is signed out (or was not signed in); send it to `redirect_url` (the
    client's registered URI with its `state`) or show the signed-out page."""

    redirect_url: str | None


@dataclass(frozen=True)
class ConfirmSignOut:
    """Ask the customer; the form posts `fields` back with their answer."""

    client_name: str | None
    fields: list[tuple[str, str]]


@dataclass(frozen=True)
class SignOutRefused:
    """§4: an error in the request (a forged or foreign id_token_hint, a client_id that is not
    the token's audience). No redirect; the page says so."""

    description: str


LogoutDecision = SignedOut | ConfirmSignOut | SignOutRefused


def carried_fields(params: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The first value of each parameter the confirmation must carry, in a fixed order."""
    first: dict[str, str] = {}
    for name, value in params:
        if name in CARRIED:
            first.setdefault(name, value)
    return [(name, first[name]) for name in CARRIED if name in first]


class Logout:
    def __init__(self, oauth: OAuth, customers: Customers) -> None:
        self.oauth = oauth
        self.customers = customers

    async def request(
        self, call: HttpCall, session_digest: str | None, confirmed: bool
    ) -> LogoutDecision:
        """The decision on a request to the end_session_endpoint; `confirmed` when it is the
        customer's own answer to ConfirmSignOut (its CSRF token checked by the web layer)."""
        checked = await self.oauth.check_logout(call)
        if isinstance(checked, RefusedLogout):
            return SignOutRefused(checked.description)
        subject = await self.customers.signed_in(session_digest)
        if subject is not None:
            hinted = checked.hinted_sub == subject.user.supplier_user_id
            if not (confirmed or hinted):
                params = call.form if call.method == "POST" else call.query
                return ConfirmSignOut(checked.client_name, carried_fields(params))
            await self.customers.sign_out(session_digest)
        return SignedOut(checked.redirect_url)
