"""Sign-in and token latency on a large database (1 M customers, 1 M devices, a year of tokens)
against an empty one, and the query plans of the hot queries. Prints numbers, asserts nothing.

Both databases get the same CLI seed (the flows' customers, the `nox` and `backend` clients,
terms); the large one then gets the data set of bench/scale_data.py written straight into its
tables. On SQLite both servers run at once and the measured requests alternate between them in
rounds; with --postgres the given database is wiped and used for the empty run, then the large.
Run: .venv/bin/python bench/scale.py [--customers N] [--flows K] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sqlite3
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import query_plans as plans
from run import IDP, basic, flow, seed, stop, wait_healthy
from scale_data import fill_postgres, fill_sqlite, tables
from servers import AUTHORIZE_PER_MINUTE, free_port

# Where each number comes from: the server's Server-Timing (time inside the app) for the flow's
# own steps; the client's wall time for the requests this script sends itself.
STEPS = {"login_submit": "server", "token": "server", "refresh": "client",
         "userinfo": "client", "client_credentials": "client"}  # fmt: skip


@dataclass
class Database:
    label: str
    env: dict[str, str]
    emails: list[str]
    nox: str
    backend: str
    build_s: float = 0.0
    times: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    failures: list[str] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return self.env["IDP_ISSUER"]


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def wipe_postgres(url: str) -> None:
    import asyncpg

    db = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await db.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await db.close()


async def first_hash_postgres(url: str) -> str:
    import asyncpg

    db = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return str(await db.fetchval("SELECT password_hash FROM users ORDER BY id LIMIT 1"))
    finally:
        await db.close()


def build(label: str, tmp: Path, url: str | None, customers: int, args: Any) -> Database:
    """Migrate and seed through the CLI, then write `customers` customers' worth of rows."""
    port = free_port()
    path = tmp / f"{'large' if customers else 'empty'}.sqlite3"
    env = dict(os.environ, IDP_ISSUER=f"http://127.0.0.1:{port}", IDP_VAR_DIR=str(tmp))
    env |= dict(PYTHONUNBUFFERED="1", IDP_SERVER_TIMING="true")
    env["IDP_AUTHORIZE_PER_MINUTE"] = AUTHORIZE_PER_MINUTE
    env["IDP_DATABASE_URL"] = url or f"sqlite+aiosqlite:///{path}"
    if url:
        asyncio.run(wipe_postgres(url))
    db = Database(label, env, [], secrets.token_urlsafe(30), secrets.token_urlsafe(30))
    db.emails = seed(tmp, env, args.flows + 2, db.nox, db.backend)  # 2 for the traced run
    if customers:
        print(f"building {label}: {customers:,} customers", flush=True)
        started = time.perf_counter()
        if url:
            password_hash = asyncio.run(first_hash_postgres(url))
        else:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                row = conn.execute("SELECT password_hash FROM users ORDER BY id LIMIT 1").fetchone()
                password_hash = str(row[0])
        data = tables(customers, args.tokens_per_customer, password_hash, int(time.time()))
        if url:
            asyncio.run(fill_postgres(asyncpg_dsn(url), data, print))
        else:
            fill_sqlite(str(path), data, print)
        db.build_s = time.perf_counter() - started
        print(f"  built in {db.build_s:.0f} s", flush=True)
    return db


@contextlib.contextmanager
def serving(db: Database, tmp: Path, workers: int, extra_env: dict[str, str] | None = None) -> Any:
    port = db.issuer.rsplit(":", 1)[1]
    argv = [IDP, "serve", "--host", "127.0.0.1", "--port", port, "--workers", str(workers)]
    log = tmp / f"serve-{port}.log"
    with log.open("ab") as out:
        env = db.env | (extra_env or {})
        server = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(db.issuer, server, log)
        yield server
    finally:
        stop(server)


async def drive(db: Database, emails: list[str], client_credentials: int) -> None:
    """Sign in each of `emails` (the whole flow), refresh and call userinfo with its tokens;
    then `client_credentials` token requests one after another."""
    async with httpx.AsyncClient(base_url=db.issuer, timeout=30) as client:

        async def timed(step: str, how: str, status: int, **kw: Any) -> httpx.Response | None:
            begun = time.perf_counter()
            response = await client.request(*how.split(" ", 1), **kw)
            if response.status_code != status:
                db.failures.append(f"{step}: {response.status_code} {response.text[:120]}")
                return None
            db.times[step].append((time.perf_counter() - begun) * 1000)
            return response

        for email in emails:
            keep: dict[str, Any] = {}
            try:
                steps = await flow(db.issuer, email, basic("nox", db.nox), keep)
            except (RuntimeError, httpx.HTTPError, ValueError) as exc:
                db.failures.append(f"flow: {exc}")
                continue
            for step in ("login_submit", "token"):
                if (ms := steps.get(step)) is not None:
                    db.times[step].append(ms)
            if refresh := keep.get("refresh_token"):
                form = dict(grant_type="refresh_token", refresh_token=refresh)
                await timed("refresh", "POST /token", 200, data=form, headers=basic("nox", db.nox))
            bearer = {"Authorization": f"Bearer {keep['access_token']}"}
            await timed("userinfo", "GET /userinfo", 200, headers=bearer)
        grant = dict(grant_type="client_credentials", scope="links:read")
        for _ in range(client_credentials):
            auth = basic("backend", db.backend)
            await timed("client_credentials", "POST /token", 200, data=grant, headers=auth)


def pct(values: list[float], q: int) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def report(kind: str, empty: Database, large: Database) -> list[str]:
    def cell(v: float | None) -> str:
        return "-" if v is None else f"{v:8.2f}"

    lines = [
        f"\n{kind}: latency in ms, empty database vs {large.label} "
        f"(built in {large.build_s:.0f} s)",
        f"  {'step':20} {'from':7} {'n':>4} {'empty p50':>9} {'p99':>8}"
        f" {'large p50':>9} {'p99':>8} {'p50 large/empty':>16}",
    ]
    for step, source in STEPS.items():
        e, g = empty.times[step], large.times[step]
        e50, g50 = pct(e, 50), pct(g, 50)
        ratio = f"{g50 / e50:16.2f}" if e50 and g50 else f"{'-':>16}"
        lines.append(f"  {step:20} {source:7} {len(g):4} {cell(e50):>9} {cell(pct(e, 99))}"
                     f" {cell(g50):>9} {cell(pct(g, 99))} {ratio}")  # fmt: skip
    for db in (empty, large):
        lines += [f"  {db.label} failure: {f}" for f in db.failures[:5]]
    return lines


def run_sqlite(args: Any, tmp: Path) -> list[str]:
    empty = build("empty", tmp, None, 0, args)
    large = build(f"{args.customers:,} customers", tmp, None, args.customers, args)
    per_round = max(1, args.flows // args.rounds)
    with serving(empty, tmp, args.workers), serving(large, tmp, args.workers):
        for db in (empty, large):  # warm-up: the first requests load keys, clients, templates
            asyncio.run(drive(db, [], 20))
            db.times = {s: [] for s in STEPS}
        for r in range(args.rounds):
            emails = slice(r * per_round, (r + 1) * per_round)
            for db in (empty, large):
                asyncio.run(drive(db, db.emails[emails], args.tokens // args.rounds))
    lines = report("SQLite", empty, large)
    trace = tmp / "trace.sql"  # a short traced run: the statements the server really ran
    with serving(large, tmp, 1, {"PYTHONPATH": str(tmp / "hook"), "BENCH_SQL_TRACE": str(trace)}):
        asyncio.run(drive(large, large.emails[-2:], 3))
    path = large.env["IDP_DATABASE_URL"].split("///", 1)[1]
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        named = {name: plans.sqlite_plan(conn, sql) for name, sql in plans.named().items()}
        traced = plans.traced_statements(trace) if trace.exists() else []
        seen = {sql[:150]: plans.sqlite_plan(conn, sql) for sql in traced}
        rows = plans.sqlite_counts(conn)
    lines += plans.render("\nSQLite EXPLAIN QUERY PLAN, the named hot queries:", named, rows)
    title = "\nSQLite, every distinct statement the server ran in a sign-in, refresh, userinfo"
    lines += plans.render(f"{title} and client_credentials ({len(seen)}):", seen, rows)
    return lines


def run_postgres(args: Any, tmp: Path, url: str) -> list[str]:
    empty = build("empty", tmp, url, 0, args)
    with serving(empty, tmp, args.workers):
        asyncio.run(drive(empty, [], 20))
        empty.times = {s: [] for s in STEPS}
        asyncio.run(drive(empty, empty.emails[: args.flows], args.tokens))
    large = build(f"{args.customers:,} customers", tmp, url, args.customers, args)
    with serving(large, tmp, args.workers):
        asyncio.run(drive(large, [], 20))
        large.times = {s: [] for s in STEPS}
        asyncio.run(drive(large, large.emails[: args.flows], args.tokens))
    lines = report("PostgreSQL", empty, large)
    queries = plans.named()
    explained, rows = asyncio.run(plans.postgres_plan(asyncpg_dsn(url), list(queries.values())))
    named = dict(zip(queries, explained, strict=True))
    return lines + plans.render("\nPostgreSQL EXPLAIN, the named hot queries:", named, rows)


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--tokens-per-customer", type=int, default=5, help="over the past year")
    p.add_argument("--flows", type=int, default=30, help="sign-ins measured on each database")
    p.add_argument("--tokens", type=int, default=300, help="client_credentials requests on each")
    p.add_argument("--rounds", type=int, default=3, help="alternations between the databases")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--postgres", metavar="URL", help="also on this PostgreSQL database (WIPED), "
                   "e.g. postgresql+asyncpg://idp:idp@127.0.0.1:5432/idp_bench")  # fmt: skip
    p.add_argument("--no-sqlite", action="store_true")
    args = p.parse_args()
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="idp-scale-") as name:
        tmp = Path(name)
        (tmp / "hook").mkdir()
        (tmp / "hook" / "sitecustomize.py").write_text(plans.TRACE_HOOK)
        if not args.no_sqlite:
            lines += run_sqlite(args, tmp)
        if args.postgres:
            lines += run_postgres(args, tmp, args.postgres)
    elapsed, nproc = time.perf_counter() - started, len(os.sched_getaffinity(0))
    print(
        f"\nnproc {nproc}, 1-min load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; {elapsed:.0f} s in all"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
