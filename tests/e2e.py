"""Real processes for end-to-end tests: `idp serve` and `idp sandbox` on loopback ports, a real
database (SQLite, or the PostgreSQL database IDP_TEST_POSTGRES_URL names), and a small
cookie-keeping HTTP "browser" for the customer's steps."""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from idp.security import passwords
from idp.security.secrets import digest
from idp.store import Store
from idp.store.migrate import upgrade

IDP = str(Path(sys.executable).with_name("idp"))
# The ASGI server the end-to-end tests run `idp serve` on: its default unless IDP_TEST_SERVER
# names another (CI runs these tests a second time on Hypercorn, which stays supported).
TEST_SERVER = os.environ.get("IDP_TEST_SERVER", "")
# The database `idp serve` runs on: a new SQLite file per test, unless IDP_TEST_POSTGRES_URL names
# a PostgreSQL database (CI's Hypercorn pass), which each test then gets empty (`fresh_database`).
POSTGRES_URL = os.environ.get("IDP_TEST_POSTGRES_URL", "")
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
SUPPLIER_USER_ID = "cust-0001"
CLIENT_SECRET = "sandbox-client-secret-0123456789-abcdef"
API_KEY = "nox-api-key-for-tests-0123456789"
SANDBOX_SUPPLIER = "local-supplier"  # the supplier the sandbox has an OAuth client for
CUSTOMERS = [
    (EMAIL, SUPPLIER_USER_ID, "Ada Lovelace"),
    ("bob@example.com", "cust-0002", "Bob Baker"),
]


def run_in_thread(work: Callable[[], Any]) -> Any:
    """Run `work` (which may start an event loop of its own) in a thread: a test's event loop may
    be running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


async def _postgres_execute(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def drop_postgres_schema(url: str) -> None:
    """Drop everything in the PostgreSQL database at `url` (its owner may: PostgreSQL 15's
    `public` schema belongs to the database's owner)."""
    run_in_thread(
        lambda: asyncio.run(
            _postgres_execute(url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        )
    )


def reset_postgres(url: str) -> None:
    """Make the PostgreSQL database at `url` empty and at the newest schema: the first time in
    this test session by dropping everything in it and migrating (CI may run the suite twice on
    one database), then by emptying every table (TRUNCATE: about 50 ms, where dropping and
    migrating again takes about 450 ms)."""
    from idp.store.tables import metadata

    if url not in _reset_databases:
        drop_postgres_schema(url)
        run_in_thread(lambda: upgrade(url))
        _reset_databases.add(url)
        return
    names = ", ".join(table.name for table in metadata.sorted_tables)
    statement = f"TRUNCATE {names} RESTART IDENTITY CASCADE"
    run_in_thread(lambda: asyncio.run(_postgres_execute(url, statement)))


_reset_databases: set[str] = set()


def fresh_database(tmp: Path) -> str:
    """The URL of an empty database at the newest schema for one test's `idp serve`."""
    if POSTGRES_URL:
        reset_postgres(POSTGRES_URL)
        return POSTGRES_URL
    url = f"sqlite+aiosqlite:///{tmp / 'idp.sqlite3'}"
    run_in_thread(lambda: upgrade(url))
    return url


def server_option() -> list[str]:
    """The `--server` option of `idp serve` that IDP_TEST_SERVER asks for, if any."""
    return ["--server", TEST_SERVER] if TEST_SERVER else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    """A server process with its log in a file, started and stopped on demand."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer /healthz:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Stack:
    """The identity provider and the NOX sandbox, configured for each other."""

    tmp: Path
    idp: Process = field(init=False)
    sandbox: Process = field(init=False)
    database_url: str = field(init=False)

    def __post_init__(self) -> None:
        self.database_url = fresh_database(self.tmp)
        idp_port, sandbox_port, smtp_port = free_port(), free_port(), free_port()
        issuer = f"http://127.0.0.1:{idp_port}"
        env = {
            **os.environ,
            "IDP_ISSUER": issuer,
            "IDP_DATABASE_URL": self.database_url,
            "IDP_VAR_DIR": str(self.tmp),
            "IDP_NOX_API_KEY": API_KEY,
            "IDP_HANDOFF_TIMEOUT_SECONDS": "1",
            "IDP_HANDOFF_POLL_SECONDS": "0.2",
            "IDP_HANDOFF_RETRY_BASE_SECONDS": "0.5",
            "IDP_SANDBOX_CLIENT_SECRET": CLIENT_SECRET,
            "IDP_NOX_AUTH_BASE": f"http://127.0.0.1:{sandbox_port}",
            "IDP_NOX_API_BASE": f"http://127.0.0.1:{sandbox_port}",
            # Customers' mail goes to the sandbox's mail catcher (GET /_sandbox/mail).
            "IDP_SMTP_HOST": "127.0.0.1",
            "IDP_SMTP_PORT": str(smtp_port),
            "IDP_SMTP_SECURITY": "none",
            "IDP_SANDBOX_SMTP_PORT": str(smtp_port),
        }
        self.idp = Process(
            "idp",
            [IDP, "serve", "--host", "127.0.0.1", "--port", str(idp_port), *server_option()],
            env,
            idp_port,
            self.tmp / "idp.log",
        )
        self.sandbox = Process(
            "sandbox",
            [IDP, "sandbox", "--port", str(sandbox_port), "--idp-url", issuer],
            env,
            sandbox_port,
            self.tmp / "sandbox.log",
        )

    async def seed(self, handoff_mode: str = "backchannel") -> None:
        store = Store.connect(self.database_url)
        try:
            for email, supplier_user_id, name in CUSTOMERS:
                await store.users.add(
                    email=email,
                    supplier_user_id=supplier_user_id,
                    name=name,
                    password_hash=passwords.hash_password(PASSWORD),
                    now=0,
                )
            await store.clients.add(
                client_id="nox",
                name="NOX Energy",
                secret_hash=digest(CLIENT_SECRET),
                token_endpoint_auth_method="client_secret_basic",
                grant_types=["authorization_code", "refresh_token"],
                scopes=["openid", "profile", "email"],
                redirect_uris=[self.sandbox.url + "/callback"],
                post_logout_redirect_uris=[self.sandbox.url + "/signed-out"],
                now=0,
                handoff_mode=handoff_mode,
                post_login_redirect_url=self.sandbox.url + "/post-login-redirect",
            )
            await store.clients.update(
                "nox", 0, backchannel_logout_uri=self.sandbox.url + "/backchannel-logout"
            )
            await store.terms.publish(
                version="2026-01", language="nl", body_md="# Voorwaarden\n\nAkkoord?", now=0
            )
            await store.terms.publish(
                version="2026-01", language="en", body_md="# Terms\n\nAgreed?", now=0
            )
        finally:
            await store.close()

    async def devices(self) -> dict[str, str]:
        """The registry: device_id -> supplier_user_id."""
        store = Store.connect(self.database_url)
        try:
            return {d.device_id: d.supplier_user_id for d in await store.links.all_devices()}
        finally:
            await store.close()

    async def outbox(self) -> list[Any]:
        store = Store.connect(self.database_url)
        try:
            return await store.outbox.list()
        finally:
            await store.close()

    async def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as http:
            found = (await http.get(self.sandbox.url + "/_sandbox/events")).json()
        return [e for e in found if kind is None or e["type"] == kind]

    async def mail(self) -> list[dict[str, Any]]:
        """What the identity provider mailed, as the sandbox's mail catcher received it."""
        async with httpx.AsyncClient() as http:
            return list((await http.get(self.sandbox.url + "/_sandbox/mail")).json())

    async def control(self, **behaviour: Any) -> None:
        async with httpx.AsyncClient() as http:
            response = await http.post(self.sandbox.url + "/_sandbox/control", json=behaviour)
            response.raise_for_status()

    def stop(self) -> None:
        self.sandbox.stop()
        self.idp.stop()

    @contextlib.contextmanager
    def running(self, sandbox: bool = True) -> Iterator[Stack]:
        """The identity provider (and the sandbox) started; stopped afterwards, their logs
        printed (pytest shows them only when the test failed)."""
        try:
            self.idp.start()
            if sandbox:
                self.sandbox.start()
            yield self
        finally:
            self.stop()
            print(self.logs() if sandbox else self.idp.log())

    def logs(self) -> str:
        return f"--- idp ---\n{self.idp.log()}\n--- sandbox ---\n{self.sandbox.log()}"


def form_fields(body: str) -> dict[str, str]:
    fields = {}
    for tag in re.findall(r"<input[^>]*>", body):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="checkbox"' not in tag:
            fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    return fields


@dataclass
class Customer:
    """A browser without JavaScript: follows our redirects by hand and keeps cookies."""

    http: httpx.AsyncClient = field(
        default_factory=lambda: httpx.AsyncClient(follow_redirects=False, timeout=20)
    )

    async def go(self, url: str) -> httpx.Response:
        return await self.http.get(url)

    async def follow(self, response: httpx.Response) -> httpx.Response:
        while response.status_code in (301, 302, 303):
            response = await self.http.get(urljoin(str(response.url), response.headers["location"]))
        return response

    async def submit(self, page: httpx.Response, extra: dict[str, str]) -> httpx.Response:
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert action, page.text
        data = {**form_fields(page.text), **extra}
        return await self.http.post(
            urljoin(str(page.url), html.unescape(action.group(1))), data=data
        )

    async def authorize_url_from_nox(
        self, sandbox_url: str, language: str = "en", maker: str | None = None
    ) -> str:
        """Sandbox start (the NOX app, or the app of `maker`) → supplier selector, where the
        customer picks the configured supplier → the /authorize URL NOX sends the browser to."""
        start = await self.go(sandbox_url + (f"/maker/{maker}" if maker else "/"))
        enable = re.search(r'href="(/enable[^"]*)"', start.text)
        assert enable, start.text
        selector = await self.go(sandbox_url + html.unescape(enable.group(1)))
        chosen = {"language": language, "supplier": SANDBOX_SUPPLIER}
        answer = await self.submit(selector, chosen)
        assert answer.status_code in (302, 303), answer.text
        return str(answer.headers["location"])

    async def start_at_nox(
        self, sandbox_url: str, language: str = "en", maker: str | None = None
    ) -> httpx.Response:
        """Sandbox start → supplier selector → our sign-in page."""
        return await self.follow(
            await self.go(await self.authorize_url_from_nox(sandbox_url, language, maker))
        )

    async def sign_in_and_accept(self, login_page: httpx.Response) -> httpx.Response:
        """Sign in and accept the terms; returns the answer that sends the browser to NOX."""
        terms = await self.follow(
            await self.submit(login_page, {"email": EMAIL, "password": PASSWORD})
        )
        assert "accept_terms" in terms.text, terms.text
        return await self.submit(terms, {"accept_terms": "yes", "action": "accept"})

    async def close(self) -> None:
        await self.http.aclose()


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll an async check until it returns something truthy (bounded in time)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.2)
