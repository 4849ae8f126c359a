"""argon2id parameters: a row of OWASP's table by default (12 MiB, t=3, p=1), configurable within
bounds, and a hash made with other parameters (libpass's defaults before: 64 MiB, t=3, p=4)
re-hashed with the configured ones at the customer's next successful sign-in."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from passlib.context import CryptContext
from quart import Quart

from idp.app import create_app
from idp.cli import main
from idp.config import ConfigError, Settings, load_settings
from idp.security import passwords
from idp.store import Store
from tests.conftest import EMAIL, PASSWORD, add_user, csrf_of

OWASP_PREFIX = "$argon2id$v=19$m=12288,t=3,p=1$"
OLD_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"


def argon2_hash(password: str, memory_kib: int, time_cost: int, parallelism: int) -> str:
    return str(
        CryptContext(
            schemes=["argon2"],
            argon2__memory_cost=memory_kib,
            argon2__rounds=time_cost,
            argon2__parallelism=parallelism,
        ).hash(password)
    )


@pytest.fixture
def default_parameters() -> Iterator[None]:
    """Whatever a test configures, the next one starts from the defaults."""
    yield
    passwords.configure(passwords.DEFAULT_WORKERS, passwords.DEFAULT_QUEUE)


async def post_login(client: Any, email: str, password: str) -> Any:
    csrf = csrf_of(await (await client.get("/account/login")).get_data(as_text=True))
    return await client.post(
        "/account/login", form={"csrf_token": csrf, "email": email, "password": password}
    )


def test_defaults_are_owasps(app: Quart) -> None:
    assert (Settings().argon2_memory_kib, Settings().argon2_time_cost) == (12288, 3)
    assert passwords.hasher().parameters == passwords.Argon2Parameters(12288, 3, 1)
    assert passwords.hash_password(PASSWORD).startswith(OWASP_PREFIX)
    assert passwords.hasher().dummy_hash.startswith(OWASP_PREFIX)


async def test_old_parameters_upgraded_at_next_sign_in(client, seeded, store) -> None:
    old = argon2_hash(PASSWORD, 65536, 3, 4)
    assert old.startswith(OLD_PREFIX)
    await add_user(store, email="old@example.com", supplier_user_id="cust-old", password_hash=old)

    assert (await post_login(client, "old@example.com", "not the password")).status_code == 401
    assert (await store.users.by_email("old@example.com")).password_hash == old  # not on failure

    assert (await post_login(client, "old@example.com", PASSWORD)).status_code == 302
    stored = (await store.users.by_email("old@example.com")).password_hash
    assert stored.startswith(OWASP_PREFIX)
    assert passwords.verify(PASSWORD, stored) == passwords.Verification(True, None)
    assert passwords.verify("not the password", stored) == passwords.Verification(False)


async def test_up_to_date_hash_left_alone_at_sign_in(client, seeded, store) -> None:
    before = (await store.users.by_email(EMAIL)).password_hash
    assert before.startswith(OWASP_PREFIX)
    assert (await post_login(client, EMAIL, PASSWORD)).status_code == 302
    assert (await store.users.by_email(EMAIL)).password_hash == before


@pytest.mark.parametrize(
    "memory_kib, time_cost, parallelism",
    [(65536, 3, 4), (19456, 2, 1), (12288, 2, 1), (12288, 3, 2), (12288, 4, 1)],
)
def test_any_other_parameter_is_upgraded(
    app: Quart, memory_kib: int, time_cost: int, parallelism: int
) -> None:
    stored = argon2_hash(PASSWORD, memory_kib, time_cost, parallelism)
    check = passwords.verify(PASSWORD, stored)
    assert check.ok and check.new_hash is not None
    assert check.new_hash.startswith(OWASP_PREFIX)
    assert passwords.verify("wrong", stored) == passwords.Verification(False)


def test_argon2i_is_upgraded_to_argon2id(app: Quart) -> None:
    stored = CryptContext(schemes=["argon2"], argon2__type="I").hash(PASSWORD)
    assert stored.startswith("$argon2i$")
    check = passwords.verify(PASSWORD, stored)
    assert check.ok and check.new_hash is not None
    assert check.new_hash.startswith(OWASP_PREFIX)


@pytest.fixture
async def headline_app(settings, clock, default_parameters) -> AsyncIterator[Quart]:
    """OWASP's headline row instead of the default: 19 MiB, t=2."""
    tuned = settings.with_overrides(argon2_memory_kib=19456, argon2_time_cost=2)
    app = create_app(tuned, clock)
    async with app.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


async def test_configured_parameters_hash_check_and_upgrade(headline_app: Quart) -> None:
    prefix = "$argon2id$v=19$m=19456,t=2,p=1$"
    assert passwords.hash_password(PASSWORD).startswith(prefix)
    # Unknown emails are checked against a dummy made with the same parameters: equal work.
    assert passwords.hasher().dummy_hash.startswith(prefix)
    store = headline_app.extensions["idp"].store
    await add_user(store, password_hash=argon2_hash(PASSWORD, 12288, 3, 1))  # the default's
    response = await post_login(headline_app.test_client(), EMAIL, PASSWORD)
    assert response.status_code == 302
    assert (await store.users.by_email(EMAIL)).password_hash.startswith(prefix)


def test_parameters_from_the_environment(settings: Settings) -> None:
    env = {
        "IDP_DATABASE_URL": settings.database_url,
        "IDP_ARGON2_MEMORY_KIB": "47104",
        "IDP_ARGON2_TIME_COST": "1",
        "IDP_ARGON2_PARALLELISM": "2",
    }
    loaded = load_settings(env)
    assert (loaded.argon2_memory_kib, loaded.argon2_time_cost, loaded.argon2_parallelism) == (
        47104,
        1,
        2,
    )


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("IDP_ARGON2_MEMORY_KIB", "lots", "IDP_ARGON2_MEMORY_KIB must be a whole number, got"),
        ("IDP_ARGON2_MEMORY_KIB", "0", "IDP_ARGON2_MEMORY_KIB must be a whole number from 7168"),
        ("IDP_ARGON2_MEMORY_KIB", "4096", "IDP_ARGON2_MEMORY_KIB must be a whole number from 7168"),
        ("IDP_ARGON2_MEMORY_KIB", "1048577", "from 7168 to 1048576"),
        ("IDP_ARGON2_TIME_COST", "0", "IDP_ARGON2_TIME_COST must be a whole number from 1 to 20"),
        ("IDP_ARGON2_TIME_COST", "21", "IDP_ARGON2_TIME_COST must be a whole number from 1 to 20"),
        ("IDP_ARGON2_PARALLELISM", "0", "IDP_ARGON2_PARALLELISM must be a whole number from 1"),
        ("IDP_ARGON2_PARALLELISM", "17", "IDP_ARGON2_PARALLELISM must be a whole number from 1"),
        # Each within its bounds, but together weaker than OWASP's weakest row (7 MiB x 5).
        ("IDP_ARGON2_TIME_COST", "1", "IDP_ARGON2_MEMORY_KIB x IDP_ARGON2_TIME_COST must be"),
    ],
)
def test_bad_parameters_refused_at_start_up(
    settings: Settings, variable: str, value: str, message: str
) -> None:
    env = {"IDP_DATABASE_URL": settings.database_url, variable: value}
    with pytest.raises(ConfigError, match=message.replace("$", r"\$")):
        load_settings(env)


@pytest.mark.parametrize("memory_kib, time_cost", [(47104, 1), (19456, 2), (9216, 4), (7168, 5)])
def test_owasps_rows_accepted(settings: Settings, memory_kib: int, time_cost: int) -> None:
    tuned = settings.with_overrides(argon2_memory_kib=memory_kib, argon2_time_cost=time_cost)
    assert (tuned.argon2_memory_kib, tuned.argon2_time_cost) == (memory_kib, time_cost)


def test_weak_pair_refused(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="must be at least 35840"):
        settings.with_overrides(argon2_memory_kib=7168, argon2_time_cost=4)


def test_the_idp_command_hashes_with_the_configured_parameters(
    tmp_path: Path, default_parameters: None
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'idp.sqlite3'}"
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("IDP_")}
    env.update(IDP_DATABASE_URL=url, IDP_ARGON2_MEMORY_KIB="19456", IDP_ARGON2_TIME_COST="2")
    runner = CliRunner(env=env)
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    args = ["users", "add", "--email", EMAIL, "--supplier-user-id", "C-1", "--password-stdin"]
    result = runner.invoke(main, args, input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output

    async def stored_hash() -> str:
        store = Store.connect(url)
        try:
            return str((await store.users.by_email(EMAIL)).password_hash)
        finally:
            await store.close()

    assert asyncio.run(stored_hash()).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
