"""The pages the customer meets inside an authentication session: sign-in, then the terms."""

from __future__ import annotations

from markdown_it import MarkdownIt
from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from idp.i18n import gettext as _
from idp.i18n import set_language
from idp.protocol.models import Subject
from idp.security import passwords
from idp.security.browser import browser_id, csrf_ok, csrf_token, set_signin_cookie
from idp.security.secrets import digest, new_secret, same
from idp.store.records import AuthSession
from idp.store.sessions import PENDING
from idp.web.common import client_ip, go, page, services, user_agent
from idp.web.flow import advance, deny, expired_page, finish, login_url, needs_terms

bp = Blueprint("interaction", __name__)
markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})
MAX_FIELD = 1024


async def load(session_id: str) -> AuthSession | Response:
    """The authentication session of this browser, or the page that explains why not."""
    auth = await services().store.auth_sessions.get(session_id[:64])
    if auth is None or not same(auth.browser_id, browser_id()):
        return await page(
            "error.html", status=404, message=_("This sign-in session was not found.")
        )
    set_language(auth.language)
    if auth.status != PENDING:
        return await page("error.html", status=400, message=_("This sign-in has already ended."))
    if auth.expired(services().clock.now()):
        return await expired_page(auth)
    return auth


async def forbidden_form() -> Response:
    return await page(
        "error.html",
        status=403,
        message=_("This form has expired. Please go back and try again."),
    )


async def login_page(
    auth: AuthSession, status: int = 200, error: str | None = None, email: str = ""
) -> Response:
    client = await services().store.clients.get(auth.client_id)
    return await page(
        "login.html",
        status=status,
        auth=auth,
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
    form: MultiDict[str, str] = await request.form
    auth = await load(session_id)
    if isinstance(auth, Response):
        return auth
    if not csrf_ok(form.get("csrf_token")):
        return await forbidden_form()
    svc = services()
    email = form.get("email", "").strip()[:320]
    password = form.get("password", "")[:MAX_FIELD]
    if not email or not password:
        return await login_page(auth, 400, _("Enter your email address and password."), email)

    now = svc.clock.now()
    ip = client_ip()
    wait = await svc.throttle.wait_seconds(email, ip, now)
    if wait:
        await svc.security_event("signin_throttled", email.lower(), {"wait": wait}, ip)
        message = _("Too many failed attempts. Please wait %(seconds)s seconds and try again.") % {
            "seconds": wait
        }
        return await login_page(auth, 429, message, email)

    user = await svc.store.users.by_email(email)
    check = await passwords.verify_async(password, user.password_hash if user else None)
    if user is None or not check.ok or user.disabled:
        await svc.throttle.failed(email, ip, now)
        await svc.security_event("signin_failed", email.lower(), {"client_id": auth.client_id}, ip)
        return await login_page(
            auth, 401, _("The email address or password is not correct."), email
        )

    await svc.throttle.succeeded(email)
    if check.new_hash:  # a legacy or outdated hash: upgrade to argon2id now we know the password
        await svc.store.users.set_password_hash(user.id, check.new_hash, now)
    raw_sid = new_secret(32)
    await svc.store.login_sessions.add(
        id_hash=digest(raw_sid),
        user_id=user.id,
        auth_time=now,
        expires_at=now + svc.settings.login_session_seconds,
        ip=ip,
        user_agent=user_agent(),
    )
    await svc.store.auth_sessions.set_user(auth.id, user.id, now)
    fresh = await svc.store.auth_sessions.get(auth.id)
    assert fresh is not None
    response = await advance(fresh, Subject(user, now))
    set_signin_cookie(
        response, raw_sid, svc.settings.login_session_seconds, svc.settings.cookie_secure
    )
    return response


async def terms_page(
    auth: AuthSession, version: str, status: int = 200, error: str | None = None
) -> Response:
    svc = services()
    text = await svc.store.terms.text(version, [auth.language, "nl", "en"])
    client = await svc.store.clients.get(auth.client_id)
    return await page(
        "terms.html",
        status=status,
        auth=auth,
        client_name=client.name if client else auth.client_id,
        csrf_token=csrf_token(),
        version=version,
        terms_html=markdown.render(text.body_md) if text else "",
        error=error,
    )


async def signed_in_for(auth: AuthSession) -> Subject | None:
    if auth.user_id is None or auth.auth_time is None:
        return None
    user = await services().store.users.by_id(auth.user_id)
    if user is None or user.disabled:
        return None
    return Subject(user, auth.auth_time)


@bp.get("/interaction/<session_id>/terms")
async def terms_form(session_id: str) -> Response:
    auth = await load(session_id)
    if isinstance(auth, Response):
        return auth
    subject = await signed_in_for(auth)
    if subject is None:
        return go(login_url(auth))
    version = await needs_terms(subject.id)
    if version is None:
        return await finish(auth, subject)
    return await terms_page(auth, version)


@bp.post("/interaction/<session_id>/terms")
async def terms_submit(session_id: str) -> Response:
    form: MultiDict[str, str] = await request.form
    auth = await load(session_id)
    if isinstance(auth, Response):
        return auth
    if not csrf_ok(form.get("csrf_token")):
        return await forbidden_form()
    subject = await signed_in_for(auth)
    if subject is None:
        return go(login_url(auth))
    if form.get("action") == "decline":
        return await deny(auth, "The customer declined the terms and conditions")
    version = await needs_terms(subject.id)
    if version is None:
        return await finish(auth, subject)
    if form.get("action") != "accept" or form.get("accept_terms") != "yes":
        return await terms_page(
            auth, version, 400, _("Tick the box to accept the terms and conditions.")
        )
    svc = services()
    text = await svc.store.terms.text(version, [auth.language, "nl", "en"])
    await svc.store.terms.accept(
        user_id=subject.id,
        version=version,
        language=text.language if text else auth.language,
        now=svc.clock.now(),
        client_id=auth.client_id,
        ip=client_ip(),
        user_agent=user_agent(),
    )
    return await finish(auth, subject)
