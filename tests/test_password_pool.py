"""Password hashing on a bounded pool of its own, one thread per core at a lower priority: a full
pool answers 503 with Retry-After (a readable page in the customer's language), counts no
failure, and leaves the token endpoint (on the default executor) free."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart

from idp.app import create_app
from idp.config import Settings
from idp.security import passwords
from tests.conftest import (
    EMAIL,
    PASSWORD,
    ConsoleInEnglish,
    add_client,
    add_user,
    basic_auth,
    csrf_of,
    translated,
)

BUSY = "Many people are signing in right now. Please try again in a moment."


@pytest.fixture
async def tiny_pool_app(settings, clock) -> AsyncIterator[Quart]:  # type: ignore[no-untyped-def]
    """One password thread, no queue."""
    app = create_app(settings.with_overrides(password_workers=1, password_queue=0), clock)
    app.test_client_class = ConsoleInEnglish
    async with app.test_app() as test_app:
        store = app.extensions["idp"].store
        await add_user(store)
        await add_client(store, grant_types=["client_credentials"], scopes=["openid"])
        yield test_app.app  # type: ignore[misc]
    passwords.configure(passwords.DEFAULT_WORKERS, passwords.DEFAULT_QUEUE)


@pytest.fixture
async def busy_pool(tiny_pool_app: Quart) -> AsyncIterator[None]:
    """The only password thread is taken by a job that waits until the test ends."""
    release = threading.Event()
    job = asyncio.ensure_future(passwords.pool().run(release.wait, 30))
    await asyncio.sleep(0)  # the job takes its slot
    yield
    release.set()
    await job


def test_pool_settings_size_the_pool(tiny_pool_app: Quart) -> None:
    assert (passwords.pool().workers, passwords.pool().queue) == (1, 0)


def test_pool_is_sized_from_the_cores_by_default(app: Quart) -> None:
    cores = len(os.sched_getaffinity(0))
    assert Settings().password_workers == cores
    assert (passwords.pool().workers, passwords.pool().queue) == (cores, 8)


def niceness() -> int:
    """The nice value of the thread that calls it (Linux: nice values are per thread)."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
async def test_pool_threads_run_at_a_lower_priority() -> None:
    pool = passwords.PasswordPool(workers=2, queue=0)
    release = threading.Event()

    def hold() -> int:
        release.wait(30)
        return niceness()

    first = asyncio.ensure_future(pool.run(hold))
    second = asyncio.ensure_future(pool.run(hold))
    await asyncio.sleep(0.05)  # both threads started (two jobs cannot share one thread)
    release.set()
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + passwords.NICE_INCREMENT)
    assert await asyncio.gather(first, second) == [expected, expected]
    assert niceness() == os.getpriority(os.PRIO_PROCESS, 0) < expected  # only the pool's threads
    assert await asyncio.to_thread(niceness) < expected  # the default executor's neither
    pool.shutdown()


async def test_full_pool_refuses_at_once() -> None:
    pool = passwords.PasswordPool(workers=1, queue=1)
    release = threading.Event()
    held = [asyncio.ensure_future(pool.run(release.wait, 30)) for _ in range(2)]
    await asyncio.sleep(0)  # both take their slots
    with pytest.raises(passwords.PasswordPoolFull):
        await pool.run(passwords.hash_password, "x")
    release.set()
    await asyncio.gather(*held)
    assert await pool.run(len, "room again") == 10  # the slots came back
    pool.shutdown()


async def sign_in_form(client: Any, path: str, **fields: str) -> Any:
    csrf = csrf_of(await (await client.get(path)).get_data(as_text=True))
    return await client.post(path, form={"csrf_token": csrf, **fields})


@pytest.mark.parametrize("language", ["nl", "en", "fr", "es"])
async def test_customer_sign_in_answers_503_in_their_language(
    tiny_pool_app: Quart, busy_pool: None, language: str
) -> None:
    client = tiny_pool_app.test_client()
    path = f"/account/login?language={language}"
    response = await sign_in_form(client, path, email=EMAIL, password=PASSWORD)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(passwords.RETRY_AFTER_SECONDS)
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.get_data(as_text=True)
    assert translated(BUSY, language) in body and "Traceback" not in body
    if language != "en":
        assert translated(BUSY, language) != BUSY
    store = tiny_pool_app.extensions["idp"].store
    found = await store.throttles.get([f"account:{EMAIL}", "ip:<local>", "ip:127.0.0.1"])
    assert all(failures == 0 for failures, _ in found.values())  # not checked: not counted
    assert await store.events.recent("signin_failed") == []


async def test_admin_sign_in_answers_503_in_english(tiny_pool_app: Quart, busy_pool: None) -> None:
    client = tiny_pool_app.test_client()
    response = await sign_in_form(
        client, "/admin/login", email="owner@example.com", password="x" * 12, code="123456"
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert BUSY in await response.get_data(as_text=True)


async def test_token_endpoint_answers_while_the_password_pool_is_full(
    tiny_pool_app: Quart, busy_pool: None
) -> None:
    client = tiny_pool_app.test_client()
    response = await asyncio.wait_for(
        client.post(
            "/token",
            form={"grant_type": "client_credentials", "scope": "openid"},
            headers=basic_auth(),
        ),
        timeout=60,
    )
    assert response.status_code == 200, await response.get_data(as_text=True)


def test_serve_shares_the_cores_out_among_its_workers() -> None:
    """`idp serve --workers N` sets each worker's IDP_PASSWORD_WORKERS (unless set already)."""
    from idp.cli.run import password_threads

    assert [password_threads(2, n) for n in (1, 2, 3, 4)] == [2, 1, 1, 1]
    assert [password_threads(8, n) for n in (1, 2, 3, 8, 16)] == [8, 4, 3, 1, 1]
