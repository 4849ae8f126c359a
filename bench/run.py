"""Speed measurements of `idp serve` on a fresh SQLite database. Prints numbers, asserts nothing.

Throughput of discovery and of client_credentials tokens under concurrency, then complete sign-in
flows one after another, timed per step by the server's own `Server-Timing: app;dur=<ms>` header.
Run: .venv/bin/python bench/run.py [--workers N] [--seconds S] [--concurrency C] [--flows K]
[--no-throughput]. Its Python client caps throughput near 170 req/s: bench/compare.py uses wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import html
import json
import os
import platform
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

IDP = str(Path(sys.executable).with_name("idp"))
PASSWORD = "correct horse battery staple"
REDIRECT_URI = "http://127.0.0.1:9/cb"
DISCOVERY = "/.well-known/openid-configuration"
STEPS = ("authorize", "login_page", "login_submit", "terms_page", "terms_submit", "token")
MAX_REQUESTS = 2_000_000  # the count bound of one throughput run, next to its time bound
TIMEOUT = httpx.Timeout(30.0)


def cli(env: dict[str, str], command: str, *paths: Path, stdin: str | None = None) -> None:
    argv = [IDP, *command.split(), *map(str, paths)]
    done = subprocess.run(argv, input=stdin, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        sys.exit(f"idp {command} exited {done.returncode}:\n{done.stdout}{done.stderr}")


def seed(tmp: Path, env: dict[str, str], flows: int, nox: str, backend: str) -> list[str]:
    """Migrate and seed: one customer per flow, as terms once accepted are not asked again."""
    cli(env, "migrate")
    ids = [f"bench{n}" for n in range(max(flows, 1))]
    rows = [dict(email=f"{i}@example.com", supplier_user_id=i, password=PASSWORD) for i in ids]
    cli(env, f"users add --email {ids[0]}@example.com --supplier-user-id {ids[0]} --password-stdin",
        stdin=PASSWORD)  # fmt: skip
    if len(rows) > 1:
        (tmp / "users.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[1:]))
        cli(env, "users import", tmp / "users.jsonl")
    nox_args = f"--client-id nox --name NOX --redirect-uri {REDIRECT_URI} --secret-stdin"
    cli(env, f"clients add {nox_args} --auth-method client_secret_basic", stdin=nox)
    backend_args = "--client-id backend --name Backend --scope links:read --secret-stdin"
    cli(env, f"clients add {backend_args} --grant-type client_credentials", stdin=backend)
    (tmp / "terms-nl.md").write_text("# Voorwaarden\n\nU geeft NOX Energy toegang.\n")
    cli(env, "terms publish --version bench-1 --language nl", tmp / "terms-nl.md")
    return [row["email"] for row in rows]


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def server_ms(response: httpx.Response) -> float | None:
    timing = re.search(r"app;dur=([0-9.]+)", response.headers.get("Server-Timing", ""))
    return float(timing.group(1)) if timing else None


def stats(values: list[float]) -> dict[str, float | None]:
    """Median and 95th percentile, in ms rounded to 0.01."""
    if len(values) < 2:
        return {"p50_ms": values[0] if values else None, "p95_ms": values[0] if values else None}
    p95 = statistics.quantiles(values, n=20, method="inclusive")[18]
    return {"p50_ms": round(statistics.median(values), 2), "p95_ms": round(p95, 2)}


async def load(issuer: str, seconds: float, concurrency: int, **request: Any) -> dict[str, Any]:
    """`concurrency` loops sending one request after another over keep-alive connections."""
    latencies: list[float] = []
    server: list[float] = []  # the Server-Timing of each response
    errors: Counter[str] = Counter()
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=issuer, limits=limits, timeout=TIMEOUT) as client:
        started, cpu = time.perf_counter(), time.process_time()

        async def loop() -> None:
            nonlocal sent
            while time.perf_counter() - started < seconds and sent < MAX_REQUESTS:
                sent += 1
                begun = time.perf_counter()
                try:
                    response = await client.request(**request)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                latencies.append((time.perf_counter() - begun) * 1000)
                if (app := server_ms(response)) is not None:
                    server.append(app)
                if response.status_code != 200:
                    errors[str(response.status_code)] += 1

        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        client_cpu = round((time.process_time() - cpu) / elapsed, 2)  # this process, of one core
    result: dict[str, Any] = dict(rps=round(len(latencies) / elapsed, 1), requests=len(latencies))
    result |= dict(errors=errors.total(), error_kinds=dict(errors), client_cpu=client_cpu)
    return result | stats(latencies) | {"server_p50_ms": stats(server)["p50_ms"]}


async def flow(
    issuer: str, email: str, auth: dict[str, str], keep: dict[str, Any] | None = None
) -> dict[str, float | None]:
    """One customer's whole sign-in in a fresh cookie jar: the server time of each step. The
    token response goes into `keep` when given (bench/scale.py refreshes with it)."""
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(12)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    times: dict[str, float | None] = {}
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=issuer, timeout=TIMEOUT) as client:

        async def step(name: str, how: str, status: int, to: str = "", **kw: Any) -> httpx.Response:
            response = await client.request(*how.split(" ", 1), **kw)
            times[name] = server_ms(response)
            if response.status_code != status or to not in response.headers.get("Location", ""):
                where = response.headers.get("Location") or response.text[:160]
                raise RuntimeError(f"{name}: status {response.status_code}, {where!r}")
            return response

        def csrf(page: httpx.Response) -> str:
            match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            if not match:
                raise RuntimeError("no csrf_token on the page")
            return html.unescape(match.group(1))

        params = dict(response_type="code", client_id="nox", redirect_uri=REDIRECT_URI, state=state)
        params |= dict(scope="openid profile email", nonce=secrets.token_urlsafe(16))
        params |= dict(code_challenge=challenge.decode(), code_challenge_method="S256")
        login = (await step("authorize", "GET /authorize", 302, "/login", params=params)).headers
        page = await step("login_page", f"GET {login['Location']}", 200)
        form = dict(csrf_token=csrf(page), email=email, password=PASSWORD)
        terms = await step("login_submit", f"POST {login['Location']}", 302, "/terms", data=form)
        page = await step("terms_page", f"GET {terms.headers['Location']}", 200)
        version = re.search(r'name="version" value="([^"]+)"', page.text)
        form = dict(csrf_token=csrf(page), accept_terms="yes", action="accept")
        form["version"] = version.group(1) if version else ""
        back = await step("terms_submit", f"POST {page.url.path}", 302, "/cb?", data=form)
        query = parse_qs(urlsplit(back.headers["Location"]).query)
        if query.get("state") != [state] or "code" not in query:
            raise RuntimeError(f"terms_submit: no code or the wrong state in {query}")
        form = dict(grant_type="authorization_code", code=query["code"][0], code_verifier=verifier)
        form["redirect_uri"] = REDIRECT_URI
        tokens = await step("token", "POST /token", 200, data=form, headers=auth)
        if "id_token" not in tokens.json():
            raise RuntimeError("token: no id_token")
        if keep is not None:
            keep.update(tokens.json())
    times["wall"] = (time.perf_counter() - started) * 1000
    return times


async def measure(
    args: argparse.Namespace, issuer: str, emails: list[str], keys: tuple[str, str]
) -> Any:
    grant = dict(grant_type="client_credentials", scope="links:read")
    token = dict(method="POST", url="/token", data=grant, headers=basic("backend", keys[1]))
    loads: dict[str, dict[str, Any]] = {f"GET {DISCOVERY}": dict(method="GET", url=DISCOVERY)}
    loads["POST /token client_credentials"] = token
    throughput = {}
    for name, request in loads.items() if not args.no_throughput else ():
        await load(issuer, 1.0, args.concurrency, **request)  # warm-up, not reported
        throughput[name] = await load(issuer, args.seconds, args.concurrency, **request)
    results: list[dict[str, float | None]] = []
    failures: list[str] = []
    for email in emails[: args.flows]:
        try:
            results.append(await flow(issuer, email, basic("nox", keys[0])))
        except (RuntimeError, httpx.HTTPError, ValueError) as exc:
            failures.append(str(exc) or type(exc).__name__)
    steps = {}
    for name in (*STEPS, "wall"):
        values = [t for r in results if (t := r.get(name)) is not None]
        steps[name] = stats(values)
    signin = dict(flows=args.flows, failed=len(failures), failures=failures[:5], steps=steps)
    return dict(throughput=throughput, signin=signin)


def descendants(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            children += [int(child) for child in task.read_text().split()]
    return [each for child in children for each in (child, *descendants(child))]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by `pid` and every process under it."""
    ticks = 0
    for each in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (proc(5): fields 14, 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss(pid: int) -> list[dict[str, Any]]:
    """VmHWM (peak resident memory) of `pid` and each process under it, in MiB: the server's
    main process, its workers (Hypercorn spawns them, Granian forks them) and Hypercorn's
    resource tracker."""
    rows = []
    for each in [pid, *descendants(pid)]:
        try:
            status = Path(f"/proc/{each}/status").read_text()
            cmdline = Path(f"/proc/{each}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        hwm = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        role = "main" if each == pid else "worker"
        role = "resource_tracker" if "resource_tracker" in cmdline else role
        rows.append({"pid": each, "role": role, "mib": int(hwm.group(1)) / 1024 if hwm else 0.0})
    return rows


def wait_healthy(issuer: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{issuer}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit(f"idp serve (exit {server.poll()}) did not answer /healthz:\n{log.read_text()}")


def stop(server: subprocess.Popen[bytes]) -> None:
    children = descendants(server.pid)
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)
    for pid in children:  # workers a killed main process left behind
        with contextlib.suppress(OSError):
            if b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(report: dict[str, Any]) -> str:
    r = report
    lines = [f"Python {r['python']}, nproc {r['nproc']}, idp serve --workers {r['workers']}, "
             f"1-min load average before the run {r['load_before']:.2f}"]  # fmt: skip
    if r["throughput"]:  # bench/compare.py measures throughput with wrk
        lines.append(f"\nthroughput, concurrency {r['concurrency']}, {r['seconds']:g} s each")
        lines.append(f"  {'':37} req/s requests errors  p50 ms  p95 ms  server p50  client CPU")
    for name, t in r["throughput"].items():
        row = f"  {name:37} {t['rps']:5.0f} {t['requests']:8} {t['errors']:6}"
        kinds = f"  {t['error_kinds']}" if t["errors"] else ""
        row += f" {fmt(t['p50_ms']):>7} {fmt(t['p95_ms']):>7} {fmt(t['server_p50_ms']):>11}"
        row += f" {t['client_cpu']:11.0%}{kinds}"
        lines.append(row)
    signin = r["signin"]
    lines.append(f"\nsign-in: {signin['flows']} flows one after another, {signin['failed']} failed")
    lines.append(f"  {'step (Server-Timing)':28} {'p50 ms':>7} {'p95 ms':>7}")
    for name, s in signin["steps"].items():
        name = "whole flow (client wall)" if name == "wall" else name
        lines.append(f"  {name:28} {fmt(s['p50_ms']):>7} {fmt(s['p95_ms']):>7}")
    lines += [f"  failure: {reason}" for reason in signin["failures"]]
    lines.append("\nserver peak RSS (VmHWM)")
    lines += [f"  {p['role']:16} pid {p['pid']:>7} {p['mib']:8.1f} MiB" for p in r["rss"]]
    lines.append(f"  {'total':28} {sum(p['mib'] for p in r['rss']):8.1f} MiB")
    lines.append(f"\nserver log: {len(r['server_log_errors'])} lines with ERROR or Traceback")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--flows", type=int, default=30)
    parser.add_argument("--no-throughput", action="store_true", help="sign-in flows only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    nox, backend = secrets.token_urlsafe(30), secrets.token_urlsafe(30)  # 40 characters each
    load_before = os.getloadavg()[0]  # other work on the machine skews every number
    with tempfile.TemporaryDirectory(prefix="idp-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        issuer = f"http://127.0.0.1:{port}"
        env = dict(os.environ, IDP_ISSUER=issuer, IDP_VAR_DIR=tmp_name, PYTHONUNBUFFERED="1")
        env["IDP_SERVER_TIMING"] = "true"  # the step times below come from this header
        env["IDP_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp / 'idp.sqlite3'}"
        emails = seed(tmp, env, args.flows, nox, backend)
        log = tmp / "serve.log"
        argv = [IDP, "serve", "--host", "127.0.0.1", "--port", str(port)]
        with log.open("wb") as out:
            argv += ["--workers", str(args.workers)]
            server = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_healthy(issuer, server, log)
            report: dict[str, Any] = asyncio.run(measure(args, issuer, emails, (nox, backend)))
            report["rss"] = peak_rss(server.pid)
        finally:
            stop(server)
        errors = [line for line in log.read_text().splitlines() if re.search("ERROR|Trace", line)]
    report |= dict(python=platform.python_version(), nproc=len(os.sched_getaffinity(0)))
    report |= dict(workers=args.workers, concurrency=args.concurrency, seconds=args.seconds)
    report |= dict(load_before=load_before, server_log_errors=errors[:20])
    print(json.dumps(report, indent=2) if args.json else table(report))


if __name__ == "__main__":
    main()
