"""GET/POST /authorize: validate the request, open an authentication session, send the browser on.

A pipeline of checks. Until the client and its redirect URI are verified, every error is an HTML
page (400); after that, errors go to the client with `error`, `state` and `iss`.
"""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from quart import Blueprint, Response, request

from idp.i18n import pick_language, set_language
from idp.protocol.bridge import in_thread
from idp.security.browser import browser_id
from idp.security.secrets import new_secret
from idp.store.records import AuthSession
from idp.store.sessions import PENDING
from idp.web.common import go, protocol_request, services
from idp.web.flow import (
    advance,
    client_error_url,
    invalid_request_page,
    respond,
    signed_in_subject,
)

bp = Blueprint("authorize", __name__)

KNOWN_PROMPTS = {"none", "login", "consent", "select_account"}


def extra_checks(params: dict[str, str]) -> tuple[str, str] | None:
    """What OIDC Core asks of the request beyond Authlib's checks, as (error, description)."""
    if "request" in params:
        return "request_not_supported", "The 'request' parameter is not supported"  # OIDC §6
    if "request_uri" in params:
        return "request_uri_not_supported", "The 'request_uri' parameter is not supported"
    if params.get("response_mode", "query") not in ("query", "form_post"):
        return "invalid_request", "response_mode must be query or form_post"
    prompts = params.get("prompt", "").split()
    unknown = set(prompts) - KNOWN_PROMPTS
    if unknown:
        return "invalid_request", f"Unsupported prompt value: {sorted(unknown)[0]}"
    max_age = params.get("max_age")
    if max_age is not None and not (max_age.isdigit() and len(max_age) < 10):
        return "invalid_request", "'max_age' must be a non-negative integer"
    if "openid" in params.get("scope", "").split() and not params.get("redirect_uri"):
        return "invalid_request", "'redirect_uri' is required for OpenID Connect requests"
    return None


@bp.route("/authorize", methods=["GET", "POST"])
async def authorize() -> Response:
    svc = services()
    req = await protocol_request("/authorize")
    params = req.payload.data
    set_language(pick_language(params.get("language"), params.get("ui_locales")))
    now = svc.clock.now()

    subject = await signed_in_subject()
    prompts = params.get("prompt", "").split()
    max_age = params.get("max_age", "")
    force_login = "login" in prompts or (
        subject is not None and max_age.isdigit() and now - subject.auth_time > int(max_age)
    )
    try:
        grant = await in_thread(
            svc.server.get_consent_grant, req, end_user=None if force_login else subject
        )
    except OAuth2Error as error:
        if error.redirect_uri:
            # Verified redirect URI: Authlib built the error response; add RFC 9207 `iss`.
            location = error(None)[2][0][1]
            sep = "&" if "?" in location else "?"
            return go(location + sep + urlencode({"iss": svc.settings.issuer}))
        return await invalid_request_page(error)

    auth = AuthSession(
        id=new_secret(24),
        browser_id=browser_id(),
        client_id=grant.client.get_client_id(),
        query=urlencode(list(req.payload.data.items())),
        redirect_uri=grant.redirect_uri,
        state=params.get("state"),
        language=pick_language(params.get("language"), params.get("ui_locales")),
        force_login=force_login,
        user_id=None,
        auth_time=None,
        status=PENDING,
        created_at=now,
        expires_at=now + svc.settings.auth_session_seconds,
    )
    problem = extra_checks(params)
    if problem:
        return await respond(auth, client_error_url(auth, *problem))
    await svc.store.auth_sessions.add(auth)
    return await advance(auth, subject)


@bp.before_app_request
async def _default_language() -> None:
    set_language(pick_language(request.args.get("language"), request.args.get("ui_locales")))
