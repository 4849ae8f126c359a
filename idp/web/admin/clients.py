"""OAuth clients: register (NOX preset included), rename, hand-off, grant types and scopes,
redirect URIs and post-logout redirect URIs, secrets. Rotating the secret and disabling need a
ticked box, as erasing a customer does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from quart import Blueprint, Response, request

from idp.admin.actions import ActionError
from idp.admin.clients import DEFAULT_AUTH_METHOD, REGISTRABLE_SCOPES
from idp.i18n import gettext as _
from idp.vocab import GRANT_TYPES, UriKind
from idp.web.admin.pages import Console, actor
from idp.web.common import go

URI_PATHS: dict[str, UriKind] = {"redirect-uris": "redirect", "post-logout-uris": "post_logout"}


def register(bp: Blueprint, console: Console) -> None:
    actions, queries = console.actions, console.queries

    async def clients_page(status: int = 200, **extra: Any) -> Response:
        return await console.page(
            "clients.html",
            status,
            clients=await queries.clients(),
            nox_post_login_url=queries.nox_post_login_url(),
            **extra,
        )

    async def client_page(client_id: str, status: int = 200, **extra: Any) -> Response:
        client = await queries.client(client_id)
        if client is None:
            return await console.error(404, _("There is no such client."))
        return await console.page(
            "client.html",
            status,
            client=client,
            grant_types=GRANT_TYPES,
            scopes=list(dict.fromkeys((*REGISTRABLE_SCOPES, *client.scopes))),
            **extra,
        )

    async def client_action(client_id: str, action: Callable[[], Awaitable[Any]]) -> Response:
        """Run the change; back to the client's page, or that page with why it was refused."""
        try:
            await action()
        except ActionError as exc:
            return await client_page(client_id, 400, error=str(exc))
        return go(f"/admin/clients/{client_id}")

    @bp.get("/clients")
    async def clients() -> Response:
        return await clients_page()

    @bp.post("/clients")
    @console.requires("owner")
    async def create_client() -> Response:
        form = await request.form
        try:
            secret = await actions.create_client(
                actor(),
                client_id=form.get("client_id", "").strip(),
                name=form.get("name", "").strip(),
                redirect_uris=[
                    u.strip() for u in form.get("redirect_uris", "").splitlines() if u.strip()
                ],
                auth_method=form.get("auth_method", DEFAULT_AUTH_METHOD),
                handoff_mode=form.get("handoff_mode") or None,
                post_login_redirect_url=form.get("post_login_redirect_url", "").strip() or None,
                preset=form.get("preset") or None,
            )
        except ActionError as exc:
            return await clients_page(400, error=str(exc))
        return await console.page("secret.html", client_id=form.get("client_id"), secret=secret)

    @bp.get("/clients/<client_id>")
    async def client_detail(client_id: str) -> Response:
        return await client_page(client_id)

    @bp.post("/clients/<client_id>")
    @console.requires("owner")
    async def update_client(client_id: str) -> Response:
        form = await request.form
        return await client_action(
            client_id,
            lambda: actions.update_client(
                actor(),
                client_id,
                name=form.get("name", "").strip() or None,
                handoff_mode=form.get("handoff_mode") or None,
                post_login_redirect_url=form.get("post_login_redirect_url", "").strip() or None,
                backchannel_logout_uri=form.get("backchannel_logout_uri"),  # "" clears it
            ),
        )

    @bp.post("/clients/<client_id>/<any('redirect-uris', 'post-logout-uris'):uris>")
    @console.requires("owner")
    async def add_redirect_uri(client_id: str, uris: str) -> Response:
        uri, kind = (await request.form).get("uri", ""), URI_PATHS[uris]
        return await client_action(
            client_id, lambda: actions.add_redirect_uri(actor(), client_id, uri, kind)
        )

    @bp.post("/clients/<client_id>/<any('redirect-uris', 'post-logout-uris'):uris>/remove")
    @console.requires("owner")
    async def remove_redirect_uri(client_id: str, uris: str) -> Response:
        uri, kind = (await request.form).get("uri", ""), URI_PATHS[uris]
        return await client_action(
            client_id, lambda: actions.remove_redirect_uri(actor(), client_id, uri, kind)
        )

    @bp.post("/clients/<client_id>/grants")
    @console.requires("owner")
    async def set_grants(client_id: str) -> Response:
        form = await request.form
        return await client_action(
            client_id,
            lambda: actions.set_client_grants(
                actor(),
                client_id,
                grant_types=form.getlist("grant_type")[:8],
                scopes=[s[:64] for s in form.getlist("scope")[:32]],
            ),
        )

    @bp.post("/clients/<client_id>/disable")
    @console.requires("owner")
    async def disable_client(client_id: str) -> Response:
        form = await request.form
        disabled = form.get("disabled") == "yes"
        if disabled and form.get("confirm") != "yes":
            error = _("Tick the box to confirm disabling the client; nothing was changed.")
            return await client_page(client_id, 400, error=error)
        return await client_action(
            client_id, lambda: actions.set_client_disabled(actor(), client_id, disabled)
        )

    @bp.post("/clients/<client_id>/rotate-secret")
    @console.requires("owner")
    async def rotate_secret(client_id: str) -> Response:
        if (await request.form).get("confirm") != "yes":
            error = _("Tick the box to confirm the new secret; the old one still works.")
            return await client_page(client_id, 400, error=error)
        try:
            secret = await actions.rotate_secret(actor(), client_id)
        except ActionError as exc:
            return await client_page(client_id, 400, error=str(exc))
        return await console.page("secret.html", client_id=client_id, secret=secret)
