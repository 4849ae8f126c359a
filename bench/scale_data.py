"""The scale data set, written straight into a migrated database in large transactions.

Sizes follow the number of customers N (1 M in the issue):
- N customers (one password hash shared by all, made by the server's own `idp users add`),
  N devices with their first links and history rows, N terms acceptances;
- N token families and `tokens_per_customer` x N tokens (5 M at N = 1 M) issued evenly over the
  past 365 days: a year of tokens, as if retention had kept every one;
- a day of sign-in traffic: N/10 authorization sessions, codes and login sessions; N/100
  throttles; N security events over the year.
Rows are generated in chunks and written with executemany (SQLite) or COPY (PostgreSQL).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

CHUNK = 50_000
YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class Table:
    name: str
    column_names: str  # space-separated, in the order of `row`'s values
    count: int
    row: Callable[[int], tuple[Any, ...]]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.column_names.split())


def hexhash(kind: str, n: int) -> str:
    """A deterministic SHA-256 hex, the shape of every stored secret hash."""
    return hashlib.sha256(f"{kind}{n}".encode()).hexdigest()


def tables(customers: int, tokens_per_customer: int, password_hash: str, now: int) -> list[Table]:
    """Every table of the data set. Its customers' ids start at 10^9, clear of the customers the
    bench seeded through the CLI (whose ids the sequences keep handing out)."""
    n = customers
    day = max(1, n // 10)
    first_user = 1_000_000_000

    def user(i: int) -> tuple[Any, ...]:
        at = now - YEAR + i % YEAR
        return (first_user + i, f"scale{i}@example.com", f"S{i}", None, password_hash, 0, at, at)

    def device(i: int) -> tuple[Any, ...]:
        at = now - YEAR + i % YEAR
        return (f"dev-{i}", first_user + i, f"S{i}", f"nox-{i}", "nox", "ev", at, at, None, at)

    def first_link(i: int) -> tuple[Any, ...]:
        at = now - YEAR + i % YEAR
        return (f"dev-{i}", at, at)

    def history(i: int) -> tuple[Any, ...]:
        return (now - YEAR + i % YEAR, f"dev-{i}", "linked", f"S{i}", f"nox-{i}", "nox", None)

    def acceptance(i: int) -> tuple[Any, ...]:
        return (first_user + i, "bench-1", "nl", now - YEAR + i % YEAR, "nox", None, None)

    def family(i: int) -> tuple[Any, ...]:
        at = now - YEAR + i % YEAR
        return (hexhash("family", i), "nox", None, at, at, None)

    def token(i: int) -> tuple[Any, ...]:
        issued = now - YEAR + (i * YEAR) // (n * tokens_per_customer)
        customer = i % n
        refresh = hexhash("refresh", i)
        return (
            "nox", first_user + customer, "openid profile email", hexhash("access", i), refresh,
            issued, issued + 3600, issued + 30 * 86400, None, None,
            hexhash("family", customer), None, issued,
        )  # fmt: skip

    def auth_session(i: int) -> tuple[Any, ...]:
        at = now - 86400 + (i * 86400) // day
        return (
            hexhash("auth", i)[:43], hexhash("browser", i)[:43], "nox", "{}",
            "http://127.0.0.1:9/cb", None, "nl", 0, first_user + i, at, "done", at, at + 900, at,
        )  # fmt: skip

    def code(i: int) -> tuple[Any, ...]:
        at = now - 86400 + (i * 86400) // day
        return (
            hexhash("code", i), "nox", first_user + i, "http://127.0.0.1:9/cb", "openid", None,
            hexhash("challenge", i)[:43], "S256", at, hexhash("auth", i)[:43], at, at + 60,
            at + 5, at + 5, None,
        )  # fmt: skip

    def login_session(i: int) -> tuple[Any, ...]:
        at = now - 86400 + (i * 86400) // day
        return (hexhash("login", i), first_user + i, at, at + 8 * 3600, "192.0.2.1", "bench")

    def throttle(i: int) -> tuple[Any, ...]:
        return (f"account:scale{i}@example.com", 1, now - 86400 + i % 86400)

    def event(i: int) -> tuple[Any, ...]:
        at = now - YEAR + (i * YEAR) // n
        return (at, "signin.success", f"scale{i}@example.com", "192.0.2.1", json.dumps({}))

    return [
        Table("users", "id email supplier_user_id name password_hash disabled created_at "
              "updated_at", n, user),
        Table("devices", "device_id user_id supplier_user_id nox_user_id brand asset_type "
              "connected_at linked_at link_session_id first_linked_at", n, device),
        Table("device_first_links", "device_id first_linked_at first_connected_at", n,
              first_link),
        Table("device_history", "at device_id action supplier_user_id nox_user_id brand "
              "link_session_id", n, history),
        Table("terms_acceptances", "user_id version language accepted_at client_id ip "
              "user_agent", n, acceptance),
        Table("token_families", "id client_id code_id created_at last_issued_at revoked_at", n,
              family),
        Table("tokens", "client_id user_id scope access_token_hash refresh_token_hash issued_at "
              "expires_at refresh_expires_at revoked_at rotated_at family_id code_id auth_time",
              n * tokens_per_customer, token),
        Table("auth_sessions", "id browser_id client_id query redirect_uri state language "
              "force_login user_id auth_time status created_at expires_at interacted_at", day,
              auth_session),
        Table("authorization_codes", "code_hash client_id user_id redirect_uri scope nonce "
              "code_challenge code_challenge_method auth_time auth_session_id created_at "
              "expires_at used_at exchanged_at replayed_at", day, code),
        Table("login_sessions", "id_hash user_id auth_time expires_at ip user_agent", day,
              login_session),
        Table("throttles", "key failures last_failure_at", max(1, n // 100), throttle),
        Table("security_events", "at kind actor ip detail", n, event),
    ]  # fmt: skip


def chunks(table: Table) -> Iterator[list[tuple[Any, ...]]]:
    for start in range(0, table.count, CHUNK):
        yield [table.row(i) for i in range(start, min(start + CHUNK, table.count))]


def fill_sqlite(path: str, data: list[Table], say: Callable[[str], None]) -> None:
    """executemany in one transaction per table, with the journal and syncs off for the load
    (the database is a throwaway; the server opens it afterwards with its own settings)."""
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")  # 1 GB of page cache for the index builds
    for table in data:
        started = time.perf_counter()
        marks = ", ".join("?" * len(table.columns))
        sql = f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES ({marks})"  # noqa: S608
        db.execute("BEGIN")
        for rows in chunks(table):
            db.executemany(sql, rows)
        db.execute("COMMIT")
        say(f"  {table.name:20} {table.count:>10,} rows {time.perf_counter() - started:6.1f} s")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("ANALYZE")  # what a long-running database has; the planner may use it
    db.close()


async def fill_postgres(dsn: str, data: list[Table], say: Callable[[str], None]) -> None:
    """COPY each table in chunks, then ANALYZE."""
    import asyncpg

    db = await asyncpg.connect(dsn)
    try:
        for table in data:
            started = time.perf_counter()
            async with db.transaction():
                for rows in chunks(table):
                    fixed = [tuple(bool(v) if c == "disabled" or c == "force_login" else v
                                   for c, v in zip(table.columns, row, strict=True))
                             for row in rows]  # fmt: skip
                    await db.copy_records_to_table(table.name, records=fixed, columns=table.columns)
            say(f"  {table.name:20} {table.count:>10,} rows {time.perf_counter() - started:6.1f} s")
        await db.execute("ANALYZE")
    finally:
        await db.close()
