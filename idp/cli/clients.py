"""OAuth clients: registration, hand-off, redirect URIs, secrets."""

from __future__ import annotations

import json
from typing import Any

import click

from idp.admin.actions import Actor, AdminActions
from idp.cli.base import main, read_stdin_secret, with_actions, with_store
from idp.oauth.registration import (
    RegistrationError,
    validate_redirect_uri,
    validate_secret,
)
from idp.security.secrets import new_secret
from idp.store import Store
from idp.vocab import CLIENT_AUTH_METHODS

HANDOFF_MODE = click.option(
    "--handoff-mode",
    type=click.Choice(["backchannel", "form_post", "redirect"]),
    help="How the customer is handed over: POST to NOX plus the code redirect (backchannel), "
    "a form post to the redirect URI (form_post), or the plain code redirect (redirect; the "
    "default, except for --preset nox).",
)
POST_LOGIN_REDIRECT_URL = click.option(
    "--post-login-redirect-url", help="NOX's POST /post-login-redirect URL (for backchannel)."
)


def check_handoff(mode: str, url: str | None) -> str:
    if mode == "backchannel" and not url:
        raise click.ClickException("--handoff-mode backchannel needs --post-login-redirect-url")
    if url:
        try:
            validate_redirect_uri(url)
        except RegistrationError as exc:
            raise click.ClickException(f"--post-login-redirect-url: {exc}") from None
    return mode


# ---- clients --------------------------------------------------------------------------------
@main.group()
def clients() -> None:
    """OAuth clients such as NOX."""


@clients.command("add")
@click.option(
    "--preset",
    type=click.Choice(["nox"]),
    help="nox: register NOX (id nox, name NOX Energy) with the back-channel hand-off to "
    "{IDP_NOX_AUTH_BASE}/post-login-redirect, unless the options below say otherwise.",
)
@click.option("--client-id", help="Required unless --preset gives one.")
@click.option("--name", help="Required unless --preset gives one.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Repeat for more than one.")
@click.option(
    "--auth-method",
    type=click.Choice(CLIENT_AUTH_METHODS),
    default="client_secret_basic",
    show_default=True,
)
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]),
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="Allowed scopes (default: openid profile email offline_access).",
)
@click.option("--secret-stdin", is_flag=True, help="Read the client secret from stdin.")
@HANDOFF_MODE
@POST_LOGIN_REDIRECT_URL
def clients_add(
    preset: str | None,
    client_id: str | None,
    name: str | None,
    redirect_uris: tuple[str, ...],
    auth_method: str,
    grant_types: tuple[str, ...],
    scopes: tuple[str, ...],
    secret_stdin: bool,
    handoff_mode: str | None,
    post_login_redirect_url: str | None,
) -> None:
    """Register a client. A generated secret is printed once; only its hash is kept."""
    if preset is None and not (client_id and name):
        raise click.ClickException("--client-id and --name are required (or use --preset nox)")
    client_id = client_id or "nox"
    try:
        uris = [validate_redirect_uri(u) for u in redirect_uris]
        secret = None
        if auth_method != "none":
            secret = (
                validate_secret(read_stdin_secret("secret")) if secret_stdin else new_secret(32)
            )
        elif secret_stdin:
            raise RegistrationError("a public client (--auth-method none) has no secret")
    except RegistrationError as exc:
        raise click.ClickException(str(exc)) from None
    kinds = list(grant_types) or (
        ["authorization_code", "refresh_token"] if uris else ["client_credentials"]
    )
    if auth_method == "none" and "client_credentials" in kinds:
        raise click.ClickException(
            "a public client (--auth-method none) cannot use client_credentials"
        )
    if "authorization_code" in kinds and not uris:
        raise click.ClickException("an authorization_code client needs at least one --redirect-uri")
    allowed = list(scopes) or ["openid", "profile", "email", "offline_access"]
    if handoff_mode or preset is None:
        handoff_mode = check_handoff(handoff_mode or "redirect", post_login_redirect_url)

    async def add(actions: AdminActions, actor: Actor) -> None:
        await actions.create_client(
            actor,
            client_id=client_id,
            name=name or "",
            redirect_uris=uris,
            auth_method=auth_method,
            grant_types=kinds,
            scopes=allowed,
            secret=secret,
            handoff_mode=handoff_mode,
            post_login_redirect_url=post_login_redirect_url,
            preset=preset,
        )

    with_actions(add)
    click.echo(f"added client {client_id}")
    if secret and not secret_stdin:
        click.echo(f"client secret (shown once): {secret}")


@clients.command("update")
@click.argument("client_id")
@click.option("--name")
@HANDOFF_MODE
@POST_LOGIN_REDIRECT_URL
def clients_update(
    client_id: str,
    name: str | None,
    handoff_mode: str | None,
    post_login_redirect_url: str | None,
) -> None:
    """Change a client's name, hand-off mode or post-login-redirect URL."""

    if post_login_redirect_url:
        check_handoff("redirect", post_login_redirect_url)

    async def run(actions: AdminActions, actor: Actor) -> None:
        await actions.update_client(
            actor,
            client_id,
            name=name,
            handoff_mode=handoff_mode,
            post_login_redirect_url=post_login_redirect_url,
        )

    with_actions(run)
    click.echo(f"updated client {client_id}")


@clients.group("redirect-uris")
def redirect_uris() -> None:
    """A client's registered redirect URIs (matched by exact string comparison)."""


@redirect_uris.command("add")
@click.argument("client_id")
@click.argument("uri")
def redirect_uris_add(client_id: str, uri: str) -> None:
    """Register one more redirect URI; it is accepted at /authorize at once."""
    with_actions(lambda actions, actor: actions.add_redirect_uri(actor, client_id, uri))
    click.echo(f"added {uri} to {client_id}")


@redirect_uris.command("remove")
@click.argument("client_id")
@click.argument("uri")
def redirect_uris_remove(client_id: str, uri: str) -> None:
    """Remove a redirect URI; requests using it get the error page at once."""
    with_actions(lambda actions, actor: actions.remove_redirect_uri(actor, client_id, uri))
    click.echo(f"removed {uri} from {client_id}")


@clients.command("rotate-secret")
@click.argument("client_id")
def clients_rotate_secret(client_id: str) -> None:
    """A new client secret (printed once); the old one stops working."""
    secret = with_actions(lambda actions, actor: actions.rotate_secret(actor, client_id))
    click.echo(f"client secret (shown once): {secret}")


@clients.command("disable")
@click.argument("client_id")
def clients_disable(client_id: str) -> None:
    """Refuse the client everywhere until enabled again."""
    with_actions(lambda actions, actor: actions.set_client_disabled(actor, client_id, True))
    click.echo(f"disabled client {client_id}")


@clients.command("enable")
@click.argument("client_id")
def clients_enable(client_id: str) -> None:
    """Accept a disabled client again."""
    with_actions(lambda actions, actor: actions.set_client_disabled(actor, client_id, False))
    click.echo(f"enabled client {client_id}")


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
def clients_list(as_json: bool) -> None:
    """List the registered clients."""

    async def run(store: Store) -> list[Any]:
        return await store.clients.all()

    found = with_store(run)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "client_id": c.client_id,
                        "name": c.name,
                        "auth_method": c.token_endpoint_auth_method,
                        "grant_types": c.grant_types,
                        "scopes": c.scopes,
                        "redirect_uris": c.redirect_uris,
                        "handoff_mode": c.handoff_mode,
                        "post_login_redirect_url": c.post_login_redirect_url,
                        "preset": c.preset,
                        "disabled": c.disabled,
                    }
                    for c in found
                ],
                indent=2,
            )
        )
        return
    for c in found:
        click.echo(
            f"{c.client_id}\t{c.name}\t{c.token_endpoint_auth_method}\t{' '.join(c.redirect_uris)}"
        )
