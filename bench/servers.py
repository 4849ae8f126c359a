"""The two servers the bench runs side by side on free loopback ports: `idp serve` on a fresh,
seeded SQLite database, and the peer (oidc-provider, bench/peer/server.mjs). Each is a context
manager that starts the server, waits until it answers, and stops it with its workers."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from run import IDP, descendants, peak_rss, seed, stop, wait_healthy

PEER_DIR = Path(__file__).with_name("peer")
DISCOVERY = "/.well-known/openid-configuration"
# Every simulated customer comes from 127.0.0.1, so the limit of new authentication sessions per
# client network (60 a minute by default) would cap the sign-in load at one a second.
AUTHORIZE_PER_MINUTE = "1000000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """What the bench needs of a running server."""

    label: str
    base_url: str
    process: subprocess.Popen[bytes]
    backend_secret: str

    def endpoints(self) -> dict[str, str]:
        """Paths of the token endpoint and the JWKS, read from the server's own discovery."""
        doc = httpx.get(self.base_url + DISCOVERY, timeout=10).json()
        strip = len(self.base_url)
        return {"token": doc["token_endpoint"][strip:], "jwks": doc["jwks_uri"][strip:]}

    def rss(self) -> list[dict[str, Any]]:
        return peak_rss(self.process.pid)


class Ours(Server):
    """`idp serve --workers N [--server NAME]` on a fresh SQLite database in a temporary folder,
    seeded with `customers` customers (bench0@example.com ...), the `nox` client and the
    `backend` client_credentials client."""

    def __init__(self, workers: int, server: str | None = None, customers: int = 16) -> None:
        self.workers, self.server, self.customers = workers, server, customers
        self.label = f"idp ({server})" if server else "idp"
        self.nox_secret, self.backend_secret = secrets.token_urlsafe(30), secrets.token_urlsafe(30)

    def __enter__(self) -> Ours:
        self._tmp = tempfile.TemporaryDirectory(prefix="idp-bench-")
        tmp = Path(self._tmp.name)
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.db_path = tmp / "idp.sqlite3"
        env = dict(os.environ, IDP_ISSUER=self.base_url, IDP_VAR_DIR=str(tmp))
        env |= dict(PYTHONUNBUFFERED="1", IDP_SERVER_TIMING="true")
        env["IDP_DATABASE_URL"] = f"sqlite+aiosqlite:///{self.db_path}"
        env["IDP_AUTHORIZE_PER_MINUTE"] = AUTHORIZE_PER_MINUTE
        self.emails = seed(tmp, env, self.customers, self.nox_secret, self.backend_secret)
        argv = [IDP, "serve", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--workers", str(self.workers)]
        argv += ["--server", self.server] if self.server else []
        self.log = tmp / "serve.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_healthy(self.base_url, self.process, self.log)
        except BaseException:
            stop(self.process)
            self._tmp.cleanup()
            raise
        return self

    def log_errors(self) -> list[str]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if re.search("ERROR|Traceback", line)]

    def __exit__(self, *exc: object) -> None:
        try:
            stop(self.process)
        finally:
            self._tmp.cleanup()


def npm_ci() -> None:
    """Install the pinned peer from bench/peer/package-lock.json when it is missing or stale."""
    marker = PEER_DIR / "node_modules" / ".package-lock.json"
    lock = PEER_DIR / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if not npm:
        sys.exit("npm is not installed: `apt-get install nodejs npm` (make bench does this)")
    argv = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    subprocess.run(argv, cwd=PEER_DIR, check=True, timeout=600)


class Peer(Server):
    """oidc-provider with `workers` cluster workers and the same `backend` client."""

    label = "oidc-provider"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.backend_secret = secrets.token_urlsafe(30)

    def __enter__(self) -> Peer:
        npm_ci()
        node = shutil.which("node") or sys.exit("node is not installed")
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        argv = [node, "server.mjs", "--port", str(port), "--workers", str(self.workers)]
        argv += ["--secret", self.backend_secret]
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            argv, cwd=PEER_DIR, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base_url + DISCOVERY, timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        self.__exit__(None, None, None)
        self._log.seek(0)
        sys.exit(f"the peer did not start:\n{self._log.read().decode(errors='replace')}")

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        workers = descendants(self.process.pid)
        self.process.terminate()  # the primary passes SIGTERM on to its workers
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for pid in workers:
            with contextlib.suppress(OSError):
                if b"server.mjs" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, 9)
        self._log.close()
