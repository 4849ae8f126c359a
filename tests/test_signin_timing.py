"""Account enumeration by timing: every sign-in costs the same argon2 work whatever is stored
(an argon2 hash, a legacy PBKDF2 hash, a disabled customer, no customer at all), counted through
a wrapper around argon2-cffi rather than by the clock; and no `Server-Timing` unless asked."""

from __future__ import annotations

from collections import Counter
from typing import Any

import argon2.low_level
import pytest
from passlib.context import CryptContext
from passlib.hash import pbkdf2_sha256

from idp.app import create_app
from idp.security import passwords
from tests.conftest import EMAIL, PASSWORD, Flow, add_user, csrf_of


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often argon2 verified and hashed (argon2-cffi's functions, wrapped)."""
    calls: Counter[str] = Counter()
    for name in ("verify_secret", "hash_secret"):
        real = getattr(argon2.low_level, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(argon2.low_level, name, counted)
    return calls


def test_dummy_hash_has_the_current_argon2_parameters(app) -> None:
    current = passwords.hasher()
    assert current.dummy_hash.startswith(current.parameters.prefix)
    assert current.context.identify(current.dummy_hash) == "argon2"
    assert not current.needs_update(current.dummy_hash)


async def post_login(client: Any, email: str, password: str) -> Any:
    csrf = csrf_of(await (await client.get("/account/login")).get_data(as_text=True))
    return await client.post(
        "/account/login", form={"csrf_token": csrf, "email": email, "password": password}
    )


async def test_every_wrong_sign_in_costs_one_argon2_verification(
    client, seeded, store, argon2_calls: Counter[str]
) -> None:
    await add_user(
        store,
        email="legacy@example.com",
        supplier_user_id="cust-legacy",
        password_hash=pbkdf2_sha256.hash(PASSWORD),
    )
    # argon2 with libpass's former defaults (64 MiB, t=3, p=4): still exactly one verification,
    # though a dearer one until its next sign-in upgrades it (README, "Password hashing").
    await add_user(
        store,
        email="old@example.com",
        supplier_user_id="cust-old",
        password_hash=CryptContext(schemes=["argon2"]).hash(PASSWORD),
    )
    disabled = await add_user(store, email="off@example.com", supplier_user_id="cust-off")
    await store.users.set_disabled(disabled.id, True, 0)
    cases = {
        "argon2 customer": EMAIL,
        "pbkdf2 customer": "legacy@example.com",
        "outdated argon2 customer": "old@example.com",
        "disabled customer": "off@example.com",
        "unknown address": "nobody@example.com",
        "broken hash": "broken@example.com",
    }
    await add_user(
        store, email="broken@example.com", supplier_user_id="cust-b", password_hash="$nonsense"
    )
    seen = {}
    for case, email in cases.items():
        argon2_calls.clear()
        response = await post_login(client, email, "not the password")
        assert response.status_code == 401, case
        seen[case] = dict(argon2_calls)
    assert seen == {case: {"verify_secret": 1} for case in cases}


async def test_legacy_hash_still_upgraded_on_success(
    client, seeded, store, argon2_calls: Counter[str]
) -> None:
    await add_user(
        store,
        email="legacy@example.com",
        supplier_user_id="cust-legacy",
        password_hash=pbkdf2_sha256.hash(PASSWORD),
    )
    response = await post_login(client, "legacy@example.com", PASSWORD)
    assert response.status_code == 302
    assert argon2_calls == {"verify_secret": 1, "hash_secret": 1}  # dummy check, then rehash
    user = await store.users.by_email("legacy@example.com")
    assert user.password_hash.startswith("$argon2id$")


async def test_no_server_timing_by_default(flow: Flow, client) -> None:
    login = (await flow.authorize()).headers["Location"]
    for response in (
        await flow.sign_in(login, password="wrong"),
        await post_login(client, "nobody@example.com", "wrong"),
        await client.get("/account/login"),
        await client.get("/admin/login"),
        await client.get("/.well-known/openid-configuration"),
    ):
        assert "Server-Timing" not in response.headers


async def test_server_timing_when_enabled_for_development(settings, clock) -> None:
    app = create_app(settings.with_overrides(server_timing=True), clock)
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/account/login")
        assert response.headers["Server-Timing"].startswith("app;dur=")


def test_server_timing_setting_from_the_environment(settings) -> None:
    from idp.config import ConfigError, load_settings

    env = {"IDP_DATABASE_URL": settings.database_url}
    assert load_settings(env).server_timing is False
    assert load_settings({**env, "IDP_SERVER_TIMING": "1"}).server_timing is True
    with pytest.raises(ConfigError):
        load_settings({**env, "IDP_SERVER_TIMING": "maybe"})
