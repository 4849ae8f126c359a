"""The browser's identity, its CSRF token and its sign-in session cookie.

The `idp_browser` cookie (Quart's signed session) carries a random browser id, which binds each
authentication session to the browser that started it, and the CSRF token every form echoes. The
`idp_sid` cookie carries the sign-in session id; only its digest is stored, and it is replaced at
every sign-in (no session fixation).
"""

from __future__ import annotations

from quart import Response, request, session

from idp.security.secrets import digest, new_secret, same

SIGNIN_COOKIE = "idp_sid"


def browser_id() -> str:
    if "bid" not in session:
        session["bid"] = new_secret(24)
    return str(session["bid"])


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = new_secret(24)
    return str(session["csrf"])


def rotate_csrf() -> str:
    """A new CSRF token, at a change of privilege (an admin signing in): a token read before
    it is worth nothing after."""
    session["csrf"] = new_secret(24)
    return str(session["csrf"])


def csrf_ok(submitted: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and submitted) and same(str(expected), str(submitted))


def signin_cookie_digest() -> str | None:
    raw = request.cookies.get(SIGNIN_COOKIE)
    return digest(raw) if raw else None


def set_signin_cookie(response: Response, raw_id: str, max_age: int, secure: bool) -> None:
    response.set_cookie(
        SIGNIN_COOKIE,
        raw_id,
        max_age=max_age,
        secure=secure,
        httponly=True,
        samesite="Lax",
        path="/",
    )
