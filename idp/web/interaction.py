"""The pages the customer meets inside an authentication session: sign-in, then the terms."""

from __future__ import annotations

from markdown_it import MarkdownIt
from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from idp.i18n import LANGUAGE_NAMES, set_language
from idp.i18n import gettext as _
from idp.oauth.models import Subject
from idp.records import AuthSession
from idp.security.browser import browser_id, csrf_ok, csrf_token, set_signin_cookie
from idp.security.secrets import same
from idp.security.signin import sign_in
from idp.vocab import AUTH_PENDING
from idp.web.common import client_ip, forbidden_form, go, page, services, user_agent, valid_id
from idp.web.flow import (
    TermsToAccept,
    TermsUnavailable,
    advance,
    confirm_url,
    deny,
    expired_page,
    finish,
    login_url,
    needs_terms,
    sign_out,
    signed_in_subject,
    step_missing,
    terms_unavailable_page,
)

bp = Blueprint("interaction", __name__)
markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})


async def load(session_id: str) -> AuthSession | Response:
    """The authentication session of this browser, or the page that explains why not."""
    auth = await services().store.auth_sessions.get(session_id) if valid_id(session_id) else None
    if auth is None or not same(auth.browser_id, browser_id()):
        return await page(
            "error.html", status=404, message=_("This sign-in session was not found.")
        )
    set_language(auth.language)
    if auth.status != AUTH_PENDING:
        return await page("error.html", status=400, message=_("This sign-in has already ended."))
    if auth.expired(services().clock.now()):
        return await expired_page(auth)
    return auth


async def load_posted(session_id: str) -> tuple[AuthSession, MultiDict[str, str]] | Response:
    """A form posted inside an authentication session: the session, and a valid CSRF token."""
    form: MultiDict[str, str] = await request.form
    auth = await load(session_id)
    if isinstance(auth, Response):
        return auth
    if not csrf_ok(form.get("csrf_token")):
        return await forbidden_form()
    return auth, form


async def login_page(
    auth: AuthSession, status: int = 200, error: str | None = None, email: str = ""
) -> Response:
    client = await services().store.clients.get(auth.client_id)
    return await page(
        "login.html",
        status=status,
        action=login_url(auth),
        client_name=client.name if client else auth.client_id,
        csrf_token=csrf_token(),
        error=error,
        email=email,
        password_reset_url=services().settings.password_reset_url,
    )


@bp.get("/interaction/<session_id>/login")
async def login_form(session_id: str) -> Response:
    auth = await load(session_id)
    if isinstance(auth, Response):
        return auth
    return await login_page(auth)


@bp.post("/interaction/<session_id>/login")
async def login_submit(session_id: str) -> Response:
    loaded = await load_posted(session_id)
    if isinstance(loaded, Response):
        return loaded
    auth, form = loaded
    svc = services()
    email = form.get("email", "")
    result = await sign_in(
        svc,
        email,
        form.get("password", ""),
        client_ip(),
        user_agent(),
        {"client_id": auth.client_id},
    )
    if result.user is None or result.raw_session_id is None:
        return await login_page(auth, result.status, result.error, email.strip()[:320])
    user, now, raw_sid = result.user, svc.clock.now(), result.raw_session_id
    await svc.store.auth_sessions.set_user(auth.id, user.id, now, signed_in_here=True)
    fresh = await svc.store.auth_sessions.get(auth.id)
    assert fresh is not None
    response = await advance(fresh, Subject(user, now))
    set_signin_cookie(
        response, raw_sid, svc.settings.login_session_seconds, svc.settings.cookie_secure
    )
    return response


async def terms_page(
    auth: AuthSession, terms: TermsToAccept, status: int = 200, error: str | None = None
) -> Response:
    client = await services().store.clients.get(auth.client_id)
    shown_in = terms.text.language
    return await page(
        "terms.html",
        status=status,
        auth=auth,
        client_name=client.name if client else auth.client_id,
        csrf_token=csrf_token(),
        version=terms.version,
        terms_html=markdown.render(terms.text.body_md),
        fallback_language=LANGUAGE_NAMES[shown_in] if shown_in != auth.language else None,
        error=error,
    )


async def signed_in_for(auth: AuthSession) -> Subject | None:
    """Who this session is for. Until the customer acted in it, that is only who the browser
    remembered at /authorize, so the browser must still be signed in as them (not signed out
    or switched in another tab since)."""
    if auth.user_id is None or auth.auth_time is None:
        return None
    if auth.interacted_at is None:
        live = await signed_in_subject()
        if live is None or live.id != auth.user_id:
            return None
    user = await services().store.users.by_id(auth.user_id)
    if user is None or user.disabled:
        return None
    return Subject(user, auth.auth_time)


async def current_terms(auth: AuthSession, subject: Subject) -> TermsToAccept | Response | None:
    """The terms this customer still has to accept, None, or the page saying none can be shown."""
    try:
        return await needs_terms(subject.id, auth.language)
    except TermsUnavailable:
        return await terms_unavailable_page(auth)


async def terms_subject(auth: AuthSession) -> Subject | Response:
    """Who may see or accept the terms in this session, or where the browser goes first: to
    sign in, or to confirm who is signed in (a remembered customer confirms before the terms)."""
    subject = await signed_in_for(auth)
    if subject is None:
        return go(login_url(auth))
    if await step_missing(auth):
        return go(confirm_url(auth))
    return subject


@bp.get("/interaction/<session_id>/terms")
async def terms_form(session_id: str) -> Response:
    auth = await load(session_id)
    if isinstance(auth, Response):
        return auth
    subject = await terms_subject(auth)
    if isinstance(subject, Response):
        return subject
    terms = await current_terms(auth, subject)
    if terms is None:
        return await advance(auth, subject)
    if isinstance(terms, Response):
        return terms
    return await terms_page(auth, terms)


@bp.post("/interaction/<session_id>/terms")
async def terms_submit(session_id: str) -> Response:
    loaded = await load_posted(session_id)
    if isinstance(loaded, Response):
        return loaded
    auth, form = loaded
    subject = await terms_subject(auth)
    if isinstance(subject, Response):
        return subject
    if form.get("action") == "decline":
        return await deny(auth, "The customer declined the terms and conditions")
    terms = await current_terms(auth, subject)
    if terms is None:
        return await advance(auth, subject)
    if isinstance(terms, Response):
        return terms
    if form.get("version") != terms.version:
        # A new version was published while the page was open: accept only what was read.
        return await terms_page(
            auth, terms, 409, _("The terms and conditions have changed. Please read them again.")
        )
    if form.get("action") != "accept" or form.get("accept_terms") != "yes":
        return await terms_page(
            auth, terms, 400, _("Tick the box to accept the terms and conditions.")
        )
    svc = services()
    now = svc.clock.now()
    await svc.store.terms.accept(
        user_id=subject.id,
        version=terms.version,
        language=terms.text.language,
        now=now,
        client_id=auth.client_id,
        ip=client_ip(),
        user_agent=user_agent(),
    )
    if not await svc.store.auth_sessions.interacted(auth.id, subject.id, now):
        return await page("error.html", status=400, message=_("This sign-in has already ended."))
    return await finish(auth, subject)


@bp.get("/interaction/<session_id>/confirm")
async def confirm_form(session_id: str) -> Response:
    """ "Continue as <name> to <client>?" for a customer this browser remembers."""
    auth = await load(session_id)
    if isinstance(auth, Response):
        return auth
    subject = await signed_in_for(auth)
    if subject is None:
        return go(login_url(auth))
    client = await services().store.clients.get(auth.client_id)
    return await page(
        "confirm.html",
        action=confirm_url(auth),
        client_name=client.name if client else auth.client_id,
        name=subject.user.name or subject.user.email,
        email=subject.user.email,
        csrf_token=csrf_token(),
    )


@bp.post("/interaction/<session_id>/confirm")
async def confirm_submit(session_id: str) -> Response:
    loaded = await load_posted(session_id)
    if isinstance(loaded, Response):
        return loaded
    auth, form = loaded
    subject = await signed_in_for(auth)
    if subject is None:
        return go(login_url(auth))
    svc = services()
    if form.get("action") == "switch":
        # "Not you?": sign this browser out, and sign in again inside the same session.
        await svc.store.auth_sessions.forget_user(auth.id)
        response = go(login_url(auth))
        await sign_out(response)
        return response
    if form.get("action") != "continue":
        return await page("error.html", status=400, message=_("Choose one of the buttons."))
    if not await svc.store.auth_sessions.interacted(auth.id, subject.id, svc.clock.now()):
        return await page("error.html", status=400, message=_("This sign-in has already ended."))
    return await advance(auth, subject)
