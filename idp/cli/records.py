"""Records the service keeps: the hand-off outbox, linked devices, terms, signing keys.

Listings read through the console's queries, changes go through its actions (audited alike).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from idp import retention
from idp.admin.actions import Actor, AdminActions
from idp.admin.console import ConsoleQueries, CustomerRecord
from idp.cli.base import clock, main, read_text, settings, with_actions, with_queries, with_store
from idp.oauth.keys import ALGORITHMS, KEY_ACTIVATION_SECONDS
from idp.store import Store
from idp.vocab import HANDOFF_STATUSES, LANGUAGES


# ---- outbox ----------------------------------------------------------------------------------
@main.group()
def outbox() -> None:
    """Hand-offs to NOX's POST /post-login-redirect."""


@outbox.command("list")
@click.option("--status", type=click.Choice(HANDOFF_STATUSES))
@click.option("--json", "as_json", is_flag=True)
def outbox_list(status: str | None, as_json: bool) -> None:
    """List hand-offs, newest first, with NOX's last answer."""

    found = with_queries(lambda queries: queries.handoffs(status))
    if as_json:
        click.echo(json.dumps([h.__dict__ for h in found], indent=2))
        return
    for h in found:
        answer = f"HTTP {h.last_status}" if h.last_status else (h.last_error or "-")
        click.echo(f"{h.id}\t{h.status}\t{h.attempts} attempts\t{h.client_id}\t{answer}")


@outbox.command("retry")
@click.argument("handoff_id")
def outbox_retry(handoff_id: str) -> None:
    """Queue a failed or waiting hand-off for delivery now (a running server sends it)."""

    async def run(actions: AdminActions, actor: Actor) -> None:
        await actions.retry_handoff(actor, handoff_id)

    with_actions(run)
    click.echo(f"hand-off {handoff_id} queued")


# ---- links ----------------------------------------------------------------------------------
@main.group()
def links() -> None:
    """Devices linked to NOX (flow 2) and their history."""


@links.command("list")
@click.option("--json", "as_json", is_flag=True)
def links_list(as_json: bool) -> None:
    """Every linked device and its customer."""

    found = with_queries(lambda queries: queries.devices())
    if as_json:
        click.echo(json.dumps([d.__dict__ for d in found], indent=2))
        return
    for d in found:
        click.echo(
            f"{d.supplier_user_id}\t{d.device_id}\t{d.brand}\t{d.asset_type}\t{d.nox_user_id}"
        )


@links.command("show")
@click.argument("supplier_user_id")
def links_show(supplier_user_id: str) -> None:
    """One customer's devices, and the history of every device they ever had."""

    async def run(queries: ConsoleQueries) -> CustomerRecord | None:
        user = await queries.customer_by_supplier_user_id(supplier_user_id)
        return await queries.customer(user.id) if user else None

    found = with_queries(run)
    if found is None:
        raise click.ClickException(f"no customer {supplier_user_id!r}")
    user, devices, history = found.user, found.devices, found.history
    click.echo(f"{user.supplier_user_id} ({user.email})")
    click.echo("devices:" if devices else "devices: none")
    for d in devices:
        click.echo(f"  {d.device_id}\t{d.brand}\t{d.asset_type}\tNOX user {d.nox_user_id}")
    click.echo("history:" if history else "history: none")
    for h in history:
        click.echo(f"  {h['at']}\t{h['action']}\t{h['device_id']}\t{h['brand'] or ''}")


@links.command("held")
@click.option("--json", "as_json", is_flag=True)
def links_held(as_json: bool) -> None:
    """Link callbacks held for an operator: they would move devices away from other customers
    and NOX's data API could not confirm them."""

    found = with_queries(lambda queries: queries.held_links())
    if as_json:
        click.echo(json.dumps([h.__dict__ for h in found], indent=2))
        return
    for h in found:
        moved = ", ".join(f"{d} from {owner}" for d, owner in h.moved_from.items())
        click.echo(f"{h.id}\t{h.supplier_user_id}\t{','.join(h.device_ids)}\t{moved}\t{h.reason}")


@links.command("approve")
@click.argument("held_id")
def links_approve(held_id: str) -> None:
    """Apply a held link: the devices move to the customer who linked them."""
    with_actions(lambda actions, actor: actions.decide_held_link(actor, held_id, True))
    click.echo(f"held link {held_id} approved")


@links.command("reject")
@click.argument("held_id")
def links_reject(held_id: str) -> None:
    """Drop a held link: the registry stays as it is."""
    with_actions(lambda actions, actor: actions.decide_held_link(actor, held_id, False))
    click.echo(f"held link {held_id} rejected")


# ---- terms ----------------------------------------------------------------------------------
@main.group()
def terms() -> None:
    """Terms and conditions."""


@terms.command("upload")
@click.option("--version", "version", required=True)
@click.option("--language", required=True, type=click.Choice(LANGUAGES))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def terms_upload(version: str, language: str, file: Path) -> None:
    """Store the Markdown text of a version in one language, not yet current."""
    body = read_text(file)
    with_actions(lambda actions, actor: actions.upload_terms(actor, version, language, body))
    click.echo(f"uploaded terms {version} ({language}); publish it to make it current")


@terms.command("publish")
@click.option("--version", "version", required=True)
@click.option("--language", type=click.Choice(LANGUAGES), help="With FILE: its language.")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def terms_publish(version: str, language: str | None, file: Path | None) -> None:
    """Publish a version (all its uploaded texts); it becomes current and customers are asked
    again. With FILE and --language, upload that text first."""
    if file is not None and language is None:
        raise click.UsageError("--language is required with FILE")
    body = read_text(file) if file is not None else None

    async def run(actions: AdminActions, actor: Actor) -> None:
        if body is not None and language is not None:
            await actions.upload_terms(actor, version, language, body)
        await actions.publish_terms(actor, version)

    with_actions(run)
    click.echo(f"published terms {version}" + (f" ({language})" if language else ""))


# ---- keys -----------------------------------------------------------------------------------
@main.group()
def keys() -> None:
    """ID token signing keys."""


@keys.command("rotate")
@click.option("--alg", type=click.Choice(ALGORITHMS), default="RS256", show_default=True)
def keys_rotate(alg: str) -> None:
    """Publish a new signing key at once; it signs ID tokens from 7 minutes on, when every
    instance and every relying party's cached JWKS has it. The old key signs until then and
    stays in the JWKS until its tokens expired."""
    kid = with_actions(lambda actions, actor: actions.rotate_signing_key(actor, alg))
    minutes = KEY_ACTIVATION_SECONDS // 60
    click.echo(f"new published signing key {kid} ({alg}); it signs from {minutes} minutes on")


# ---- retention --------------------------------------------------------------------------------
@main.command("purge")
@click.option("--json", "as_json", is_flag=True)
def purge_command(as_json: bool) -> None:
    """Delete what IDP_RETENTION_* says has been kept long enough (the server does this hourly)."""
    config = settings()

    async def run(store: Store) -> dict[str, int]:
        total: dict[str, int] = {}
        while True:  # each pass is bounded; repeat while a table still had more
            deleted = await retention.purge(config, store, clock)
            for name, count in deleted.items():
                total[name] = total.get(name, 0) + count
            cap = config.retention_batch * retention.MAX_BATCHES
            if not any(count >= cap for count in deleted.values()):
                return total

    total = with_store(run)
    if as_json:
        click.echo(json.dumps(total, indent=2))
        return
    for name, count in total.items():
        click.echo(f"{name}\t{count} deleted")
