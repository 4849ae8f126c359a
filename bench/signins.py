"""Sign-ins per second against the password hash's own limit, and the token endpoint's p99 while
sign-ins keep the CPU busy.

The hash limit is argon2 verification of the hash our server stored (so its parameters, whatever
they are configured to), in a process pool with one process per core: the most sign-ins this
machine could check if it did nothing else. A sign-in here is what a customer does: GET
/authorize, GET the login page, POST the password (the step that costs one hash), each customer
in a fresh cookie jar; counted when the POST answers 302 (signed in, on to the next step).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import os
import re
import secrets
import sqlite3
import statistics
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from loadgen import Request, Result, wrk
from run import PASSWORD, REDIRECT_URI

TIMEOUT = httpx.Timeout(30.0)
MAX_SIGNINS = 1_000_000  # the count bound of one run, next to its time bound


def stored_hash(db_path: Path) -> str:
    """The password hash the server stored for a seeded customer."""
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        row = db.execute("SELECT password_hash FROM users ORDER BY id LIMIT 1").fetchone()
    return str(row[0])


def _verify_for(seconds: float, encoded: str) -> int:
    hasher, count = PasswordHasher(), 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        try:
            hasher.verify(encoded, PASSWORD)
        except VerificationError as exc:
            raise RuntimeError("the stored hash does not verify the bench password") from exc
        count += 1
    return count


def hash_limit(encoded: str, seconds: float) -> dict[str, Any]:
    """Verifications per second with one process per core, each verifying for `seconds`."""
    cores = len(os.sched_getaffinity(0))
    with ProcessPoolExecutor(max_workers=cores) as pool:
        started = time.perf_counter()
        counts = list(pool.map(_verify_for, [seconds] * cores, [encoded] * cores))
        elapsed = time.perf_counter() - started
    params = encoded.split("$")[3] if encoded.startswith("$argon2") else "?"
    return {"per_second": sum(counts) / elapsed, "processes": cores, "params": params}


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def customer_client(base_url: str, source: str = "127.0.0.1") -> httpx.AsyncClient:
    """A customer's HTTP client, connecting from address `source`. One per simulated customer
    for all its sign-ins: a new client per sign-in cost this bench's own process several ms of
    CPU (its TLS context, a new connection), CPU the server then lacked on these shared cores."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT, transport=transport)


async def sign_in(client: httpx.AsyncClient, email: str) -> tuple[int, float]:
    """One customer signs in from a fresh browser (no cookies; its connection may be reused):
    the status of the password POST and its latency in ms."""
    client.cookies.clear()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    params = dict(response_type="code", client_id="nox", redirect_uri=REDIRECT_URI)
    params |= dict(scope="openid profile email", nonce=secrets.token_urlsafe(16))
    params |= dict(state=secrets.token_urlsafe(12), code_challenge=challenge.decode())
    params["code_challenge_method"] = "S256"
    authorize = await client.get("/authorize", params=params)
    login = authorize.headers.get("Location", "")
    if authorize.status_code != 302 or "/login" not in login:
        return authorize.status_code, 0.0
    page = await client.get(login)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if page.status_code != 200 or not token:
        return page.status_code, 0.0
    form = dict(csrf_token=html.unescape(token.group(1)), email=email, password=PASSWORD)
    begun = time.perf_counter()
    answer = await client.post(login, data=form)
    return answer.status_code, (time.perf_counter() - begun) * 1000


@dataclass
class SigninLoad:
    """`concurrency` customers signing in one after another until `stop` is set."""

    base_url: str
    emails: list[str]
    concurrency: int

    def __post_init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.all_signed_in = 0  # ramp included, for CPU per sign-in
        self.stop = asyncio.Event()

    async def _customer(self, email: str, source: str) -> None:
        async with customer_client(self.base_url, source) as client:
            while not self.stop.is_set() and self.statuses.total() < MAX_SIGNINS:
                try:
                    status, ms = await sign_in(client, email)
                except httpx.HTTPError as exc:
                    self.statuses[type(exc).__name__] += 1
                    continue
                self.statuses[str(status)] += 1
                if status == 302:
                    self.latencies.append(ms)
                    self.all_signed_in += 1

    async def run_for(self, seconds: float, ramp: float = 2.0) -> dict[str, Any]:
        """Sign in for `ramp` + `seconds`; the rate counts the sign-ins that ended within the
        last `seconds`, once every customer is under way."""
        # Each customer from its own loopback address, as customers come from their own
        # networks: one shared address would make them contend for one throttle row.
        tasks = [
            asyncio.create_task(
                self._customer(self.emails[n % len(self.emails)], f"127.0.0.{n + 2}")
            )
            for n in range(self.concurrency)
        ]
        await asyncio.sleep(ramp)
        started = time.perf_counter()
        self.latencies.clear()
        self.statuses.clear()
        await asyncio.sleep(seconds)
        done, elapsed = self.statuses["302"], time.perf_counter() - started
        self.stop.set()
        await asyncio.gather(*tasks)
        return {
            "per_second": done / elapsed,
            "signed_in": done,
            "other": {k: v for k, v in self.statuses.items() if k != "302"},
            "p50_ms": pct(self.latencies, 50),
            "p99_ms": pct(self.latencies, 99),
        }


def token_request(token_path: str, secret: str) -> Request:
    auth = base64.b64encode(f"backend:{secret}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}"}
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return Request("POST", token_path, headers, "grant_type=client_credentials&scope=links%3Aread")


async def token_under_signins(
    base_url: str, token: Request, emails: list[str], args: Any
) -> dict[str, Any]:
    """The token endpoint at a modest paced rate (wrk's delay()), alone, then while
    `args.signin_concurrency` customers sign in."""
    paced = dict(connections=args.paced_connections, threads=1, delay_ms=args.paced_delay_ms)
    seconds = args.signin_seconds
    alone: Result = await asyncio.to_thread(wrk, base_url, token, seconds, **paced)
    load = SigninLoad(base_url, emails, args.signin_concurrency)
    await asyncio.sleep(0)
    signins = asyncio.create_task(load.run_for(seconds + 1, ramp=2.0))
    await asyncio.sleep(2.0)  # the sign-ins reach their pace first
    loaded: Result = await asyncio.to_thread(wrk, base_url, token, seconds, **paced)
    return {"alone": asdict(alone), "loaded": asdict(loaded), "signins": await signins}
