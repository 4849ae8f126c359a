"""OAuth clients: registration, hand-off, redirect URIs, secrets.

The defaults and the checks are the console's (idp/admin/clients.py): these commands only read
options and call the same actions, which write the same audit rows.
"""

from __future__ import annotations

import json

import click

from idp.admin.clients import (
    DEFAULT_AUTH_METHOD,
    DEFAULT_SCOPES,
    NOX_CLIENT_ID,
    NOX_CLIENT_NAME,
    PRESETS,
)
from idp.cli.base import main, read_stdin_secret, with_actions, with_queries
from idp.vocab import CLIENT_AUTH_METHODS, GRANT_TYPES, HANDOFF_MODES

HANDOFF_MODE = click.option(
    "--handoff-mode",
    type=click.Choice(HANDOFF_MODES),
    help="How the customer is handed over: POST to NOX plus the code redirect (backchannel), "
    "a form post to the redirect URI (form_post), or the plain code redirect (redirect; the "
    "default, except for --preset nox).",
)
POST_LOGIN_REDIRECT_URL = click.option(
    "--post-login-redirect-url", help="NOX's POST /post-login-redirect URL (for backchannel)."
)


# ---- clients --------------------------------------------------------------------------------
@main.group()
def clients() -> None:
    """OAuth clients such as NOX."""


@clients.command("add")
@click.option(
    "--preset",
    type=click.Choice(PRESETS),
    help=f"nox: register NOX (id {NOX_CLIENT_ID}, name {NOX_CLIENT_NAME}) with the back-channel "
    "hand-off to {IDP_NOX_AUTH_BASE}/post-login-redirect, unless the options below say "
    "otherwise.",
)
@click.option("--client-id", help="Required unless --preset gives one.")
@click.option("--name", help="Required unless --preset gives one.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Repeat for more than one.")
@click.option(
    "--auth-method",
    type=click.Choice(CLIENT_AUTH_METHODS),
    default=DEFAULT_AUTH_METHOD,
    show_default=True,
)
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    type=click.Choice(GRANT_TYPES),
    help="Repeat for more than one (default: authorization_code and refresh_token with a "
    "redirect URI, client_credentials without).",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help=f"Allowed scopes (default: {' '.join(DEFAULT_SCOPES)}).",
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
    given = read_stdin_secret("secret") if secret_stdin else None
    secret = with_actions(
        lambda actions, actor: actions.create_client(
            actor,
            client_id=client_id or "",
            name=name or "",
            redirect_uris=list(redirect_uris),
            auth_method=auth_method,
            grant_types=list(grant_types) or None,
            scopes=list(scopes) or None,
            secret=given,
            handoff_mode=handoff_mode,
            post_login_redirect_url=post_login_redirect_url,
            preset=preset,
        )
    )
    click.echo(f"added client {client_id or NOX_CLIENT_ID}")
    if secret and not secret_stdin:
        click.echo(f"client secret (shown once): {secret}")


@clients.command("update")
@click.argument("client_id")
@click.option("--name")
@HANDOFF_MODE
@POST_LOGIN_REDIRECT_URL
@click.option(
    "--backchannel-logout-uri",
    help="Where the client hears that a customer signed out (Back-Channel Logout); '' clears.",
)
def clients_update(
    client_id: str,
    name: str | None,
    handoff_mode: str | None,
    post_login_redirect_url: str | None,
    backchannel_logout_uri: str | None,
) -> None:
    """Change a client's name, hand-off mode, post-login-redirect URL or back-channel logout
    URI."""
    with_actions(
        lambda actions, actor: actions.update_client(
            actor,
            client_id,
            name=name,
            handoff_mode=handoff_mode,
            post_login_redirect_url=post_login_redirect_url,
            backchannel_logout_uri=backchannel_logout_uri,
        )
    )
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


@clients.group("post-logout-uris")
def post_logout_uris() -> None:
    """Where a client may send the browser after signing the customer out (RP-Initiated
    Logout 1.0), matched by exact string comparison."""


@post_logout_uris.command("add")
@click.argument("client_id")
@click.argument("uri")
def post_logout_uris_add(client_id: str, uri: str) -> None:
    """Register one more post-logout redirect URI; accepted at /logout at once."""
    with_actions(
        lambda actions, actor: actions.add_redirect_uri(actor, client_id, uri, "post_logout")
    )
    click.echo(f"added {uri} to {client_id}")


@post_logout_uris.command("remove")
@click.argument("client_id")
@click.argument("uri")
def post_logout_uris_remove(client_id: str, uri: str) -> None:
    """Remove a post-logout redirect URI; /logout no longer sends the browser there."""
    with_actions(
        lambda actions, actor: actions.remove_redirect_uri(actor, client_id, uri, "post_logout")
    )
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
    found = with_queries(lambda queries: queries.clients())
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
                        "post_logout_redirect_uris": c.post_logout_redirect_uris,
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
