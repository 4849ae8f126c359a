"""Operations: liveness, readiness, configuration errors."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from idp.config import ConfigError, Settings, load_settings
from tests.conftest import POSTGRES_URL


async def test_healthz(client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}


async def test_readyz_checks_migrations(client, store) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    async with store.engine.begin() as conn:
        head = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        await conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    try:
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert (await response.get_json())["migrations"]["current"] == "old"
    finally:  # the database may be shared (PostgreSQL runs)
        async with store.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})


@pytest.mark.parametrize(
    "issuer",
    ["http://login.example.com", "ftp://127.0.0.1", "https://x.example/?q=1", "not a url"],
)
def test_bad_issuers_are_refused(issuer: str) -> None:
    with pytest.raises(ConfigError):
        Settings(issuer=issuer)


def test_settings_from_environment() -> None:
    settings = load_settings(
        {"IDP_ISSUER": "https://login.example.com", "IDP_AUTH_SESSION_SECONDS": "600"}
    )
    assert settings.auth_session_seconds == 600
    assert settings.cookie_secure is True
    with pytest.raises(ConfigError, match="IDP_CODE_SECONDS"):
        load_settings({"IDP_CODE_SECONDS": "soon"})
    with pytest.raises(ConfigError, match="IDP_CODE_SECONDS"):
        load_settings({"IDP_CODE_SECONDS": "0"})


def test_settings_from_toml(tmp_path) -> None:
    path = tmp_path / "idp.toml"
    path.write_text('issuer = "https://login.example.com"\nsupplier_name = "Groen"\n')
    settings = load_settings({"IDP_CONFIG": str(path), "IDP_SUPPLIER_NAME": "Groener"})
    assert settings.issuer == "https://login.example.com"
    assert settings.supplier_name == "Groener"  # the environment wins
    path.write_text('isuer = "typo"\n')
    with pytest.raises(ConfigError, match="isuer"):
        load_settings({"IDP_CONFIG": str(path)})


async def test_secret_key_is_generated_once_and_kept(settings, clock) -> None:
    from idp.app import create_app

    keys = []
    for _ in range(2):
        app = create_app(settings.with_overrides(secret_key=None), clock)
        async with app.test_app():
            keys.append(app.secret_key)
    assert keys[0] == keys[1] and len(keys[0]) >= 48


@pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite only: this run is on PostgreSQL")
async def test_sqlite_runs_in_wal_mode_with_foreign_keys(store) -> None:
    async with store.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1


@pytest.mark.parametrize("language", ["nl", "en", "fr", "es"])
async def test_the_root_is_a_page_not_a_404(client, language: str) -> None:
    from tests.conftest import translated

    response = await client.get(f"/?language={language}")
    assert response.status_code == 200
    body = await response.get_data(as_text=True)
    assert translated("Your account", language) in body
    assert f'href="/account?language={language}"' in body
    assert 'href="/admin"' in body
