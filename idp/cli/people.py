"""People: customers (add, import, disable, export, erase, throttles) and supplier admins.

Every change goes through the console's actions (idp/admin), with its checks and audit rows;
this module reads options and files.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from idp.admin.accounts import EnrolmentLink
from idp.admin.actions import Actor, AdminActions
from idp.admin.customers import ImportLine
from idp.admin.enrolment import mail_link
from idp.cli.base import (
    main,
    read_stdin_secret,
    read_text,
    settings,
    with_actions,
    with_queries,
)
from idp.mail import Mailer
from idp.vocab import ADMIN_ROLES

T = TypeVar("T")


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
    with_actions(
        lambda actions, actor: actions.add_customer(
            actor, email=email, supplier_user_id=supplier_user_id, name=name, password=password
        )
    )
    click.echo(f"added customer {supplier_user_id}")


def read_rows(path: Path) -> list[ImportLine]:
    """Rows of a CSV file (with a header) or JSON lines, numbered from 1; a bad line is a str."""
    text = read_text(path, "utf-8-sig")
    rows: list[ImportLine] = []
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
    lines = read_rows(file)
    report = with_actions(lambda actions, actor: actions.import_customers(actor, lines))
    click.echo(
        f"imported {report.imported}, already present {report.already_present}, "
        f"rejected {len(report.rejected)}"
    )
    for reason in report.rejected:
        click.echo(f"  rejected {reason}")
    if report.rejected:
        sys.exit(1)


# ---- customers --------------------------------------------------------------------------------
@main.group()
def customers() -> None:
    """Disable, enable, export or erase customers; clear a sign-in throttle."""


def on_customer(
    supplier_user_id: str, change: Callable[[AdminActions, Actor, int], Awaitable[T]]
) -> T:
    """Run an admin action on the customer with this supplier_user_id."""
    user = with_queries(lambda queries: queries.customer_by_supplier_user_id(supplier_user_id))
    if user is None:
        raise click.ClickException(f"no customer {supplier_user_id!r}")
    return with_actions(lambda actions, actor: change(actions, actor, user.id))


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


@customers.command("export")
@click.argument("supplier_user_id")
def customers_export(supplier_user_id: str) -> None:
    """Print one JSON document of everything stored about the customer (GDPR Art. 15, 20)."""
    document = on_customer(supplier_user_id, lambda a, actor, uid: a.export_customer(actor, uid))
    click.echo(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=str))


@customers.command("erase")
@click.argument("supplier_user_id")
@click.option("--yes", is_flag=True, required=True, help="Confirm the erasure.")
def customers_erase(supplier_user_id: str, yes: bool) -> None:
    """Erase the customer's personal data (GDPR Art. 17): they can no longer sign in; what
    must be kept (terms accepted, device history, audit) stays under a pseudonym."""
    pseudonym = on_customer(supplier_user_id, lambda a, actor, uid: a.erase_customer(actor, uid))
    click.echo(f"erased customer {supplier_user_id}; what is kept now carries {pseudonym}")


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
    """Add an admin with this password and print their TOTP enrolment URI (RFC 6238), once:
    the way to the first owner. Otherwise invite them (`idp admins invite`)."""
    password = read_stdin_secret("password")
    name = settings().supplier_name
    uri = with_actions(lambda actions, actor: actions.add_admin(actor, email, role, password, name))
    click.echo(f"added admin {email} ({role})")
    click.echo(f"TOTP enrolment URI (shown once): {uri}")


def on_admin(email: str, change: Callable[[AdminActions, Actor, int], Awaitable[T]]) -> T:
    """Run an admin action on the admin with this email."""
    found = with_queries(lambda queries: queries.admins())
    admin = next((a for a in found if a.email == email.strip().lower()), None)
    if admin is None:
        raise click.ClickException(f"no admin {email!r}")
    return with_actions(lambda actions, actor: change(actions, actor, admin.id))


def hand_out(link: EnrolmentLink) -> None:
    """Print a new enrolment link, and mail it when mail is set up (IDP_SMTP_HOST)."""
    click.echo(f"link (works once, shown once): {link.link}")
    mailed = asyncio.run(mail_link(Mailer(settings()), link))
    if mailed is not None:
        click.echo(f"mailed to {link.email}" if mailed else f"could not mail {link.email}")


@admins.command("invite")
@click.argument("email")
@click.option("--role", type=click.Choice(ADMIN_ROLES), required=True)
def admins_invite(email: str, role: str) -> None:
    """Invite an admin: print the one-time link with which they choose their password and
    enrol their authenticator (IDP_ADMIN_INVITATION_SECONDS). Inviting again replaces it."""
    link = with_actions(lambda actions, actor: actions.invite_admin(actor, email, role))
    click.echo(f"invited {link.email} ({role})")
    hand_out(link)


@admins.command("reset-totp")
@click.argument("email")
@click.option("--yes", is_flag=True, required=True, help="Confirm the reset.")
def admins_reset_totp(email: str, yes: bool) -> None:
    """Clear an admin's authenticator (a lost phone): their sessions end, and the printed
    one-time link lets them enrol a new one after their password."""
    link = on_admin(email, lambda a, actor, admin_id: a.reset_admin_totp(actor, admin_id, None))
    click.echo(f"reset the authenticator of {link.email}")
    hand_out(link)


@admins.command("role")
@click.argument("email")
@click.argument("role", type=click.Choice(ADMIN_ROLES))
def admins_role(email: str, role: str) -> None:
    """Give an admin another role (the last owner stays an owner)."""
    on_admin(email, lambda a, actor, admin_id: a.change_admin_role(actor, admin_id, role))
    click.echo(f"{email} is now {role}")


@admins.command("remove")
@click.argument("email")
@click.option("--yes", is_flag=True, required=True, help="Confirm the removal.")
def admins_remove(email: str, yes: bool) -> None:
    """Remove an admin and end their console sessions (never the last owner)."""
    on_admin(email, lambda a, actor, admin_id: a.remove_admin(actor, admin_id))
    click.echo(f"removed admin {email}")
