"""GET/POST /authorize as a pipeline of named checks, then a new authentication session.

Until the client and its redirect URI are verified, every error is a page (RFC 6749 §4.1.2.1);
after that, errors go to the client with `error`, `state` and `iss`. The redirect URI itself is
checked by Authlib against the client's registered list, by exact string comparison
(oauth/redirect_uris.py, RFC 9700 §4.1.3), through the facade.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlencode

from idp.i18n import gettext as _
from idp.i18n import pick_language
from idp.oauth.facade import HttpCall, OAuth, RefusedAuthorization
from idp.oauth.models import Subject
from idp.records import AuthSession
from idp.security.clock import Clock
from idp.security.secrets import new_secret
from idp.security.throttle import RateLimit
from idp.signin.decisions import Decision, InvalidRequest, Refused, ToClient
from idp.signin.responses import ClientResponses
from idp.signin.steps import Steps
from idp.signin.window import Window
from idp.store.sessions import AuthSessions
from idp.vocab import AUTH_PENDING

KNOWN_PROMPTS = {"none", "login", "consent", "select_account"}
# The parameters this flow reads (ours, RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1), each
# with the longest value accepted. Only these are kept in the authentication session: they are
# all Authlib needs to validate the stored request again when it issues the code (steps.finish).
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


def oidc_problem(params: dict[str, str]) -> tuple[str, str] | None:
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


def must_sign_in_again(params: dict[str, str], subject: Subject | None, now: int) -> bool:
    """prompt=login, or a sign-in older than max_age (OIDC Core §3.1.2.1)."""
    max_age = params.get("max_age", "")
    return "login" in params.get("prompt", "").split() or (
        subject is not None and max_age.isdigit() and now - subject.auth_time > int(max_age)
    )


class Authorize:
    def __init__(
        self,
        oauth: OAuth,
        sessions: AuthSessions,
        window: Window,
        steps: Steps,
        responses: ClientResponses,
        new_sessions: RateLimit,
        clock: Clock,
    ) -> None:
        self.oauth = oauth
        self.sessions = sessions
        self.window = window
        self.steps = steps
        self.responses = responses
        self.new_sessions = new_sessions
        self.clock = clock

    async def open(
        self, call: HttpCall, subject: Subject | None, browser_id: str, ip: str
    ) -> Decision:
        """Check the request, open its authentication session and take the first step."""
        # RFC 6749 §3.1: the query, or the form of a POST; the first value of each name.
        params = dict(reversed(call.form if call.method == "POST" else call.query))
        too_long = oversized(params, PAGE_ONLY)
        if too_long:
            return InvalidRequest("invalid_request", f"'{too_long}' is too long")
        bad = malformed(params)
        if bad:
            return InvalidRequest(
                "invalid_request", f"'{bad}' has characters RFC 6749 does not allow"
            )
        now = self.clock.now()
        force_login = must_sign_in_again(params, subject, now)
        # Client, redirect URI (exact match), response type, scope, PKCE: Authlib's checks.
        verified = await self.oauth.check_authorization(call, None if force_login else subject)
        if isinstance(verified, RefusedAuthorization):
            if verified.redirect_url:  # the redirect URI was verified: the client gets the error
                return ToClient(verified.redirect_url)
            return InvalidRequest(verified.error, verified.description)

        language = pick_language(params.get("language"), params.get("ui_locales"))
        auth = AuthSession(
            id=new_secret(24),
            browser_id=browser_id,
            client_id=verified.client_id,
            query=kept_query(params),
            redirect_uri=verified.redirect_uri,
            state=params.get("state"),
            language=language,
            force_login=force_login,
            user_id=None,
            auth_time=None,
            status=AUTH_PENDING,
            created_at=now,
            expires_at=self.window.deadline(now),
        )
        problem = oidc_problem(params)
        if problem:
            return await self.responses.deliver(auth, self.responses.error_url(auth, *problem))
        wait = await self.new_sessions.wait(ip, now)
        if wait:  # each session is a stored row: anonymous floods must not fill the database
            message = _(
                "Too many sign-in requests from your network. Please wait %(seconds)s "
                "seconds and try again."
            )
            return Refused(429, message % {"seconds": wait}, retry_after=wait)
        await self.sessions.add(auth)
        return await self.steps.advance(auth, subject)
