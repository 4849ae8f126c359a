"""The authentication session from /authorize to the code: which step comes next, and the end.

An AuthSession is created at /authorize and lives `IDP_AUTH_SESSION_SECONDS` (15 minutes) whatever
happens; every step re-checks it here against the injected clock.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from quart import Response

from idp.i18n import gettext as _
from idp.protocol.bridge import in_thread
from idp.protocol.models import Subject
from idp.protocol.requests import ProtocolRequest
from idp.security.browser import signin_cookie_digest
from idp.store.records import AuthSession, Client
from idp.store.sessions import COMPLETED, DENIED
from idp.web.common import go, page, services


def login_url(auth: AuthSession) -> str:
    return f"/interaction/{auth.id}/login"


def terms_url(auth: AuthSession) -> str:
    return f"/interaction/{auth.id}/terms"


def prompts_of(auth: AuthSession) -> list[str]:
    return dict(parse_qsl(auth.query)).get("prompt", "").split()


def client_error_url(auth: AuthSession, error: str, description: str) -> str:
    """An error response to the client's verified redirect URI (RFC 6749 §4.1.2.1, RFC 9207)."""
    params = [("error", error), ("error_description", description)]
    if auth.state is not None:
        params.append(("state", auth.state))
    params.append(("iss", services().settings.issuer))
    return str(add_params_to_uri(auth.redirect_uri, params))


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


async def needs_terms(user_id: int) -> str | None:
    """The current terms version when this customer has not accepted it yet."""
    terms = services().store.terms
    current = await terms.current_version()
    if current and not await terms.has_accepted(user_id, current):
        return current
    return None


async def expired_page(auth: AuthSession) -> Response:
    """The customer learns the session ran out; the client learns it through access_denied."""
    client = await services().store.clients.get(auth.client_id)
    await services().store.auth_sessions.finish(auth.id, DENIED)
    url = client_error_url(
        auth, "access_denied", "The authentication session expired after 15 minutes"
    )
    still_registered = client is not None and auth.redirect_uri in client.redirect_uris
    form_post = still_registered and uses_form_post(auth, client)
    return await page(
        "expired.html",
        status=400,
        client_name=client.name if client else auth.client_id,
        return_url=url if still_registered and not form_post else None,
        return_action=auth.redirect_uri if form_post else None,
        return_fields=response_fields(auth.redirect_uri, url),
    )


async def advance(auth: AuthSession, subject: Subject | None) -> Response:
    """Send the browser to the next step this authentication session needs."""
    svc = services()
    if auth.expired(svc.clock.now()):
        return await expired_page(auth)
    none_prompt = "none" in prompts_of(auth)
    if subject is None or auth.force_login:
        if none_prompt:
            await svc.store.auth_sessions.finish(auth.id, DENIED)
            return await respond(
                auth, client_error_url(auth, "login_required", "The customer must sign in")
            )
        return go(login_url(auth))
    if auth.user_id != subject.id:
        await svc.store.auth_sessions.set_user(auth.id, subject.id, subject.auth_time)
    if await needs_terms(subject.id):
        if none_prompt:
            await svc.store.auth_sessions.finish(auth.id, DENIED)
            return await respond(
                auth,
                client_error_url(
                    auth, "consent_required", "The customer must accept the terms and conditions"
                ),
            )
        return go(terms_url(auth))
    return await finish(auth, subject)


async def finish(auth: AuthSession, subject: Subject) -> Response:
    """Issue the code: Authlib validates the stored request again (so a redirect URI removed
    meanwhile no longer works) and redirects to the client."""
    svc = services()
    if auth.expired(svc.clock.now()):
        return await expired_page(auth)
    if not await svc.store.auth_sessions.finish(auth.id, COMPLETED):
        return await page("error.html", status=400, message=_("This sign-in has already ended."))
    request = stored_request(auth)
    server = svc.server

    def issue() -> Any:
        grant = server.get_consent_grant(request, end_user=subject)
        return server.create_authorization_response(request, grant_user=subject, grant=grant)

    try:
        result = await in_thread(issue)
    except OAuth2Error as error:
        return await invalid_request_page(error)
    handoff_id = getattr(request, "handoff_id", None)
    if handoff_id:
        # One attempt now, bounded by IDP_HANDOFF_TIMEOUT_SECONDS; the worker retries if needed.
        await svc.handoffs.attempt(handoff_id)
    return await respond(auth, result.location)


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
    if not await svc.store.auth_sessions.finish(auth.id, DENIED):
        return await page("error.html", status=400, message=_("This sign-in has already ended."))
    return await respond(auth, client_error_url(auth, "access_denied", description))


def stored_request(auth: AuthSession) -> ProtocolRequest:
    url = services().settings.url("/authorize")
    request = ProtocolRequest("GET", f"{url}?{auth.query}", {}, query=parse_qsl(auth.query))
    request.auth_session_id = auth.id
    return request


async def invalid_request_page(error: OAuth2Error) -> Response:
    """RFC 6749 §4.1.2.1: an error found before the redirect URI is verified is shown to the
    customer, never redirected."""
    return await page(
        "error.html",
        status=400,
        message=_("This sign-in link is not valid. Please go back and try again."),
        error_code=error.error,
        error_description=error.description,
    )
