"""Clients are cached per process (oauth/clients.py), and a change made elsewhere takes effect at
once: two `idp serve` instances on one database, the change made by the `idp` command, every
request after it (in parallel) on the other instance sees it."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from tests.conftest import pkce_pair
from tests.e2e import CLIENT_SECRET, IDP, Stack, free_port

pytestmark = pytest.mark.e2e

PARALLEL = 8


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Stack, str]]:
    """Instance A (stack.idp) and instance B, one database; yields the stack and B's URL."""
    stack = Stack(tmp_path)
    await stack.seed(handoff_mode="redirect")
    port = free_port()
    other = replace(
        stack.idp,
        name="idp-b",
        argv=[IDP, "serve", "--host", "127.0.0.1", "--port", str(port)],
        port=port,
        log_path=tmp_path / "idp-b.log",
        proc=None,
    )
    try:
        stack.idp.start()
        other.start()
        yield stack, other.url
    finally:
        other.stop()
        stack.stop()
        print(stack.logs(), other.log())  # pytest shows it only when the test failed


def idp_command(stack: Stack, *args: str) -> str:
    done = subprocess.run(
        [IDP, *args], env=stack.idp.env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def authorize_url(base: str, redirect_uri: str) -> str:
    _, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": "nox",
        "redirect_uri": redirect_uri,
        "scope": "openid",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{base}/authorize?{urlencode(query)}"


def basic(secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"nox:{secret}".encode()).decode()}


async def token_errors(http: httpx.AsyncClient, base: str, secret: str) -> set[str]:
    """The errors of PARALLEL parallel code exchanges with a made-up code: `invalid_grant`
    once the client authenticated, `invalid_client` when it did not."""
    form = {"grant_type": "authorization_code", "code": "made-up", "code_verifier": "v" * 43}
    answers = await asyncio.gather(
        *(http.post(f"{base}/token", data=form, headers=basic(secret)) for _ in range(PARALLEL))
    )
    return {a.json()["error"] for a in answers}


async def test_a_removed_redirect_uri_is_refused_at_once_on_the_other_instance(
    two: tuple[Stack, str],
) -> None:
    stack, other = two
    callback = stack.sandbox.url + "/callback"
    async with httpx.AsyncClient(timeout=30) as http:
        warm = await http.get(authorize_url(other, callback))
        assert warm.status_code == 302 and "/interaction/" in warm.headers["location"]
        idp_command(stack, "clients", "redirect-uris", "remove", "nox", callback)
        answers = await asyncio.gather(
            *(http.get(authorize_url(other, callback)) for _ in range(PARALLEL))
        )
    # RFC 6749 §4.1.2.1: an unregistered redirect URI gets the error page, never a redirect.
    assert {a.status_code for a in answers} == {400}
    assert all("location" not in a.headers for a in answers)


async def test_a_rotated_secret_and_a_disabled_client_are_refused_at_once(
    two: tuple[Stack, str],
) -> None:
    stack, other = two
    async with httpx.AsyncClient(timeout=30) as http:
        assert await token_errors(http, other, CLIENT_SECRET) == {"invalid_grant"}
        new_secret = idp_command(stack, "clients", "rotate-secret", "nox").split()[-1]
        assert await token_errors(http, other, CLIENT_SECRET) == {"invalid_client"}
        assert await token_errors(http, other, new_secret) == {"invalid_grant"}
        idp_command(stack, "clients", "disable", "nox")
        assert await token_errors(http, other, new_secret) == {"invalid_client"}
