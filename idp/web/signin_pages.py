"""The sign-in use cases' decisions as responses, and the browser's sign-in cookie."""

from __future__ import annotations

from markdown_it import MarkdownIt
from quart import Response

from idp.i18n import LANGUAGE_NAMES
from idp.i18n import gettext as _
from idp.oauth.models import Subject
from idp.security.browser import SIGNIN_COOKIE, csrf_token, signin_cookie_digest
from idp.signin.customers import Customers
from idp.signin.decisions import (
    Decision,
    Ended,
    InvalidRequest,
    ShowTerms,
    Step,
    ToClient,
)
from idp.web.common import go, page

markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})

END_TEMPLATES = {
    "expired": ("expired.html", 400),
    "terms_unavailable": ("terms_unavailable.html", 503),
}


async def current_subject(customers: Customers) -> Subject | None:
    """The customer this browser is signed in as, if any and still allowed in."""
    return await customers.signed_in(signin_cookie_digest())


async def sign_out(customers: Customers, response: Response) -> None:
    """End this browser's sign-in: the stored sign-in session and its cookie."""
    await customers.sign_out(signin_cookie_digest())
    response.delete_cookie(SIGNIN_COOKIE, path="/")


async def to_client(decision: ToClient) -> Response:
    """A redirect, or for the form_post response mode a page whose form carries the
    parameters (OAuth 2.0 Form Post Response Mode)."""
    if decision.form_post_to is None:
        return go(decision.url)
    return await page("form_post.html", action=decision.form_post_to, fields=decision.fields)


async def render(decision: Decision, action: str | None = None) -> Response:
    """The response for a sign-in decision (`action`: the terms form's URL, for ShowTerms)."""
    if isinstance(decision, Step):
        return go(decision.url)
    if isinstance(decision, ToClient):
        return await to_client(decision)
    if isinstance(decision, Ended):
        template, status = END_TEMPLATES[decision.reason]
        way_back = decision.way_back
        form_post = way_back is not None and way_back.form_post_to is not None
        return await page(
            template,
            status=status,
            client_name=decision.client_name,
            return_url=way_back.url if way_back and not form_post else None,
            return_action=way_back.form_post_to if way_back else None,
            return_fields=way_back.fields if way_back else [],
        )
    if isinstance(decision, ShowTerms):
        return await terms_page(decision)
    if isinstance(decision, InvalidRequest):
        return await page(
            "error.html",
            status=400,
            message=_("This sign-in link is not valid. Please go back and try again."),
            error_code=decision.error,
            error_description=decision.description,
        )
    response = await page("error.html", status=decision.status, message=decision.message)
    if decision.retry_after:
        response.headers["Retry-After"] = str(decision.retry_after)
    return response


async def terms_page(decision: ShowTerms) -> Response:
    text = decision.terms.text
    return await page(
        "terms.html",
        status=decision.status,
        action=f"/interaction/{decision.session_id}/terms",
        client_name=decision.client_name,
        csrf_token=csrf_token(),
        version=decision.terms.version,
        terms_html=markdown.render(text.body_md),
        fallback_language=(
            LANGUAGE_NAMES[text.language] if text.language != decision.language else None
        ),
        error=decision.error,
    )
