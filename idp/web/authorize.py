"""GET/POST /authorize: validate the request, open an authentication session, send the browser on.

A pipeline of checks. Until the client and its redirect URI are verified, every error is an HTML
page (400); after that, errors go to the client with `error`, `state` and `iss`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlencode

from quart import Blueprint, Response, request

from idp.i18n import gettext as _
from idp.i18n import pick_language, set_language
from idp.oauth.facade import RefusedAuthorization
from idp.records import AuthSession
from idp.security.browser import browser_id
from idp.security.secrets import new_secret
from idp.vocab import AUTH_PENDING
from idp.web.common import client_ip, go, http_call, page, services
from idp.web.flow import (
    advance,
    client_error_url,
    invalid_request_page,
    respond,
    signed_in_subject,
)

bp = Blueprint("authorize", __name__)

KNOWN_PROMPTS = {"none", "login", "consent", "select_account"}
# The parameters this flow reads (ours, RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1), each
# with the longest value accepted. Only these are kept in the authentication session: they are
# all Authlib needs to validate the stored request again when it issues the code (flow.py).
KEPT_PARAMS = {
    "response_type": 32,
    "client_id": 128,
    "redirect_uri": 2048,
    "scope": 1024,
    "state": 2048,
    "nonce": 512,
    "code_challenge": 128,  # RFC 7636 §4.2: 43 characters for S256
    "code_challenge_method": 16,
    "response_mode": 32,
    "prompt": 64,
    "max_age": 16,
    "language": 16,
    "ui_locales": 64,
}
# RFC 6749 Appendix A: these parameters are VSCHAR (or URIs, which are narrower). Anything else
# is refused before Authlib sees it: Authlib echoes some of them (response_type, redirect_uri)
# in error descriptions, which may not carry such characters (RFC 6749 §4.1.2.1).
VSCHAR = re.compile(r"[\x20-\x7e]*")
# Nor '"' or '\' (RFC 6749 §4.1.2.1, error_description), except in the two parameters Authlib
# never echoes and RFC 6749 / OIDC let carry any VSCHAR.
ECHO_SAFE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
ANY_VSCHAR = ("state", "nonce")
# Too long to be echoed or trusted: before the redirect URI is verified, or the state the error
# would carry back, only an error page is safe.
PAGE_ONLY = ("client_id", "redirect_uri", "state")


def oversized(params: dict[str, str], names: Iterable[str] = KEPT_PARAMS) -> str | None:
    """The first kept parameter whose value is longer than we accept, or None."""
    return next((n for n in names if len(params.get(n) or "") > KEPT_PARAMS[n]), None)


def malformed(params: dict[str, str]) -> str | None:
    """The first kept parameter with a character outside VSCHAR, or None."""
    for name in KEPT_PARAMS:
        allowed = VSCHAR if name in ANY_VSCHAR else ECHO_SAFE
        if not allowed.fullmatch(params.get(name) or ""):
            return name
    return None


def kept_query(params: dict[str, str]) -> str:
    """The stored part of the request: the kept parameters only, in a fixed order."""
    return urlencode([(name, params[name]) for name in KEPT_PARAMS if name in params])


def extra_checks(params: dict[str, str]) -> tuple[str, str] | None:
    """What OIDC Core asks of the request beyond Authlib's checks, as (error, description)."""
    too_long = oversized(params)
    if too_long:
        return "invalid_request", f"'{too_long}' is too long"
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
    call = await http_call("/authorize")
    # RFC 6749 §3.1: the query, or the form of a POST; the first value of each name.
    params = dict(reversed(call.form if request.method == "POST" else call.query))
    set_language(pick_language(params.get("language"), params.get("ui_locales")))
    now = svc.clock.now()
    too_long = oversized(params, PAGE_ONLY)
    if too_long:
        return await invalid_request_page("invalid_request", f"'{too_long}' is too long")
    bad = malformed(params)
    if bad:
        return await invalid_request_page(
            "invalid_request", f"'{bad}' has characters RFC 6749 does not allow"
        )

    subject = await signed_in_subject()
    prompts = params.get("prompt", "").split()
    max_age = params.get("max_age", "")
    force_login = "login" in prompts or (
        subject is not None and max_age.isdigit() and now - subject.auth_time > int(max_age)
    )
    grant = await svc.oauth.check_authorization(call, None if force_login else subject)
    if isinstance(grant, RefusedAuthorization):
        if grant.redirect_url:  # the redirect URI was verified: the error goes to the client
            return go(grant.redirect_url)
        return await invalid_request_page(grant.error, grant.description)

    auth = AuthSession(
        id=new_secret(24),
        browser_id=browser_id(),
        client_id=grant.client_id,
        query=kept_query(params),
        redirect_uri=grant.redirect_uri,
        state=params.get("state"),
        language=pick_language(params.get("language"), params.get("ui_locales")),
        force_login=force_login,
        user_id=None,
        auth_time=None,
        status=AUTH_PENDING,
        created_at=now,
        expires_at=now + svc.settings.auth_session_seconds,
    )
    problem = extra_checks(params)
    if problem:
        return await respond(auth, client_error_url(auth, *problem))
    wait = await svc.authorize_limit.wait(client_ip(), now)
    if wait:  # each session is a stored row: anonymous floods must not fill the database
        response = await page(
            "error.html",
            status=429,
            message=_(
                "Too many sign-in requests from your network. Please wait %(seconds)s "
                "seconds and try again."
            )
            % {"seconds": wait},
        )
        response.headers["Retry-After"] = str(wait)
        return response
    await svc.store.auth_sessions.add(auth)
    return await advance(auth, subject)


@bp.before_app_request
async def _default_language() -> None:
    set_language(pick_language(request.args.get("language"), request.args.get("ui_locales")))
