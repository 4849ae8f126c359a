"""The authentication session from /authorize to the code: which step comes next, and the end.

An AuthSession is created at /authorize and lives `IDP_AUTH_SESSION_SECONDS` (15 minutes) whatever
happens; every step re-checks it here against the injected clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from authlib.common.urls import add_params_to_uri
from quart import Response

from idp.i18n import gettext as _
from idp.oauth.facade import RefusedAuthorization
from idp.oauth.models import Subject
from idp.oauth.requests import CodeSession
from idp.records import AuthSession, Client, TermsVersion
from idp.security.browser import SIGNIN_COOKIE, signin_cookie_digest
from idp.vocab import AUTH_COMPLETED, AUTH_DENIED, AUTH_PENDING, DEFAULT_LANGUAGE
from idp.web.common import go, page, services

log = logging.getLogger("idp.flow")


def login_url(auth: AuthSession) -> str:
    return f"/interaction/{auth.id}/login"


def terms_url(auth: AuthSession) -> str:
    return f"/interaction/{auth.id}/terms"


def confirm_url(auth: AuthSession) -> str:
    return f"/interaction/{auth.id}/confirm"


def prompts_of(auth: AuthSession) -> list[str]:
    return dict(parse_qsl(auth.query)).get("prompt", "").split()


def client_error_url(auth: AuthSession, error: str, description: str) -> str:
    """An error response to the client's verified redirect URI (RFC 6749 §4.1.2.1, RFC 9207)."""
    params = [("error", error), ("error_description", description)]
    if auth.state is not None:
        params.append(("state", auth.state))
    params.append(("iss", services().settings.issuer))
    return str(add_params_to_uri(auth.redirect_uri, params))


async def sign_out(response: Response) -> None:
    """End this browser's sign-in: the stored sign-in session and its cookie."""
    id_hash = signin_cookie_digest()
    if id_hash:
        await services().store.login_sessions.remove(id_hash)
    response.delete_cookie(SIGNIN_COOKIE, path="/")


async def signed_in_subject() -> Subject | None:
    """The customer this browser is signed in as, if any and still allowed in."""
    id_hash = signin_cookie_digest()
    if not id_hash:
        return None
    svc = services()
    login = await svc.store.login_sessions.get(id_hash, svc.clock.now())
    if login is None:
        return None
    user = await svc.store.users.by_id(login.user_id)
    if user is None or user.disabled:
        return None
    return Subject(user, login.auth_time)


class TermsUnavailable(Exception):
    """No published terms in the customer's language or its fallbacks: nobody can accept them."""


@dataclass(frozen=True)
class TermsToAccept:
    version: str
    text: TermsVersion


def terms_languages(language: str) -> list[str]:
    """The customer's language, then NOX's default, then English."""
    return list(dict.fromkeys([language, DEFAULT_LANGUAGE, "en"]))


async def needs_terms(user_id: int, language: str) -> TermsToAccept | None:
    """The current terms when this customer has not accepted them yet. Raises TermsUnavailable
    when no version is published (in a language the customer can be shown), so that nobody is
    handed to the client as if they had accepted terms that do not exist."""
    terms = services().store.terms
    current = await terms.current_version()
    text = await terms.text(current, terms_languages(language)) if current else None
    if current is None or text is None:
        raise TermsUnavailable
    if await terms.has_accepted(user_id, current):
        return None
    return TermsToAccept(current, text)


async def end_page(
    auth: AuthSession, template: str, error: str, description: str, status: int
) -> Response:
    """End the session as denied and explain why, with the way back to the client (which gets
    `error`) where its redirect URI is still registered."""
    client = await services().store.clients.get(auth.client_id)
    await services().store.auth_sessions.finish(auth.id, AUTH_DENIED)
    url = client_error_url(auth, error, description)
    still_registered = client is not None and auth.redirect_uri in client.redirect_uris
    form_post = still_registered and uses_form_post(auth, client)
    return await page(
        template,
        status=status,
        client_name=client.name if client else auth.client_id,
        return_url=url if still_registered and not form_post else None,
        return_action=auth.redirect_uri if form_post else None,
        return_fields=response_fields(auth.redirect_uri, url),
    )


async def expired_page(auth: AuthSession) -> Response:
    """The customer learns the session ran out; the client learns it through access_denied."""
    return await end_page(
        auth,
        "expired.html",
        "access_denied",
        "The authentication session expired after 15 minutes",
        400,
    )


async def terms_unavailable_page(auth: AuthSession) -> Response:
    log.error("no published terms and conditions: customers cannot be handed to %s", auth.client_id)
    return await end_page(
        auth,
        "terms_unavailable.html",
        "temporarily_unavailable",
        "The terms and conditions cannot be shown right now",
        503,
    )


async def advance(auth: AuthSession, subject: Subject | None) -> Response:
    """Send the browser to the next step this authentication session needs: sign in, confirm
    who is signed in, accept the terms, or the code (see `finish`)."""
    svc = services()
    if auth.expired(svc.clock.now()):
        return await expired_page(auth)
    if subject is None or auth.force_login:
        if "none" in prompts_of(auth):
            return await deny_silently(auth, "login_required", "The customer must sign in")
        return go(login_url(auth))
    if auth.user_id != subject.id:
        await svc.store.auth_sessions.set_user(auth.id, subject.id, subject.auth_time)
    return await finish(auth, subject)


def needs_step(auth: AuthSession, client: Client | None) -> bool:
    """Whether this session needs a step the customer takes in it: for a client that links
    accounts (NOX), and whenever the client asked for `prompt=consent` (OIDC Core §3.1.2.1)."""
    return "consent" in prompts_of(auth) or (client is not None and client.needs_fresh_step)


async def step_missing(auth: AuthSession) -> bool:
    """True while the session still lacks the step it needs (see `needs_step`)."""
    client = await services().store.clients.get(auth.client_id)
    return needs_step(auth, client) and auth.interacted_at is None


async def deny_silently(auth: AuthSession, error: str, description: str) -> Response:
    """prompt=none: no page may be shown, so the client gets the error at once (OIDC §3.1.2.6)."""
    await services().store.auth_sessions.finish(auth.id, AUTH_DENIED)
    return await respond(auth, client_error_url(auth, error, description))


async def finish(auth: AuthSession, subject: Subject) -> Response:
    """The last checks, on the session as stored now, then the code. Authlib validates the
    stored request again (so a redirect URI removed meanwhile no longer works).

    A client with a back-channel hand-off (or NOX itself) gets a code only after a step the
    customer took in this authentication session (sign-in, terms, or "Continue as"), asked for
    before the terms: otherwise anyone who can send a signed-in browser to /authorize with their
    own `state` would have NOX map their account to this customer. The terms are checked here
    too, so no route can skip them, and a version published meanwhile is asked for."""
    svc = services()
    if auth.expired(svc.clock.now()):
        return await expired_page(auth)
    fresh = await svc.store.auth_sessions.get(auth.id)
    if fresh is None or fresh.status != AUTH_PENDING:
        return await page("error.html", status=400, message=_("This sign-in has already ended."))
    if fresh.user_id != subject.id:
        return go(login_url(fresh))
    silent = "none" in prompts_of(fresh)
    client = await svc.store.clients.get(fresh.client_id)
    step_needed = needs_step(fresh, client)
    if step_needed and fresh.interacted_at is None:
        if silent:
            return await deny_silently(
                fresh, "interaction_required", "The customer must confirm who is signed in"
            )
        return go(confirm_url(fresh))
    try:
        terms = await needs_terms(subject.id, fresh.language)
    except TermsUnavailable:
        return await terms_unavailable_page(fresh)
    if terms:
        if silent:
            return await deny_silently(
                fresh, "consent_required", "The customer must accept the terms and conditions"
            )
        return go(terms_url(fresh))
    completed = await svc.store.auth_sessions.finish(
        auth.id, AUTH_COMPLETED, require_step=step_needed, user_id=subject.id
    )
    if not completed:
        return await page("error.html", status=400, message=_("This sign-in has already ended."))
    issued = await svc.oauth.issue_code(auth.query, subject, CodeSession(auth.id, auth.expires_at))
    if isinstance(issued, RefusedAuthorization):
        return await invalid_request_page(issued.error, issued.description)
    if issued.handoff_id:
        # One attempt now, bounded by IDP_HANDOFF_TIMEOUT_SECONDS; the worker retries if needed.
        await svc.handoffs.attempt(issued.handoff_id)
    return await respond(auth, issued.redirect_url)


async def respond(auth: AuthSession, url: str) -> Response:
    """Deliver an authorization response: a redirect, or for the form_post response mode
    (OAuth 2.0 Form Post Response Mode) a page whose form carries the parameters."""
    if not uses_form_post(auth, await services().store.clients.get(auth.client_id)):
        return go(url)
    return await page(
        "form_post.html",
        action=auth.redirect_uri,
        fields=response_fields(auth.redirect_uri, url),
    )


def uses_form_post(auth: AuthSession, client: Client | None) -> bool:
    """The client asked for form_post in this request, or is registered for it."""
    if dict(parse_qsl(auth.query)).get("response_mode") == "form_post":
        return True
    return client is not None and client.handoff_mode == "form_post"


def response_fields(redirect_uri: str, url: str) -> list[tuple[str, str]]:
    """The parameters `url` adds to `redirect_uri` (which may carry a query of its own)."""
    own = parse_qsl(urlsplit(redirect_uri).query, keep_blank_values=True)
    added = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    return added[len(own) :]


async def deny(auth: AuthSession, description: str) -> Response:
    svc = services()
    if auth.expired(svc.clock.now()):
        return await expired_page(auth)
    if not await svc.store.auth_sessions.finish(auth.id, AUTH_DENIED):
        return await page("error.html", status=400, message=_("This sign-in has already ended."))
    return await respond(auth, client_error_url(auth, "access_denied", description))


async def invalid_request_page(error: str, description: str) -> Response:
    """RFC 6749 §4.1.2.1: an error found before the redirect URI is verified is shown to the
    customer, never redirected."""
    return await page(
        "error.html",
        status=400,
        message=_("This sign-in link is not valid. Please go back and try again."),
        error_code=error,
        error_description=description,
    )
