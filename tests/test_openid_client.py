"""End to end: the certified relying party library openid-client against the real server.

The server is set up through its own command line (migrate, add a user, add a
client, publish terms) and started with ``idp serve`` on a free loopback port.
``tests/rp/rp.mjs`` then runs an authorization code flow with PKCE, state and
nonce through openid-client, acting as a minimal browser for the sign-in and
terms pages, redeems the code with client_secret_basic and calls userinfo.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e import fresh_database, server_option

pytestmark = pytest.mark.e2e

RP_DIR = Path(__file__).parent / "rp"
RP_SCRIPT = RP_DIR / "rp.mjs"

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
SUPPLIER_USER_ID = "cust-0001"
NAME = "Ada Lovelace"
CLIENT_ID = "nox"
REDIRECT_URI = "http://127.0.0.1:9/cb"
TERMS_VERSION = "2026-01"
TERMS = {
    "nl": "# Voorwaarden\n\nU geeft NOX Energy toegang tot uw gegevens.\n",
    "en": "# Terms\n\nYou give NOX Energy access to your data.\n",
}

STARTUP_TIMEOUT = 20.0
COMMAND_TIMEOUT = 120.0
RP_TIMEOUT = 90.0


def _require_node() -> tuple[str, str]:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(n for n, p in (("node", node), ("npm", npm)) if p is None)
        pytest.skip(f"{missing} not found on PATH; the openid-client end-to-end test needs Node")
    return node, npm


def _ensure_rp_installed(npm: str) -> None:
    if (RP_DIR / "node_modules" / "openid-client").is_dir():
        return
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=RP_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"


def _idp_command() -> list[str]:
    script = Path(sys.executable).with_name("idp")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "idp.cli"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> None:
    result = subprocess.run(
        argv,
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(argv)} exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )


def _wait_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"idp serve exited with {server.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
                last_error = f"status {response.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"status {exc.code}"
            exc.close()
        except (OSError, urllib.error.URLError) as exc:
            last_error = repr(exc)
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 within {STARTUP_TIMEOUT} s: {last_error}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


@dataclass(frozen=True)
class RunningIdp:
    issuer: str
    client_secret: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def node_tools() -> tuple[str, str]:
    node, npm = _require_node()
    _ensure_rp_installed(npm)
    return node, npm


@pytest.fixture
def idp_server(tmp_path: Path) -> Iterator[RunningIdp]:
    """Set up a fresh database through the CLI and run ``idp serve`` on a free port."""
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    client_secret = secrets.token_urlsafe(30)  # 40 characters
    assert len(client_secret) == 40

    env = dict(os.environ)
    env.update(
        {
            "IDP_DATABASE_URL": fresh_database(tmp_path),
            "IDP_ISSUER": issuer,
            "IDP_VAR_DIR": str(tmp_path),
            "PYTHONUNBUFFERED": "1",
        }
    )
    idp = _idp_command()

    _run([*idp, "migrate"], env)
    _run(
        [
            *idp,
            "users",
            "add",
            "--email",
            EMAIL,
            "--supplier-user-id",
            SUPPLIER_USER_ID,
            "--name",
            NAME,
            "--password-stdin",
        ],
        env,
        stdin=PASSWORD,
    )
    _run(
        [
            *idp,
            "clients",
            "add",
            "--client-id",
            CLIENT_ID,
            "--name",
            "NOX",
            "--redirect-uri",
            REDIRECT_URI,
            "--auth-method",
            "client_secret_basic",
            "--secret-stdin",
        ],
        env,
        stdin=client_secret,
    )
    for language, text in TERMS.items():
        terms_file = tmp_path / f"terms-{language}.md"
        terms_file.write_text(text, encoding="utf-8")
        _run(
            [
                *idp,
                "terms",
                "publish",
                "--version",
                TERMS_VERSION,
                "--language",
                language,
                str(terms_file),
            ],
            env,
        )

    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*idp, "serve", "--host", "127.0.0.1", "--port", str(port), *server_option()],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = RunningIdp(issuer=issuer, client_secret=client_secret, log_path=log_path)
    try:
        _wait_healthy(f"{issuer}/healthz", server)
        yield running
    finally:
        _stop(server)
        # Captured by pytest: only shown when the test (or this teardown) fails.
        print(f"---- idp serve output (exit {server.returncode}) ----\n{running.log()}")


def test_openid_client_code_flow(node_tools: tuple[str, str], idp_server: RunningIdp) -> None:
    node, _ = node_tools
    issuer = idp_server.issuer

    env = dict(os.environ)
    env.update(
        {
            "RP_ISSUER": issuer,
            "RP_CLIENT_ID": CLIENT_ID,
            "RP_CLIENT_SECRET": idp_server.client_secret,
            "RP_REDIRECT_URI": REDIRECT_URI,
            "RP_EMAIL": EMAIL,
            "RP_PASSWORD": PASSWORD,
            "RP_SCOPE": "openid profile email",
            "RP_LANGUAGE": "en",
        }
    )
    result = subprocess.run(
        [node, str(RP_SCRIPT)],
        cwd=RP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=RP_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"rp.mjs exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}\n"
        f"---- idp serve output so far ----\n{idp_server.log()}"
    )

    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines, f"rp.mjs printed nothing; stderr:\n{result.stderr}"
    out = json.loads(lines[-1])

    assert out["sub"] == SUPPLIER_USER_ID

    claims = out["id_token_claims"]
    assert claims["iss"] == issuer
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    assert CLIENT_ID in audience
    assert claims.get("nonce")
    assert isinstance(claims.get("auth_time"), int)
    assert claims.get("at_hash")

    userinfo = out["userinfo"]
    assert userinfo["sub"] == SUPPLIER_USER_ID
    assert userinfo["email"] == EMAIL
    assert userinfo["name"] == NAME
