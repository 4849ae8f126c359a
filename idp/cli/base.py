"""What every `idp` command shares: the group, settings, admin actions and console queries
(the same ones the console uses), input."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy.exc import OperationalError

from idp.admin.actions import ActionError, Actor, AdminActions
from idp.admin.console import ConsoleQueries
from idp.config import ConfigError, Settings, load_settings
from idp.i18n import set_language
from idp.security import passwords
from idp.security.clock import SystemClock
from idp.store import Store

T = TypeVar("T")
clock = SystemClock()


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def with_store(fn: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        set_language("en")  # the command speaks English (its messages come from idp/admin)
        store = Store.connect(settings().database_url)
        try:
            return await fn(store)
        except OperationalError as exc:
            raise click.ClickException(
                f"the database is not ready ({exc.orig}); run `idp migrate` first"
            ) from None
        finally:
            await store.close()

    return asyncio.run(run())


def with_actions(fn: Callable[[AdminActions, Actor], Awaitable[T]]) -> T:
    """Run an admin action as the operator at this terminal; it writes the same audit row as
    the console does."""
    actor = Actor(f"cli:{getpass.getuser()}")

    async def run(store: Store) -> T:
        passwords.configure_from(settings())  # new hashes get IDP_ARGON2_*, as the server's do
        try:
            return await fn(AdminActions(store, clock, settings()), actor)
        except ActionError as exc:
            raise click.ClickException(str(exc)) from None

    return with_store(run)


def with_queries(fn: Callable[[ConsoleQueries], Awaitable[T]]) -> T:
    """Read what the console shows, through the console's own queries."""
    return with_store(lambda store: fn(ConsoleQueries(store, settings())))


def read_stdin_secret(what: str) -> str:
    value = sys.stdin.read().rstrip("\r\n")
    if not value:
        raise click.ClickException(f"no {what} on standard input")
    return value


def read_text(path: Path, encoding: str = "utf-8") -> str:
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None


@click.group()
def main() -> None:
    """The identity provider that links an energy supplier's customers to NOX Energy."""
