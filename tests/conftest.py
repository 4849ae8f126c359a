"""Fixtures: a real app on a real (migrated) SQLite database, a frozen clock, and a flow helper
that walks the customer's pages the way a browser does."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from quart import Quart
from quart.testing import QuartClient

from idp.app import create_app
from idp.config import Settings
from idp.i18n import in_language
from idp.oauth.keys import generate_key
from idp.security import passwords
from idp.security.clock import FrozenClock
from idp.security.secrets import digest
from idp.store import Store
from idp.store.migrate import upgrade

ISSUER = "http://127.0.0.1:8000"
REDIRECT_URI = "https://nox.example/oauth/callback"
CLIENT_ID = "nox"
CLIENT_SECRET = "nox-secret-0123456789-abcdefghijklmnopq"
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
SUPPLIER_USER_ID = "cust-0001"
NOX_BASE = "http://127.0.0.1:9"  # nothing listens on port 9
NOX_API_KEY = "nox-api-key-for-tests-0123456789"
TERMS_NL = "# Voorwaarden\n\nU gaat akkoord met **alles**."
TERMS_EN = "# Terms\n\nYou agree to **everything**."


# With IDP_TEST_POSTGRES_URL set (as .ci/run does), the in-process tests run on PostgreSQL.
POSTGRES_URL = os.environ.get("IDP_TEST_POSTGRES_URL")


# Every test's database starts with this ID token signing key, made long ago (so it signs): the
# app would otherwise make an RSA key for each test as it starts.
SIGNING_KID, SIGNING_JWK = generate_key("RS256")
INSERT_SIGNING_KEY = "INSERT INTO signing_keys (kid, alg, private_jwk, created_at) VALUES "


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database, with its signing key, per test session; each test gets a copy of
    it (or, on PostgreSQL, the same database emptied and given the key again)."""
    if POSTGRES_URL:
        upgrade(POSTGRES_URL)
    path = tmp_path_factory.mktemp("template") / "idp.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(
            INSERT_SIGNING_KEY + "(?, 'RS256', ?, 0)", (SIGNING_KID, json.dumps(SIGNING_JWK))
        )
    return path


def empty_postgres(url: str) -> None:
    """Empty every table but for the signing key (in a thread of its own: a test's event loop
    may be running)."""
    import asyncpg

    from idp.store.tables import metadata

    names = ", ".join(table.name for table in metadata.sorted_tables)

    async def truncate() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            async with conn.transaction():
                await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
                await conn.execute(
                    INSERT_SIGNING_KEY + "($1, 'RS256', $2, 0)",
                    SIGNING_KID,
                    json.dumps(SIGNING_JWK),
                )
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, truncate()).result()


@pytest.fixture
def settings(tmp_path: Path, migrated_db: Path) -> Settings:
    db = tmp_path / "idp.sqlite3"
    shutil.copy(migrated_db, db)
    url = f"sqlite+aiosqlite:///{db}"
    if POSTGRES_URL:
        empty_postgres(POSTGRES_URL)
        url = POSTGRES_URL
    return Settings(
        issuer=ISSUER,
        database_url=url,
        secret_key="test-secret-key-0123456789",
        var_dir=str(tmp_path),
        supplier_name="Groene Stroom",
        # NOX "lives" on a closed loopback port: hand-offs go nowhere outside this machine.
        nox_auth_base=NOX_BASE,
        nox_api_key=NOX_API_KEY,
        nox_api_base="",  # no data API unless a test names one
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


class ConsoleInEnglish(QuartClient):
    """The in-process test browser: it asks the admin console for English (Accept-Language:
    en), which the console tests read, unless a request names its own Accept-Language. (The
    console speaks the admin's language, else the browser's, else Dutch; the sign-in and
    enrolment pages have no admin yet, so a header is the one way to say it for every page.)
    Customer pages get no such header: their tests expect Dutch by default."""

    async def open(self, path: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if path.startswith("/admin"):
            headers = dict(kwargs.get("headers") or {})
            if not any(k.lower() == "accept-language" for k in headers):
                headers["Accept-Language"] = "en"
            kwargs["headers"] = headers
        return await super().open(path, *args, **kwargs)


@pytest.fixture
def english() -> Iterator[None]:
    """Messages made outside a request (a use case called directly) in English, which these
    tests read; outside a request the language is otherwise nl, the default."""
    with in_language("en"):
        yield


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator[Quart]:
    app = create_app(settings, clock)
    app.test_client_class = ConsoleInEnglish
    async with app.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


@pytest.fixture
def store(app: Quart) -> Store:
    return app.extensions["idp"].store  # type: ignore[no-any-return]


@pytest.fixture
def client(app: Quart) -> QuartClient:
    return app.test_client()


# ---- seed data ------------------------------------------------------------------------------
async def add_user(
    store: Store,
    email: str = EMAIL,
    password: str = PASSWORD,
    supplier_user_id: str = SUPPLIER_USER_ID,
    name: str | None = "Ada Lovelace",
    password_hash: str | None = None,
) -> Any:
    return await store.users.add(
        email=email,
        supplier_user_id=supplier_user_id,
        name=name,
        password_hash=password_hash or passwords.hash_password(password),
        now=0,
    )


async def add_client(
    store: Store,
    client_id: str = CLIENT_ID,
    secret: str | None = CLIENT_SECRET,
    auth_method: str = "client_secret_basic",
    redirect_uris: list[str] | None = None,
    grant_types: list[str] | None = None,
    scopes: list[str] | None = None,
) -> None:
    await store.clients.add(
        client_id=client_id,
        name="NOX Energy" if client_id == CLIENT_ID else client_id,
        secret_hash=digest(secret) if secret else None,
        token_endpoint_auth_method=auth_method,
        grant_types=grant_types or ["authorization_code", "refresh_token"],
        scopes=scopes or ["openid", "profile", "email", "offline_access"],
        redirect_uris=[REDIRECT_URI] if redirect_uris is None else redirect_uris,
        now=0,
    )


@pytest.fixture
async def seeded(store: Store) -> Store:
    """A customer, the NOX client and published terms (nl and en, version 2026-01)."""
    await add_user(store)
    await add_client(store)
    await store.terms.publish(version="2026-01", language="nl", body_md=TERMS_NL, now=1)
    await store.terms.publish(version="2026-01", language="en", body_md=TERMS_EN, now=1)
    return store


# ---- the browser's side of the flow -------------------------------------------------------------
def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def location(response: Any) -> str:
    assert response.status_code in (302, 303), (response.status_code, response.headers)
    return str(response.headers["Location"])


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def csrf_of(body: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', body)
    assert match, "no CSRF token on the page"
    return html.unescape(match.group(1))


@dataclass
class Flow:
    """Walks /authorize → sign-in → terms → redirect like a browser (cookies kept)."""

    client: QuartClient
    verifier: str = ""
    nonce: str = ""

    def params(self, **overrides: Any) -> dict[str, str]:
        self.verifier, challenge = pkce_pair()
        self.nonce = "nonce-" + secrets.token_urlsafe(8)  # Authlib refuses a reused nonce
        params = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid profile email",
            "state": "state-123",
            "nonce": self.nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    async def authorize(self, **overrides: Any) -> Any:
        return await self.client.get("/authorize", query_string=self.params(**overrides))

    async def page(self, url: str) -> tuple[Any, str]:
        response = await self.client.get(url)
        return response, await response.get_data(as_text=True)

    async def sign_in(self, login_url: str, email: str = EMAIL, password: str = PASSWORD) -> Any:
        _, body = await self.page(login_url)
        return await self.client.post(
            login_url, form={"csrf_token": csrf_of(body), "email": email, "password": password}
        )

    async def accept_terms(self, terms_url: str, action: str = "accept", tick: bool = True) -> Any:
        _, body = await self.page(terms_url)
        version = re.search(r'name="version" value="([^"]*)"', body)
        form = {"csrf_token": csrf_of(body), "action": action}
        if version:
            form["version"] = html.unescape(version.group(1))
        if tick:
            form["accept_terms"] = "yes"
        return await self.client.post(terms_url, form=form)

    async def code(self, **overrides: Any) -> str:
        """The whole front channel; returns the code from the client's redirect."""
        response = await self.authorize(**overrides)
        url = location(response)
        if url.endswith("/login"):
            response = await self.sign_in(url)
            url = location(response)
        if url.endswith("/terms"):
            response = await self.accept_terms(url)
            url = location(response)
        assert url.startswith(REDIRECT_URI), url
        return query_of(url)["code"]

    async def token(self, issued_code: str, client_id: str = CLIENT_ID, **overrides: Any) -> Any:
        form = {
            "grant_type": "authorization_code",
            "code": issued_code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": self.verifier,
        }
        form.update(overrides)
        form = {k: v for k, v in form.items() if v is not None}
        return await self.client.post("/token", form=form, headers=basic_auth(client_id))


def basic_auth(client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@pytest.fixture
def flow(client: QuartClient, seeded: Store) -> Flow:
    return Flow(client)


def translated(message: str, language: str = "nl") -> str:
    """`message` as the customer reads it in `language` (the catalogues decide the wording)."""
    from idp.i18n import CATALOGUES

    return str(CATALOGUES[language].gettext(message))


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Any]:
    """The identity provider and the NOX sandbox as real processes (see tests/e2e.py)."""
    from tests.e2e import Stack

    stack = Stack(tmp_path)
    await stack.seed()
    with stack.running():
        yield stack


async def failed_handoff(store: Store, handoff_id: str = "h1", now: int = 0) -> None:
    """A code for customer 1 of client nox, with a hand-off that NOX refused (HTTP 400)."""
    await store.grants.add_code(
        code_hash=f"code-{handoff_id}",
        client_id="nox",
        user_id=1,
        redirect_uri=REDIRECT_URI,
        scope="openid",
        nonce=None,
        code_challenge=None,
        code_challenge_method=None,
        auth_time=now,
        auth_session_id=None,
        now=now,
        expires_at=now + 60,
        handoff={"id": handoff_id, "client_id": "nox", "url": NOX_BASE + "/p", "body": {}},
    )
    await store.outbox.failed(handoff_id, now, 400, "refused")
