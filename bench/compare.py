"""`idp serve` and oidc-provider side by side under wrk, then sign-ins against the hash limit.

Prints, for the token endpoint (client_credentials, Basic auth), discovery and the JWKS: req/s,
p50 and p99 of each server and the ratio ours/peer, as medians over alternating rounds; the
sign-ins per second against argon2's own limit on this machine; the token endpoint's p99 while
sign-ins keep the CPU busy; peak RSS per worker. Numbers only, nothing asserted.
Run: .venv/bin/python bench/compare.py [--rounds 3] [--seconds 10] [--server NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import time
from dataclasses import asdict
from typing import Any

import httpx
from loadgen import Request, Result, wrk
from run import cpu_seconds
from servers import DISCOVERY, Ours, Peer, Server
from signins import SigninLoad, hash_limit, stored_hash, token_request, token_under_signins

ENDPOINTS = ("token", "discovery", "jwks")


def requests_of(server: Server) -> dict[str, Request]:
    paths = server.endpoints()
    return {
        "token": token_request(paths["token"], server.backend_secret),
        "discovery": Request("GET", DISCOVERY),
        "jwks": Request("GET", paths["jwks"]),
    }


def check(server: Server, requests: dict[str, Request]) -> None:
    """One request of each kind must succeed, so that fast errors are never measured."""
    for name, r in requests.items():
        headers = r.headers
        answer = httpx.request(
            r.method, server.base_url + r.path, headers=headers, content=r.body, timeout=10
        )
        if answer.status_code != 200 or (name == "token" and "access_token" not in answer.json()):
            raise SystemExit(f"{server.label} {name}: {answer.status_code} {answer.text[:300]}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def summarize(results: list[Result]) -> dict[str, Any]:
    return {
        "rps": median([r.rps for r in results]),
        "p50_ms": median([r.p50_ms for r in results]),
        "p99_ms": median([r.p99_ms for r in results]),
        "errors": sum(r.error_count for r in results),
        "rounds_rps": [r.rps for r in results],
        "rounds_p99_ms": [r.p99_ms for r in results],
    }


def throughput(servers: list[Server], args: argparse.Namespace) -> dict[str, Any]:
    """Warm up each pair, then rounds of ours, peer, ours, peer, ... per endpoint."""
    reqs = {s.label: requests_of(s) for s in servers}
    for s in servers:
        check(s, reqs[s.label])
    load = dict(connections=args.connections, threads=args.threads)
    runs: dict[str, dict[str, list[Result]]] = {}
    runs |= {e: {s.label: [] for s in servers} for e in ENDPOINTS}
    for endpoint in args.endpoints:
        for s in servers:
            wrk(s.base_url, reqs[s.label][endpoint], args.warmup, **load)  # not reported
    for _ in range(args.rounds):
        for endpoint in args.endpoints:
            for s in servers:
                result = wrk(s.base_url, reqs[s.label][endpoint], args.seconds, **load)
                runs[endpoint][s.label].append(result)
    peer = servers[-1].label
    report: dict[str, Any] = {}
    for endpoint in args.endpoints:
        rows = {label: summarize(results) for label, results in runs[endpoint].items()}
        for s in servers[:-1]:
            pairs = zip(runs[endpoint][s.label], runs[endpoint][peer], strict=True)
            ratios = [ours.rps / theirs.rps if theirs.rps else 0.0 for ours, theirs in pairs]
            rows[s.label]["ratio_rounds"] = [round(r, 3) for r in ratios]
            rows[s.label]["ratio"] = median(ratios)
        report[endpoint] = rows
    return report


async def signins(ours: Ours, args: argparse.Namespace) -> dict[str, Any]:
    # The hash limit is measured just before and just after the sign-ins, and their mean used:
    # on a shared machine the CPU left to the bench changes from minute to minute.
    encoded = stored_hash(ours.db_path)
    before = hash_limit(encoded, args.hash_seconds)
    load = SigninLoad(ours.base_url, ours.emails, args.signin_concurrency)
    server_cpu, client_cpu = cpu_seconds(ours.process.pid), time.process_time()
    rate = await load.run_for(args.signin_seconds)
    # Where the CPU went, per sign-in (the ramp included on both sides of the division).
    signed_in = max(load.all_signed_in, 1)
    rate["server_cpu_ms"] = (cpu_seconds(ours.process.pid) - server_cpu) * 1000 / signed_in
    rate["client_cpu_ms"] = (time.process_time() - client_cpu) * 1000 / signed_in
    after = hash_limit(encoded, args.hash_seconds)
    limit = before | {"per_second": (before["per_second"] + after["per_second"]) / 2}
    limit["bracket"] = (before["per_second"], after["per_second"])
    token = token_request(ours.endpoints()["token"], ours.backend_secret)
    under = await token_under_signins(ours.base_url, token, ours.emails, args)
    return {"hash_limit": limit, "rate": rate, "token_under_signins": under}


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def throughput_lines(throughput: dict[str, Any], args: argparse.Namespace) -> list[str]:
    lines = [
        f"\nwrk: {args.connections} connections, {args.threads} threads; {args.rounds} rounds of "
        f"{args.seconds:g} s alternating servers, after {args.warmup:g} s warm-ups; "
        f"medians over rounds; {args.workers} workers each",
        f"  {'endpoint':10} {'server':18} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        "   req/s per round",
    ]
    for endpoint, rows in throughput.items():
        for label, row in rows.items():
            per_round = " ".join(f"{v:.0f}" for v in row["rounds_rps"])
            lines.append(
                f"  {endpoint:10} {label:18} {row['rps']:8.0f} {row['p50_ms']:8.2f}"
                f" {row['p99_ms']:8.2f} {row['errors']:7}   {per_round}"
            )
        for label, row in rows.items():
            if "ratio" in row:
                per_round = " ".join(f"{v:.2f}" for v in row["ratio_rounds"])
                lines.append(f"  {endpoint:10} ratio {label}/peer {row['ratio']:.2f}"
                             f"   (per round {per_round})")  # fmt: skip
    return lines


def check_ms(limit: dict[str, Any]) -> float:
    """The CPU of one argon2 check, from the hash limit (one process per core)."""
    return float(limit["processes"] * 1000 / limit["per_second"])


def ceiling_line(cores: int, limit: dict[str, Any], rate: dict[str, Any]) -> str:
    """The most sign-ins these cores could do at the CPU costs just measured (the server's and
    this bench's client share them), as a share of the hash limit; and the same if the server's
    work besides the argon2 check cost nothing."""
    at_costs = cores * 1000 / (rate["server_cpu_ms"] + rate["client_cpu_ms"])
    hash_only = cores * 1000 / (check_ms(limit) + rate["client_cpu_ms"])
    return (
        f"  at these costs {cores} cores allow {at_costs:.1f} sign-ins/s "
        f"({at_costs / limit['per_second']:.0%} of the hash limit); {hash_only:.1f}/s "
        f"({hash_only / limit['per_second']:.0%}) if the server's work besides the check were free"
    )


def table(report: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        f"Python {platform.python_version()}, nproc {report['nproc']}, 1-min load average "
        f"{report['load_before']:.2f} before, {report['load_after']:.2f} after; "
        f"{report['elapsed_s']:.0f} s in all",
    ]
    if "throughput" in report:
        lines += throughput_lines(report["throughput"], args)
    if s := report.get("signins"):
        limit, rate = s["hash_limit"], s["rate"]
        share = rate["per_second"] / limit["per_second"] if limit["per_second"] else 0.0
        lines += [
            f"\nsign-ins ({args.signin_seconds:g} s, {args.signin_concurrency} customers at once)",
            f"  hash limit   {limit['per_second']:7.1f} argon2 verifications/s ({limit['params']}, "
            f"{limit['processes']} processes; {limit['bracket'][0]:.1f} before the sign-ins and "
            f"{limit['bracket'][1]:.1f} after, {args.hash_seconds:g} s each)",
            f"  signed in    {rate['per_second']:7.1f} /s = {share:.0%} of the hash limit; "
            f"password POST p50 {fmt(rate['p50_ms'])} ms, p99 {fmt(rate['p99_ms'])} ms; "
            f"other answers {rate['other'] or 'none'}",
            f"  CPU per sign-in: the server {rate['server_cpu_ms']:.1f} ms (one argon2 check "
            f"at the hash limit: {check_ms(limit):.1f} ms), "
            f"this bench's own client {rate['client_cpu_ms']:.1f} ms",
            ceiling_line(report["nproc"], limit, rate),
        ]
        under = s["token_under_signins"]
        lines.append(
            f"\ntoken endpoint at a paced rate ({args.paced_connections} connections, "
            f"{args.paced_delay_ms:g} ms between requests on each), {args.signin_seconds:g} s"
        )
        for name in ("alone", "loaded"):
            r = under[name]
            what = "alone" if name == "alone" else "while signing in"
            lines.append(
                f"  {what:18} {r['rps']:7.0f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                f"p99 {r['p99_ms']:7.2f} ms  errors {sum(r['errors'].values())}"
            )
        meanwhile = under["signins"]
        lines.append(f"  sign-ins meanwhile {meanwhile['per_second']:.1f} /s; "
                     f"other answers {meanwhile['other'] or 'none'}")  # fmt: skip
    lines.append("\npeak RSS (VmHWM) after the run, MiB")
    for label, rows in report["rss"].items():
        cells = ", ".join(f"{r['role']} {r['mib']:.0f}" for r in rows)
        lines.append(f"  {label:18} {cells}")
    for label, errors in report["log_errors"].items():
        lines.append(f"\n{label} log: {len(errors)} lines with ERROR or Traceback")
        lines += [f"  {line[:200]}" for line in errors[:5]]
    return "\n".join(lines)


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--workers", type=int, default=2, help="of each server")
    p.add_argument("--server", action="append", default=[], metavar="NAME",
                   help="pass `--server NAME` to idp serve; repeat to compare several")  # fmt: skip
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10.0, help="of each wrk run")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--endpoints", default=",".join(ENDPOINTS), type=lambda s: s.split(","))
    p.add_argument("--no-throughput", action="store_true", help="skip the side-by-side part")
    p.add_argument("--no-signins", action="store_true", help="skip the sign-in part")
    p.add_argument("--hash-seconds", type=float, default=8.0)
    p.add_argument("--signin-seconds", type=float, default=15.0)
    p.add_argument("--signin-concurrency", type=int, default=8)
    p.add_argument("--paced-connections", type=int, default=4)
    p.add_argument("--paced-delay-ms", type=float, default=20.0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    if unknown := set(args.endpoints) - set(ENDPOINTS):
        p.error(f"unknown endpoints {unknown}; choose from {ENDPOINTS}")
    return args


def main() -> None:
    args = parse()
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    report: dict[str, Any] = {"nproc": len(os.sched_getaffinity(0)), "load_before": load_before}
    customers = max(16, args.signin_concurrency)
    with contextlib.ExitStack() as stack:
        ours = [
            stack.enter_context(Ours(args.workers, name, customers))
            for name in (args.server or [None])
        ]
        servers: list[Server] = [*ours]
        if not args.no_throughput:
            servers.append(stack.enter_context(Peer(args.workers)))
            report["throughput"] = throughput(servers, args)
        if not args.no_signins:
            report["signins"] = asyncio.run(signins(ours[0], args))
        report["rss"] = {s.label: s.rss() for s in servers}
        report["log_errors"] = {s.label: s.log_errors() for s in ours}
    report |= dict(load_after=os.getloadavg()[0], elapsed_s=time.perf_counter() - started)
    if args.json:
        print(json.dumps(report, indent=2, default=asdict))
    else:
        print(table(report, args))


if __name__ == "__main__":
    main()
