"""What `make run` starts (`idp dev`): on a fresh var/ folder and then again on other ports with
the same folder, the banner appears once, after both servers answer, and flow 1 works at once
through the sandbox (the demo client follows the ports: redirect URI and hand-off URL)."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e import IDP, Customer, eventually, free_port

pytestmark = pytest.mark.e2e
BANNER_END = "Stop both with Ctrl-C."


@contextmanager
def idp_dev(var: Path, port: int, sandbox_port: int) -> Iterator[tuple[Path, Path]]:
    """`idp dev` on these ports until the banner is printed; yields its output files."""
    out, err = var / f"dev-{port}.out", var / f"dev-{port}.err"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env |= {"IDP_VAR_DIR": str(var), "PYTHONUNBUFFERED": "1"}
    argv = [IDP, "dev", "--port", str(port), "--sandbox-port", str(sandbox_port)]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + 60
        while BANNER_END not in out.read_text():
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, out.read_text() + err.read_text()
            time.sleep(0.1)
        yield out, err
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def banner_url(banner: str, label: str) -> str:
    found = re.search(rf"{label}:\s+(\S+)", banner)
    assert found, banner
    return found.group(1)


async def flow_1(sandbox_url: str, email: str, password: str) -> None:
    """NOX's start → our sign-in → the terms (the first time) → back at NOX, with the hand-off
    received."""
    customer = Customer()
    try:
        login = await customer.follow(
            await customer.go(await customer.authorize_url_from_nox(sandbox_url))
        )
        assert login.status_code == 200, login.text
        back = await customer.submit(login, {"email": email, "password": password})
        while not back.headers["location"].startswith(sandbox_url):
            page = await customer.follow(back)
            assert "accept_terms" in page.text, page.text  # the first time only
            back = await customer.submit(page, {"accept_terms": "yes", "action": "accept"})
        assert back.headers["location"].startswith(f"{sandbox_url}/callback?"), back.headers
        result = await customer.follow(back)
        assert result.status_code == 200, result.text

        async def succeeded() -> bool:
            page = await customer.go(str(result.url))
            return "Supplier authentication succeeded" in page.text

        assert await eventually(succeeded), html.unescape(result.text)
    finally:
        await customer.close()


async def test_make_run_works_at_once_on_other_ports(tmp_path: Path) -> None:
    for _ in range(2):  # a fresh var/ folder, then the same folder on other ports
        port, sandbox_port = free_port(), free_port()
        with idp_dev(tmp_path, port, sandbox_port) as (out, _err):
            # Both answer by the time the banner is out, and it names them.
            banner = out.read_text()
            sandbox_url = banner_url(banner, "Open the NOX sandbox").rstrip("/")
            assert sandbox_url == f"http://127.0.0.1:{sandbox_port}"
            assert banner_url(banner, "Identity provider") == f"http://127.0.0.1:{port}"
            assert banner_url(banner, "Admin console") == f"http://127.0.0.1:{port}/admin"
            assert "idp admins add" in banner
            for url in (f"http://127.0.0.1:{port}/healthz", f"{sandbox_url}/healthz"):
                assert httpx.get(url).status_code == 200

            demo = json.loads((tmp_path / "demo.json").read_text())
            await flow_1(sandbox_url, demo["email"], demo["password"])
            assert out.read_text().count(BANNER_END) == 1
            assert out.read_text().count("Open the NOX sandbox") == 1
