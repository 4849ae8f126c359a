"""Query plans of the hot queries, so that a missing index shows as a full scan.

Two sources: a named list of the lookups every request makes (token by hash, client by id, ...),
written as plain SQL with values that exist in the scale data set; and, on SQLite, every
statement the server itself ran during the measured flows, recorded by a `sitecustomize` that
sets a trace callback on each sqlite3 connection of the server's processes.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from scale_data import hexhash

# sitecustomize.py for the traced server run: each statement, parameters expanded, one a line.
TRACE_HOOK = """
import os, sqlite3
_out = open(os.environ["BENCH_SQL_TRACE"], "a", buffering=1)
_connect = sqlite3.connect
def _traced(*args, **kwargs):
    conn = _connect(*args, **kwargs)
    conn.set_trace_callback(lambda sql: _out.write(" ".join(sql.split()) + "\\n"))
    return conn
sqlite3.connect = _traced
"""


def named() -> dict[str, str]:
    """The issue's hot lookups, with values that exist in the scale data set."""
    lookups = {
        "token by access hash": ("tokens WHERE access_token_hash = '{}'", hexhash("access", 7)),
        "token by refresh hash": ("tokens WHERE refresh_token_hash = '{}'", hexhash("refresh", 7)),
        "tokens of a family": ("tokens WHERE family_id = '{}'", hexhash("family", 7)),
        "client by id": ("clients WHERE client_id = '{}'", "nox"),
        "client redirect URIs": ("client_redirect_uris WHERE client_id = '{}'", "nox"),
        "user by email": ("users WHERE email = '{}'", "scale7@example.com"),
        "login session by id hash": ("login_sessions WHERE id_hash = '{}'", hexhash("login", 7)),
        "auth session by id": ("auth_sessions WHERE id = '{}'", hexhash("auth", 7)[:43]),
        "code by hash": ("authorization_codes WHERE code_hash = '{}'", hexhash("code", 7)),
        "throttle by key": ("throttles WHERE key = '{}'", "account:scale7@example.com"),
        "terms accepted by a customer": (
            "terms_acceptances WHERE user_id = {} AND version = 'bench-1'",
            "1000000007",
        ),
        "devices of a customer": ("devices WHERE user_id = {}", "1000000007"),
    }
    select = "SELECT * FROM {}"  # the values above are the data set's own
    return {name: select.format(where.format(v)) for name, (where, v) in lookups.items()}


def normalize(sql: str) -> str:
    """The statement's shape: literals replaced by ?, so repeats of one query count once."""
    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
    sql = re.sub(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])", "?", sql)
    return re.sub(r"\(\?(?:, \?)+\)", "(?...)", sql)


def traced_statements(trace: Path) -> list[str]:
    """One concrete instance of each distinct statement that reads or changes rows by a
    condition (SELECT, UPDATE, DELETE, INSERT ... SELECT): plain INSERTs have no plan to read."""
    seen: dict[str, str] = {}
    for line in trace.read_text(errors="replace").splitlines():
        head = line.lstrip().split(" ", 1)[0].upper()
        if head not in ("SELECT", "UPDATE", "DELETE", "INSERT", "WITH"):
            continue
        if head == "INSERT" and " SELECT " not in line.upper():
            continue
        seen.setdefault(normalize(line), line)
    return list(seen.values())


def scanned_table(plan_line: str) -> str | None:
    """The table a plan step reads whole: SQLite's `SCAN t` without an index, PostgreSQL's
    `Seq Scan on t`; None for any other step."""
    line = plan_line.strip()
    if line.startswith("SCAN ") and "CONSTANT ROW" not in line:
        if "USING INDEX" in line or "USING COVERING INDEX" in line:
            return None
        return line.split()[1]
    if found := re.search(r"Seq Scan on (\w+)", line):
        return found.group(1)
    return None


def sqlite_plan(db: sqlite3.Connection, sql: str) -> list[str]:
    try:
        rows = db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
    except sqlite3.Error as exc:
        return [f"(not explained: {exc})"]
    return [str(row[-1]) for row in rows]


async def postgres_plan(dsn: str, queries: list[str]) -> tuple[list[list[str]], dict[str, int]]:
    """EXPLAIN of each query, and the row count of each table."""
    import asyncpg

    db = await asyncpg.connect(dsn)
    try:
        counts = {
            r["relname"]: int(r["n_live_tup"])
            for r in await db.fetch("SELECT relname, n_live_tup FROM pg_stat_user_tables")
        }
        plans = []
        for sql in queries:
            try:
                plans.append([row[0] for row in await db.fetch(f"EXPLAIN {sql}")])
            except asyncpg.PostgresError as exc:
                plans.append([f"(not explained: {exc})"])
        return plans, counts
    finally:
        await db.close()


def render(title: str, named_plans: dict[str, list[str]], rows: dict[str, int]) -> list[str]:
    """Each query with its plan; a full scan is marked with the row count of its table (a scan
    of a table of a few rows, such as the clients', is harmless; of a growing one, it is not)."""
    lines = [title]
    for name, plan in named_plans.items():
        scans = [t for step in plan if (t := scanned_table(step))]
        marks = "".join(f"   <-- FULL SCAN of {t} ({rows.get(t, '?'):,} rows)" for t in scans)
        lines.append(f"  {name}{marks}")
        lines += [f"      {step}" for step in plan]
    return lines


def sqlite_counts(db: sqlite3.Connection) -> dict[str, int]:
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {n: int(db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}  # noqa: S608
