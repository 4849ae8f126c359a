"""People: customers (add, import, disable, throttles) and supplier admins."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from idp.admin.actions import Actor, AdminActions
from idp.cli.base import (
    clock,
    main,
    read_stdin_secret,
    read_text,
    settings,
    with_actions,
    with_store,
)
from idp.security import passwords
from idp.store import Store
from idp.store.users import DuplicateUser
from idp.vocab import ADMIN_ROLES


# ---- users ----------------------------------------------------------------------------------
@main.group()
def users() -> None:
    """Customers who can sign in."""


@users.command("add")
@click.option("--email", required=True)
@click.option("--supplier-user-id", required=True)
@click.option("--name")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin.")
def users_add(email: str, supplier_user_id: str, name: str | None, password_stdin: bool) -> None:
    """Add one customer."""
    password = read_stdin_secret("password")
    row = {"email": email, "supplier_user_id": supplier_user_id, "name": name, "password": password}
    try:
        clean = check_user_row(row)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None

    async def add(store: Store) -> None:
        try:
            await store.users.add(now=clock.now(), **clean)
        except DuplicateUser:
            raise click.ClickException(
                "a customer with this email or supplier_user_id exists"
            ) from None

    with_store(add)
    click.echo(f"added customer {supplier_user_id}")


def check_user_row(row: dict[str, Any]) -> dict[str, Any]:
    """Validate one customer record; raises ValueError with the reason."""
    email = str(row.get("email") or "").strip()
    supplier_user_id = str(row.get("supplier_user_id") or "").strip()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise ValueError("invalid email")
    if not supplier_user_id or len(supplier_user_id) > 255:
        raise ValueError("missing or too long supplier_user_id")
    password, password_hash = row.get("password"), row.get("password_hash")
    if password and password_hash:
        raise ValueError("give either password or password_hash, not both")
    if password_hash:
        if not passwords.is_known_hash(str(password_hash)):
            raise ValueError("password_hash is not in a recognised format")
        hashed = str(password_hash)
    elif password:
        if len(str(password)) < 8:
            raise ValueError("password shorter than 8 characters")
        hashed = passwords.hash_password(str(password))
    else:
        raise ValueError("missing password or password_hash")
    name = str(row.get("name") or "").strip() or None
    return {
        "email": email,
        "supplier_user_id": supplier_user_id,
        "name": name,
        "password_hash": hashed,
    }


def read_rows(path: Path) -> list[tuple[int, dict[str, Any] | str]]:
    """Rows of a CSV file (with a header) or JSON lines, numbered from 1; a bad line is a str."""
    text = read_text(path, "utf-8-sig")
    rows: list[tuple[int, dict[str, Any] | str]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                rows.append((number, f"not valid JSON ({exc.msg})"))
                continue
            rows.append((number, value if isinstance(value, dict) else "not a JSON object"))
    else:
        reader = csv.DictReader(io.StringIO(text))
        for number, record in enumerate(reader, start=2):
            rows.append((number, dict(record)))
    return rows


@users.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def users_import(file: Path) -> None:
    """Import customers from CSV or JSON lines (email, supplier_user_id, name, password or
    password_hash). Existing customers are skipped, so running it again duplicates nobody."""
    rows = read_rows(file)

    async def run(store: Store) -> tuple[int, int, list[str]]:
        imported, skipped, rejected = 0, 0, []
        for number, row in rows:
            if isinstance(row, str):
                rejected.append(f"line {number}: {row}")
                continue
            try:
                clean = await asyncio.to_thread(check_user_row, row)
            except ValueError as exc:
                rejected.append(f"line {number}: {exc}")
                continue
            if await store.users.exists(clean["email"], clean["supplier_user_id"]):
                skipped += 1
                continue
            try:
                await store.users.add(now=clock.now(), **clean)
                imported += 1
            except DuplicateUser:
                skipped += 1
        return imported, skipped, rejected

    imported, skipped, rejected = with_store(run)
    click.echo(f"imported {imported}, already present {skipped}, rejected {len(rejected)}")
    for reason in rejected:
        click.echo(f"  rejected {reason}")
    if rejected:
        sys.exit(1)


# ---- customers --------------------------------------------------------------------------------
@main.group()
def customers() -> None:
    """Disable or enable customers, clear a sign-in throttle."""


def on_customer(
    supplier_user_id: str, change: Callable[[AdminActions, Actor, int], Awaitable[None]]
) -> None:
    """Run an admin action on the customer with this supplier_user_id."""

    async def run(actions: AdminActions, actor: Actor) -> None:
        user = await actions.store.users.by_supplier_user_id(supplier_user_id)
        if user is None:
            raise click.ClickException(f"no customer {supplier_user_id!r}")
        await change(actions, actor, user.id)

    with_actions(run)


@customers.command("disable")
@click.argument("supplier_user_id")
def customers_disable(supplier_user_id: str) -> None:
    """The customer can no longer sign in; their sessions and tokens stop working."""
    on_customer(supplier_user_id, lambda a, actor, uid: a.set_customer_disabled(actor, uid, True))
    click.echo(f"disabled customer {supplier_user_id}")


@customers.command("enable")
@click.argument("supplier_user_id")
def customers_enable(supplier_user_id: str) -> None:
    """Let a disabled customer sign in again."""
    on_customer(supplier_user_id, lambda a, actor, uid: a.set_customer_disabled(actor, uid, False))
    click.echo(f"enabled customer {supplier_user_id}")


@customers.command("clear-throttle")
@click.argument("supplier_user_id")
def customers_clear_throttle(supplier_user_id: str) -> None:
    """Forget the customer's failed sign-ins."""
    on_customer(supplier_user_id, lambda a, actor, uid: a.clear_throttle(actor, uid))
    click.echo(f"cleared the sign-in throttle of {supplier_user_id}")


# ---- admins -----------------------------------------------------------------------------------
@main.group()
def admins() -> None:
    """Supplier admins of the web console at /admin."""


@admins.command("add")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(ADMIN_ROLES), required=True)
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin.")
def admins_add(email: str, role: str, password_stdin: bool) -> None:
    """Add an admin and print their TOTP enrolment URI (RFC 6238), once."""
    password = read_stdin_secret("password")
    name = settings().supplier_name
    uri = with_actions(lambda actions, actor: actions.add_admin(actor, email, role, password, name))
    click.echo(f"added admin {email} ({role})")
    click.echo(f"TOTP enrolment URI (shown once): {uri}")
