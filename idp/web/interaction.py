"""The pages the customer meets inside an authentication session: sign in, "Continue as", terms.

Each route loads the session through the window (signin/window.py), checks the CSRF token of a
form, calls one use case and renders its decision."""

from __future__ import annotations

from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from idp.i18n import LANGUAGE_NAMES
from idp.records import AuthSession
from idp.security.browser import (
    browser_id,
    csrf_ok,
    csrf_token,
    set_signin_cookie,
    signin_cookie_digest,
)
from idp.signin import SignIn
from idp.signin.decisions import Ended, Step
from idp.signin.steps import confirm_url, login_url
from idp.web.common import client_ip, forbidden_form, go, page, user_agent, valid_id
from idp.web.signin_pages import render, sign_out


def blueprint(signin: SignIn) -> Blueprint:
    bp = Blueprint("interaction", __name__)
    steps = signin.steps

    async def load(session_id: str) -> AuthSession | Response:
        """The authentication session of this browser, or the page that explains why not."""
        loaded = await signin.window.load(
            session_id if valid_id(session_id) else None, browser_id()
        )
        return loaded if isinstance(loaded, AuthSession) else await render(loaded)

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
        return await page(
            "login.html",
            status=status,
            action=login_url(auth),
            cancel_action=f"/interaction/{auth.id}/cancel",
            switch_language=login_url(auth),
            languages=LANGUAGE_NAMES,
            client_name=await steps.client_name(auth),
            csrf_token=csrf_token(),
            error=error,
            email=email,
            password_reset_url=signin.password_reset_url,
        )

    @bp.get("/interaction/<session_id>/login")
    async def login_form(session_id: str) -> Response:
        auth = await load(session_id)
        if isinstance(auth, Response):
            return auth
        chosen = request.args.get("language")
        if chosen:  # the language switcher: same session, another language
            auth = await signin.window.choose_language(auth, chosen)
        return await login_page(auth)

    @bp.post("/interaction/<session_id>/cancel")
    async def cancel(session_id: str) -> Response:
        """ "Back to <client>": the client gets access_denied, the browser goes back to it."""
        loaded = await load_posted(session_id)
        if isinstance(loaded, Response):
            return loaded
        return await render(await signin.answers.cancel(loaded[0]))

    @bp.post("/interaction/<session_id>/login")
    async def login_submit(session_id: str) -> Response:
        loaded = await load_posted(session_id)
        if isinstance(loaded, Response):
            return loaded
        auth, form = loaded
        email = form.get("email", "")
        result = await signin.customers.sign_in(
            email,
            form.get("password", ""),
            client_ip(),
            user_agent(),
            {"client_id": auth.client_id},
        )
        if result.user is None or result.raw_session_id is None:
            refused = await login_page(auth, result.status, result.error, email.strip()[:320])
            if result.retry_after:
                refused.headers["Retry-After"] = str(result.retry_after)
            return refused
        response = await render(await signin.answers.signed_in(auth, result.user))
        set_signin_cookie(
            response, result.raw_session_id, signin.login_session_seconds, signin.cookie_secure
        )
        return response

    @bp.get("/interaction/<session_id>/terms")
    async def terms_form(session_id: str) -> Response:
        auth = await load(session_id)
        if isinstance(auth, Response):
            return auth
        subject = await steps.terms_subject(auth, signin_cookie_digest())
        if isinstance(subject, Step):
            return await render(subject)
        terms = await steps.terms_to_show(auth, subject)
        if terms is None:
            return await render(await steps.advance(auth, subject))
        if isinstance(terms, Ended):
            return await render(terms)
        return await render(await steps.show_terms(auth, terms))

    @bp.post("/interaction/<session_id>/terms")
    async def terms_submit(session_id: str) -> Response:
        loaded = await load_posted(session_id)
        if isinstance(loaded, Response):
            return loaded
        auth, form = loaded
        decision = await signin.answers.terms(
            auth,
            signin_cookie_digest(),
            action=form.get("action"),
            version=form.get("version"),
            ticked=form.get("accept_terms") == "yes",
            ip=client_ip(),
            user_agent=user_agent(),
        )
        return await render(decision)

    @bp.get("/interaction/<session_id>/confirm")
    async def confirm_form(session_id: str) -> Response:
        """ "Continue as <name> to <client>?" for a customer this browser remembers."""
        auth = await load(session_id)
        if isinstance(auth, Response):
            return auth
        subject = await steps.signed_in_for(auth, signin_cookie_digest())
        if subject is None:
            return go(login_url(auth))
        return await page(
            "confirm.html",
            action=confirm_url(auth),
            client_name=await steps.client_name(auth),
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
        decision = await signin.answers.confirm(auth, signin_cookie_digest(), form.get("action"))
        response = await render(decision)
        if isinstance(decision, Step) and decision.sign_out:
            await sign_out(signin.customers, response)
        return response

    return bp
