"""Terms and conditions: upload a text (a draft), preview it, publish a version, make an earlier
one current again (roll back), take back one nobody accepted (unpublish)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from markdown_it import MarkdownIt
from quart import Blueprint, Response, request

from idp.admin.actions import ActionError
from idp.i18n import gettext as _
from idp.web.admin.pages import Console, actor
from idp.web.common import go

# CommonMark without raw HTML: an uploaded text cannot put markup or script on the page.
markdown = MarkdownIt("commonmark", {"html": False})


def register(bp: Blueprint, console: Console) -> None:
    actions, queries = console.actions, console.queries

    async def terms_page(status: int = 200, **extra: Any) -> Response:
        found = await queries.terms()
        return await console.page(
            "terms.html",
            status,
            versions=found.versions,
            current=found.current,
            earlier=[v for v in found.published if v != found.current],
            unaccepted=found.unaccepted,
            **extra,
        )

    @bp.get("/terms")
    async def terms() -> Response:
        return await terms_page()

    @bp.post("/terms")
    @console.requires("owner")
    async def upload_terms() -> Response:
        form = await request.form
        files = await request.files
        body = form.get("body", "")
        if "file" in files and files["file"].filename:
            try:
                body = files["file"].read().decode("utf-8")
            except UnicodeDecodeError:
                return await terms_page(400, error=_("The file is not UTF-8 text."))
        try:
            await actions.upload_terms(
                actor(), form.get("version", "").strip(), form.get("language", ""), body
            )
        except ActionError as exc:
            return await terms_page(400, error=str(exc))
        return go("/admin/terms")

    @bp.get("/terms/<version>/<language>")
    async def preview_terms(version: str, language: str) -> Response:
        text = await queries.terms_text(version, language)
        if text is None:
            return await console.error(404, _("There is no such text."))
        html = markdown.render(text.body_md)
        return await console.page("terms_preview.html", text=text, html=html)

    async def terms_action(action: Callable[[], Awaitable[Any]]) -> Response:
        try:
            await action()
        except ActionError as exc:
            return await terms_page(400, error=str(exc))
        return go("/admin/terms")

    @bp.post("/terms/<version>/publish")
    @console.requires("owner")
    async def publish_terms(version: str) -> Response:
        return await terms_action(lambda: actions.publish_terms(actor(), version))

    @bp.post("/terms/current")
    @console.requires("owner")
    async def make_terms_current() -> Response:
        """Roll back to an earlier published version (the form names it)."""
        chosen = (await request.form).get("version", "")[:64]
        return await terms_action(lambda: actions.make_terms_current(actor(), chosen))

    @bp.post("/terms/unpublish")
    @console.requires("owner")
    async def unpublish_terms() -> Response:
        chosen = (await request.form).get("version", "")[:64]
        return await terms_action(lambda: actions.unpublish_terms(actor(), chosen))
