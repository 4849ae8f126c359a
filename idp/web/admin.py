"""The supplier admin console at /admin: password + TOTP sign-in, roles, CSRF on every form.

A session ends after `IDP_ADMIN_IDLE_SECONDS` idle or `IDP_ADMIN_SESSION_SECONDS` after sign-in;
signing in replaces the session and the CSRF token.

Views parse the form, call an AdminActions method (which validates, changes and audits) and
render. A forbidden action is a 403 and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from markdown_it import MarkdownIt
from quart import Blueprint, Response, g, request

from idp.admin.actions import ActionError, Actor, nox_post_login_url, role_allows
from idp.admin.totp import matching_step
from idp.i18n import set_language
from idp.nox.readiness import configuration_warnings
from idp.records import Admin
from idp.security import passwords
from idp.security.browser import csrf_ok, csrf_token, rotate_csrf
from idp.security.secrets import digest, new_secret
from idp.security.signin import THROTTLED_EVENT_WINDOW
from idp.vocab import ADMIN_ROLES
from idp.web.common import client_ip, forbidden_form, go, page, services

bp = Blueprint("admin", __name__, url_prefix="/admin")
ADMIN_COOKIE = "idp_admin"
OPEN_ENDPOINTS = {"admin.login", "admin.login_submit"}
markdown = MarkdownIt("commonmark", {"html": False})
TERMS_UPLOAD_BYTES = 1024 * 1024
F = TypeVar("F", bound=Callable[..., Awaitable[Response]])


def admin() -> Admin:
    return g.admin


def actor() -> Actor:
    return Actor(f"admin:{admin().email}", client_ip())


def requires(role: str) -> Callable[[F], F]:
    """Refuse (403, nothing changed) an admin whose role is below `role`."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        async def guarded(*args: Any, **kwargs: Any) -> Response:
            if not role_allows(admin().role, role):
                await services().actions.audit(
                    "admin.forbidden", actor(), path=request.path, needed=role
                )
                return await admin_page("error.html", 403, message=f"This needs the {role} role.")
            return await view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


async def admin_page(template: str, status: int = 200, **context: Any) -> Response:
    template = template if template == "error.html" else f"admin/{template}"
    admin = g.get("admin")
    svc = services()
    warnings = await configuration_warnings(svc.settings, svc.store) if admin else []
    return await page(
        template,
        status,
        admin=admin,
        csrf_token=csrf_token(),
        roles=ADMIN_ROLES,
        config_warnings=warnings,
        **context,
    )


@bp.before_request
async def gate() -> Response | None:
    """Every admin request: English pages, a live session (idle timeout), a valid CSRF token."""
    set_language("en")
    svc = services()
    g.admin = None
    raw = request.cookies.get(ADMIN_COOKIE)
    if raw:
        g.admin = await svc.store.admins.touch_session(
            digest(raw),
            svc.clock.now(),
            svc.settings.admin_idle_seconds,
            svc.settings.admin_session_seconds,
        )
    if request.method == "POST":
        if request.path == "/admin/terms":
            request.max_content_length = TERMS_UPLOAD_BYTES
        form = await request.form
        if not csrf_ok(form.get("csrf_token")):
            return await forbidden_form()
    if g.admin is None and request.endpoint not in OPEN_ENDPOINTS:
        return go("/admin/login")
    return None


# ---- sign-in --------------------------------------------------------------------------------
@bp.get("/login")
async def login() -> Response:
    return await admin_page("login.html")


@bp.post("/login")
async def login_submit() -> Response:
    svc = services()
    form = await request.form
    email = form.get("email", "").strip()[:320]
    password = form.get("password", "")[:1024]
    code = form.get("code", "")[:16]
    now, ip = svc.clock.now(), client_ip()

    async def refuse(status: int, message: str) -> Response:
        return await admin_page("login.html", status, error=message, email=email)

    attempt = await svc.admin_throttle.attempt(email, ip, now)  # counted before checking
    if attempt.wait:
        wait = attempt.wait
        await svc.security_event(
            "admin_signin_throttled",
            email.lower(),
            {"wait": wait},
            ip,
            once_within=THROTTLED_EVENT_WINDOW,
        )
        return await refuse(429, f"Too many failed attempts. Wait {wait} seconds.")
    found = await svc.store.admins.by_email(email) if email else None
    try:
        check = await passwords.verify_async(password, found.password_hash if found else None)
    except passwords.PasswordPoolFull:
        await svc.admin_throttle.not_checked(attempt)
        raise
    step = matching_step(found.totp_secret, code, now) if found else None
    if found is None or found.disabled or not check.ok or step is None:
        await svc.security_event("admin_signin_failed", email.lower(), {}, ip)
        return await refuse(401, "The email, password or code is not correct.")
    if not await svc.store.admins.use_totp_step(found.id, step):
        await svc.security_event("admin_totp_reused", email.lower(), {}, ip)
        return await refuse(401, "That code was used already. Wait for the next one.")
    await svc.admin_throttle.succeeded(attempt)
    previous = request.cookies.get(ADMIN_COOKIE)
    if previous:  # no session survives a sign-in: a planted or stale cookie is worth nothing
        await svc.store.admins.end_session(digest(previous))
    raw = new_secret(32)
    await svc.store.admins.start_session(digest(raw), found.id, now, ip)
    rotate_csrf()
    await svc.actions.audit("admin.signed_in", Actor(f"admin:{found.email}", ip))
    response = go("/admin")
    response.set_cookie(
        ADMIN_COOKIE,
        raw,
        secure=svc.settings.cookie_secure,
        httponly=True,
        samesite="Strict",
        path="/admin",
    )
    return response


@bp.post("/logout")
async def logout() -> Response:
    raw = request.cookies.get(ADMIN_COOKIE)
    if raw:
        await services().store.admins.end_session(digest(raw))
    response = go("/admin/login")
    response.delete_cookie(ADMIN_COOKIE, path="/admin")
    return response


# ---- overview and settings --------------------------------------------------------------------
@bp.get("")
async def index() -> Response:
    store = services().store
    return await admin_page(
        "index.html",
        clients=len(await store.clients.all()),
        customers=await store.users.count(),
        pending=len(await store.outbox.list("pending")),
        failed=len(await store.outbox.list("failed")),
        terms=await store.terms.current_version(),
    )


def mask(value: str | None) -> str:
    if not value:
        return "(not set)"
    return value[:4] + "…" + f" ({len(value)} characters)"


@bp.get("/settings")
async def settings_page() -> Response:
    s = services().settings
    rows = [
        ("Issuer", s.issuer),
        ("NOX auth API (IDP_NOX_AUTH_BASE)", s.nox_auth_base),
        ("NOX API key (IDP_NOX_API_KEY)", mask(s.nox_api_key)),
        ("Link callback URL (IDP_LINK_CALLBACK_URL)", s.link_callback_url),
        ("Hand-off timeout", f"{s.handoff_timeout_seconds} s"),
        ("Hand-off maximum age", f"{s.handoff_max_age_seconds} s"),
        ("Authentication session", f"{s.auth_session_seconds} s"),
        ("Admin idle timeout", f"{s.admin_idle_seconds} s"),
        ("Admin session lifetime", f"{s.admin_session_seconds} s"),
    ]
    return await admin_page("settings.html", rows=rows)


# ---- clients --------------------------------------------------------------------------------
@bp.get("/clients")
async def clients() -> Response:
    return await admin_page(
        "clients.html",
        clients=await services().store.clients.all(),
        nox_post_login_url=nox_post_login_url(services().settings),
    )


@bp.post("/clients")
@requires("owner")
async def create_client() -> Response:
    form = await request.form
    try:
        secret = await services().actions.create_client(
            actor(),
            client_id=form.get("client_id", "").strip(),
            name=form.get("name", "").strip(),
            redirect_uris=[
                u.strip() for u in form.get("redirect_uris", "").splitlines() if u.strip()
            ],
            auth_method=form.get("auth_method", "client_secret_basic"),
            handoff_mode=form.get("handoff_mode") or None,
            post_login_redirect_url=form.get("post_login_redirect_url", "").strip() or None,
            preset=form.get("preset") or None,
        )
    except ActionError as exc:
        return await admin_page(
            "clients.html",
            400,
            clients=await services().store.clients.all(),
            nox_post_login_url=nox_post_login_url(services().settings),
            error=str(exc),
        )
    return await admin_page("secret.html", client_id=form.get("client_id"), secret=secret)


async def client_page(client_id: str, status: int = 200, **extra: Any) -> Response:
    client = await services().store.clients.get(client_id)
    if client is None:
        return await admin_page("error.html", 404, message="There is no such client.")
    return await admin_page("client.html", status, client=client, **extra)


@bp.get("/clients/<client_id>")
async def client_detail(client_id: str) -> Response:
    return await client_page(client_id)


async def client_action(client_id: str, action: Callable[[], Awaitable[Any]]) -> Response:
    try:
        await action()
    except ActionError as exc:
        return await client_page(client_id, 400, error=str(exc))
    return go(f"/admin/clients/{client_id}")


@bp.post("/clients/<client_id>")
@requires("owner")
async def update_client(client_id: str) -> Response:
    form = await request.form
    return await client_action(
        client_id,
        lambda: services().actions.update_client(
            actor(),
            client_id,
            name=form.get("name", "").strip() or None,
            handoff_mode=form.get("handoff_mode") or None,
            post_login_redirect_url=form.get("post_login_redirect_url", "").strip() or None,
        ),
    )


@bp.post("/clients/<client_id>/redirect-uris")
@requires("owner")
async def add_redirect_uri(client_id: str) -> Response:
    form = await request.form
    return await client_action(
        client_id,
        lambda: services().actions.add_redirect_uri(actor(), client_id, form.get("uri", "")),
    )


@bp.post("/clients/<client_id>/redirect-uris/remove")
@requires("owner")
async def remove_redirect_uri(client_id: str) -> Response:
    form = await request.form
    return await client_action(
        client_id,
        lambda: services().actions.remove_redirect_uri(actor(), client_id, form.get("uri", "")),
    )


@bp.post("/clients/<client_id>/disable")
@requires("owner")
async def disable_client(client_id: str) -> Response:
    form = await request.form
    disabled = form.get("disabled") == "yes"
    return await client_action(
        client_id,
        lambda: services().actions.set_client_disabled(actor(), client_id, disabled),
    )


@bp.post("/clients/<client_id>/rotate-secret")
@requires("owner")
async def rotate_secret(client_id: str) -> Response:
    try:
        secret = await services().actions.rotate_secret(actor(), client_id)
    except ActionError as exc:
        return await client_page(client_id, 400, error=str(exc))
    return await admin_page("secret.html", client_id=client_id, secret=secret)


# ---- terms ----------------------------------------------------------------------------------
async def terms_page(status: int = 200, **extra: Any) -> Response:
    store = services().store
    return await admin_page(
        "terms.html",
        status,
        versions=await store.terms.versions(),
        current=await store.terms.current_version(),
        **extra,
    )


@bp.get("/terms")
async def terms() -> Response:
    return await terms_page()


@bp.post("/terms")
@requires("owner")
async def upload_terms() -> Response:
    form = await request.form
    files = await request.files
    body = form.get("body", "")
    if "file" in files and files["file"].filename:
        try:
            body = files["file"].read().decode("utf-8")
        except UnicodeDecodeError:
            return await terms_page(400, error="The file is not UTF-8 text.")
    try:
        await services().actions.upload_terms(
            actor(), form.get("version", "").strip(), form.get("language", ""), body
        )
    except ActionError as exc:
        return await terms_page(400, error=str(exc))
    return go("/admin/terms")


@bp.get("/terms/<version>/<language>")
async def preview_terms(version: str, language: str) -> Response:
    text = await services().store.terms.text(version, [language], drafts=True)
    if text is None:
        return await admin_page("error.html", 404, message="There is no such text.")
    return await admin_page("terms_preview.html", text=text, html=markdown.render(text.body_md))


@bp.post("/terms/<version>/publish")
@requires("owner")
async def publish_terms(version: str) -> Response:
    try:
        await services().actions.publish_terms(actor(), version)
    except ActionError as exc:
        return await terms_page(400, error=str(exc))
    return go("/admin/terms")


# ---- customers ------------------------------------------------------------------------------
@bp.get("/customers")
async def customers() -> Response:
    query = request.args.get("q", "").strip()[:320]
    found = await services().store.users.search(query) if query else []
    return await admin_page("customers.html", query=query, customers=found)


async def customer_page(user_id: int, status: int = 200, **extra: Any) -> Response:
    store = services().store
    user = await store.users.by_id(user_id)
    if user is None:
        return await admin_page("error.html", 404, message="There is no such customer.")
    throttle = await store.throttles.get([f"account:{user.email}"])
    return await admin_page(
        "customer.html",
        status,
        user=user,
        devices=await store.links.devices_of(user.id),
        history=await store.links.history(supplier_user_id=user.supplier_user_id),
        acceptances=await store.terms.acceptances_of(user.id),
        signins=await store.login_sessions.for_user(user.id),
        throttled=throttle.get(f"account:{user.email}"),
        **extra,
    )


@bp.get("/customers/<int:user_id>")
async def customer(user_id: int) -> Response:
    return await customer_page(user_id)


async def customer_action(user_id: int, action: Callable[[], Awaitable[Any]]) -> Response:
    try:
        await action()
    except ActionError as exc:
        return await customer_page(user_id, 400, error=str(exc))
    return go(f"/admin/customers/{user_id}")


@bp.post("/customers/<int:user_id>/disable")
@requires("operator")
async def disable_customer(user_id: int) -> Response:
    disabled = (await request.form).get("disabled") == "yes"
    return await customer_action(
        user_id, lambda: services().actions.set_customer_disabled(actor(), user_id, disabled)
    )


@bp.post("/customers/<int:user_id>/clear-throttle")
@requires("operator")
async def clear_throttle(user_id: int) -> Response:
    return await customer_action(
        user_id, lambda: services().actions.clear_throttle(actor(), user_id)
    )


# ---- outbox, audit log, admins ----------------------------------------------------------------
@bp.get("/outbox")
async def outbox() -> Response:
    store = services().store
    return await admin_page(
        "outbox.html",
        pending=await store.outbox.list("pending"),
        failed=await store.outbox.list("failed"),
        expired=await store.outbox.list("expired"),
    )


@bp.post("/outbox/<handoff_id>/retry")
@requires("operator")
async def retry(handoff_id: str) -> Response:
    try:
        await services().actions.retry_handoff(actor(), handoff_id)
    except ActionError as exc:
        return await admin_page("error.html", 400, message=str(exc))
    return go("/admin/outbox")


# ---- device moves held for an operator (flow 2) ----------------------------------------------
@bp.get("/links/held")
async def held_links() -> Response:
    return await admin_page("held_links.html", held=await services().store.links.held())


@bp.post("/links/held/<held_id>/<decision>")
@requires("operator")
async def decide_held_link(held_id: str, decision: str) -> Response:
    if decision not in ("approve", "reject"):
        return await admin_page("error.html", 404, message="No such decision.")
    try:
        await services().actions.decide_held_link(actor(), held_id, decision == "approve")
    except ActionError as exc:
        return await admin_page("error.html", 400, message=str(exc))
    return go("/admin/links/held")


def day(value: str | None, plus: int = 0) -> int | None:
    """A YYYY-MM-DD filter as Unix seconds at the start of that day (UTC), or None."""
    if not value:
        return None
    try:
        start = dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return int((start + dt.timedelta(days=plus)).timestamp())


@bp.get("/audit")
async def audit() -> Response:
    args = request.args
    events = await services().store.events.recent(
        kind=args.get("kind") or None,
        actor=args.get("actor") or None,
        since=day(args.get("since")),
        until=day(args.get("until"), plus=1),
        limit=500,
    )
    return await admin_page("audit.html", events=events, filters=args)


@bp.get("/admins")
async def admins() -> Response:
    return await admin_page("admins.html", admins=await services().store.admins.all())


@bp.post("/admins")
@requires("owner")
async def add_admin() -> Response:
    form = await request.form
    svc = services()
    try:
        uri = await svc.actions.add_admin(
            actor(),
            form.get("email", "").strip(),
            form.get("role", ""),
            form.get("password", ""),
            svc.settings.supplier_name,
        )
    except ActionError as exc:
        return await admin_page(
            "admins.html", 400, admins=await svc.store.admins.all(), error=str(exc)
        )
    return await admin_page("admin_created.html", email=form.get("email"), totp_uri=uri)


# ---- the admin's own authenticator --------------------------------------------------------
@bp.get("/totp")
async def totp_form() -> Response:
    return await admin_page("totp.html")


@bp.post("/totp")
async def reenrol_totp() -> Response:
    """A new TOTP secret for the signed-in admin, after their password and a current code.
    Only ever for oneself: no admin, the owner included, sees another admin's secret."""
    svc, me = services(), admin()
    form = await request.form
    password, code = form.get("password", "")[:1024], form.get("code", "")[:16]
    now, ip = svc.clock.now(), client_ip()
    attempt = await svc.admin_throttle.attempt(me.email, ip, now)
    if attempt.wait:
        await svc.security_event(
            "admin_signin_throttled",
            me.email,
            {"wait": attempt.wait},
            ip,
            once_within=THROTTLED_EVENT_WINDOW,
        )
        return await admin_page(
            "totp.html", 429, error=f"Too many failed attempts. Wait {attempt.wait} seconds."
        )
    try:
        check = await passwords.verify_async(password, me.password_hash)
    except passwords.PasswordPoolFull:
        await svc.admin_throttle.not_checked(attempt)
        raise
    step = matching_step(me.totp_secret, code, now)
    if not check.ok or step is None or not await svc.store.admins.use_totp_step(me.id, step):
        await svc.security_event("admin_totp_reenrol_failed", me.email, {}, ip)
        return await admin_page("totp.html", 401, error="The password or code is not correct.")
    await svc.admin_throttle.succeeded(attempt)
    raw = request.cookies.get(ADMIN_COOKIE, "")
    uri = await svc.actions.reenrol_totp(actor(), me.id, digest(raw), svc.settings.supplier_name)
    return await admin_page("totp_enrolled.html", totp_uri=uri)
