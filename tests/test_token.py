"""POST /token (RFC 6749 §4.1.3, §5, §6; RFC 7636 §4.6; RFC 9700 §2.2, §4.14)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import (
    CLIENT_SECRET,
    REDIRECT_URI,
    Flow,
    add_client,
    basic_auth,
)


async def error_of(response) -> str:  # type: ignore[no-untyped-def]
    assert response.headers["Cache-Control"] == "no-store"
    return (await response.get_json())["error"]


async def test_code_is_single_use_and_replay_revokes_its_tokens(flow: Flow, store) -> None:
    code = await flow.code()
    first = await flow.token(code)
    assert first.status_code == 200
    tokens = await first.get_json()
    replay = await flow.token(code)
    assert replay.status_code == 400
    assert await error_of(replay) == "invalid_grant"
    userinfo = await flow.client.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401
    refresh = await flow.client.post(
        "/token",
        form={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic_auth(),
    )
    assert await error_of(refresh) == "invalid_grant"
    [event] = await store.events.recent("code_replay")
    assert event["actor"] == "nox"


async def test_code_expires_after_60_seconds(flow: Flow, clock) -> None:
    code = await flow.code()
    clock.advance(60)
    response = await flow.token(code)
    assert response.status_code == 400
    assert await error_of(response) == "invalid_grant"


async def test_code_59_seconds_old_still_works(flow: Flow, clock) -> None:
    code = await flow.code()
    clock.advance(59)
    assert (await flow.token(code)).status_code == 200


async def test_code_is_bound_to_its_client(flow: Flow, store) -> None:
    await add_client(store, client_id="other", secret="other-secret-0123456789-abcdefghijklm")
    code = await flow.code()
    response = await flow.client.post(
        "/token",
        form={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": flow.verifier,
        },
        headers=basic_auth("other", "other-secret-0123456789-abcdefghijklm"),
    )
    assert await error_of(response) == "invalid_grant"
    assert (await flow.token(code)).status_code == 200  # the rightful client still can


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"redirect_uri": "https://nox.example/other"}, 400, "invalid_grant"),
        ({"redirect_uri": None}, 400, "invalid_grant"),
        ({"code_verifier": None}, 400, "invalid_request"),
        ({"code_verifier": "x" * 43}, 400, "invalid_grant"),
        ({"code": "not-a-code"}, 400, "invalid_grant"),
        ({"code": None}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
async def test_bad_exchanges(flow: Flow, overrides: dict, status: int, error: str) -> None:
    response = await flow.token(await flow.code(), **overrides)
    assert response.status_code == status
    assert await error_of(response) == error


async def test_wrong_client_secret_is_invalid_client(flow: Flow) -> None:
    code = await flow.code()
    response = await flow.client.post(
        "/token",
        form={"grant_type": "authorization_code", "code": code, "code_verifier": flow.verifier},
        headers=basic_auth(secret="wrong-secret-but-long-enough-0123456789"),
    )
    assert response.status_code == 401
    assert await error_of(response) == "invalid_client"


async def test_client_secret_post(flow: Flow, store) -> None:
    await add_client(
        store, client_id="poster", auth_method="client_secret_post", secret=CLIENT_SECRET
    )
    code = await flow.code(client_id="poster")
    response = await flow.client.post(
        "/token",
        form={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": flow.verifier,
            "client_id": "poster",
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status_code == 200


async def test_public_client_uses_pkce_as_its_proof(flow: Flow, store) -> None:
    await add_client(store, client_id="app", auth_method="none", secret=None)
    code = await flow.code(client_id="app")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": "app",
    }
    assert await error_of(await flow.client.post("/token", form=form)) == "invalid_request"
    code = await flow.code(client_id="app")
    form.update(code=code, code_verifier=flow.verifier)
    assert (await flow.client.post("/token", form=form)).status_code == 200


async def test_confidential_client_cannot_skip_authentication(flow: Flow) -> None:
    code = await flow.code()
    response = await flow.client.post(
        "/token",
        form={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": flow.verifier,
            "client_id": "nox",
        },
    )
    assert await error_of(response) == "invalid_client"


async def test_refresh_rotates_and_reuse_revokes_the_family(flow: Flow, store) -> None:
    tokens = await (await flow.token(await flow.code())).get_json()

    async def refresh(token: str):  # type: ignore[no-untyped-def]
        return await flow.client.post(
            "/token",
            form={"grant_type": "refresh_token", "refresh_token": token},
            headers=basic_auth(),
        )

    second = await refresh(tokens["refresh_token"])
    assert second.status_code == 200
    rotated = await second.get_json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["scope"] == "openid profile email"

    reuse = await refresh(tokens["refresh_token"])
    assert await error_of(reuse) == "invalid_grant"
    # The leak is contained: the newest refresh token and access token are dead too.
    assert await error_of(await refresh(rotated["refresh_token"])) == "invalid_grant"
    userinfo = await flow.client.get(
        "/userinfo", headers={"Authorization": f"Bearer {rotated['access_token']}"}
    )
    assert userinfo.status_code == 401
    [event] = await store.events.recent("refresh_token_reuse")
    assert event["detail"]["family_revoked"] is True


async def test_refresh_cannot_widen_scope(flow: Flow) -> None:
    tokens = await (await flow.token(await flow.code(scope="openid email"))).get_json()
    response = await flow.client.post(
        "/token",
        form={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "scope": "openid email profile",
        },
        headers=basic_auth(),
    )
    assert await error_of(response) == "invalid_scope"


async def test_offline_access_always_brings_a_refresh_token(flow: Flow, store) -> None:
    await add_client(store, client_id="lean", grant_types=["authorization_code"])
    plain = await flow.token(await flow.code(client_id="lean"), client_id="lean")
    assert plain.status_code == 200
    assert "refresh_token" not in await plain.get_json()
    code = await flow.code(client_id="lean", scope="openid offline_access")
    offline = await flow.token(code, client_id="lean")
    assert offline.status_code == 200
    assert "refresh_token" in await offline.get_json()


async def test_client_credentials_has_no_id_token_or_refresh_token(client, store) -> None:
    await add_client(
        store,
        client_id="backend",
        grant_types=["client_credentials"],
        scopes=["links:read", "links:write"],
        redirect_uris=[],
    )
    response = await client.post(
        "/token",
        form={"grant_type": "client_credentials", "scope": "links:read"},
        headers=basic_auth("backend"),
    )
    assert response.status_code == 200
    body = await response.get_json()
    assert body["scope"] == "links:read"
    assert "id_token" not in body and "refresh_token" not in body


async def test_client_without_the_grant_type_is_unauthorized(flow: Flow) -> None:
    response = await flow.client.post(
        "/token", form={"grant_type": "client_credentials"}, headers=basic_auth()
    )
    assert await error_of(response) == "unauthorized_client"


async def test_repeated_token_parameters_are_refused(flow: Flow) -> None:
    code = await flow.code()
    response = await flow.client.post(
        "/token",
        data=f"grant_type=authorization_code&code={code}&code={code}",
        headers={**basic_auth(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert await error_of(response) == "invalid_request"


async def test_es256_key_after_rotation_signs_new_id_tokens(flow: Flow, app, store, clock) -> None:
    from joserfc import jwt
    from joserfc.jwk import KeySet

    from idp.oauth.keys import KEY_ACTIVATION_SECONDS, KEY_SIGNS_AFTER_RETIREMENT, generate_key

    old = await (await flow.client.get("/jwks.json")).get_json()
    old_kid = old["keys"][0]["kid"]
    clock.advance(KEY_ACTIVATION_SECONDS)  # the first key is long active
    kid, jwk = generate_key("ES256")
    await store.keys.add_current(kid=kid, alg="ES256", private_jwk=jwk, now=clock.now())

    async def id_token_header() -> dict[str, str]:
        body = await (await flow.token(await flow.code(prompt="login"))).get_json()
        jwks = await (await flow.client.get("/jwks.json")).get_json()
        keys = KeySet.import_key_set(jwks)
        return dict(jwt.decode(body["id_token"], keys, algorithms=["ES256", "RS256"]).header)

    clock.advance(61)  # the key ring reloads every minute: the new key is published ...
    jwks = await (await flow.client.get("/jwks.json")).get_json()
    assert [k["kid"] for k in jwks["keys"]] == [kid, old_kid]
    assert await id_token_header() == {"alg": "RS256", "kid": old_kid, "typ": "JWT"}  # ... only
    clock.advance(KEY_ACTIVATION_SECONDS - 61)  # ... and signs once every cached JWKS has it
    assert await id_token_header() == {"alg": "ES256", "kid": kid, "typ": "JWT"}
    # The old key signed until now: it stays published while those ID tokens live.
    clock.advance(3600 + KEY_SIGNS_AFTER_RETIREMENT - KEY_ACTIVATION_SECONDS - 1)
    jwks = await (await flow.client.get("/jwks.json")).get_json()
    assert [k["kid"] for k in jwks["keys"]] == [kid, old_kid]
    clock.advance(61)
    jwks = await (await flow.client.get("/jwks.json")).get_json()
    assert [k["kid"] for k in jwks["keys"]] == [kid]


async def refresh_with(flow: Flow, token: str, client_id: str = "nox", secret: str = CLIENT_SECRET):  # type: ignore[no-untyped-def]
    return await flow.client.post(
        "/token",
        form={"grant_type": "refresh_token", "refresh_token": token},
        headers=basic_auth(client_id, secret),
    )


async def test_another_client_cannot_burn_a_refresh_token(flow: Flow, store) -> None:
    other_secret = "other-secret-0123456789-abcdefghijklm"
    await add_client(store, client_id="other", secret=other_secret)
    tokens = await (await flow.token(await flow.code())).get_json()
    stolen = await refresh_with(flow, tokens["refresh_token"], "other", other_secret)
    assert stolen.status_code == 400
    assert await error_of(stolen) == "invalid_grant"
    # RFC 6749 §6: the token stays the rightful client's, unrotated and its family alive.
    rightful = await refresh_with(flow, tokens["refresh_token"])
    assert rightful.status_code == 200
    assert await store.events.recent("refresh_token_reuse") == []


async def test_refresh_token_has_an_absolute_lifetime_of_90_days(flow: Flow, clock) -> None:
    token = (await (await flow.token(await flow.code())).get_json())["refresh_token"]
    for _ in range(3):  # days 29, 58, 87: each refresh is within the sliding 30 days
        clock.advance(29 * 86400)
        response = await refresh_with(flow, token)
        assert response.status_code == 200
        token = (await response.get_json())["refresh_token"]
    clock.advance(3 * 86400)  # day 90 since the family's first issue
    response = await refresh_with(flow, token)
    assert response.status_code == 400
    assert await error_of(response) == "invalid_grant"


async def test_introspection_shows_the_capped_refresh_expiry(flow: Flow, clock) -> None:
    start = clock.now()
    token = (await (await flow.token(await flow.code())).get_json())["refresh_token"]
    for _ in range(3):
        clock.advance(29 * 86400)
        token = (await (await refresh_with(flow, token)).get_json())["refresh_token"]
    answer = await flow.client.post(
        "/introspect",
        form={"token": token, "token_type_hint": "refresh_token"},
        headers=basic_auth(),
    )
    assert (await answer.get_json())["exp"] == start + 90 * 86400


async def test_code_replay_after_a_refresh_revokes_the_rotated_tokens(flow: Flow) -> None:
    code = await flow.code()
    tokens = await (await flow.token(code)).get_json()
    rotated = await (await refresh_with(flow, tokens["refresh_token"])).get_json()
    replay = await flow.token(code)
    assert await error_of(replay) == "invalid_grant"
    userinfo = await flow.client.get(
        "/userinfo", headers={"Authorization": f"Bearer {rotated['access_token']}"}
    )
    assert userinfo.status_code == 401
    assert await error_of(await refresh_with(flow, rotated["refresh_token"])) == "invalid_grant"


async def test_absolute_refresh_lifetime_is_a_setting(flow: Flow, app, clock) -> None:
    from idp.config import load_settings

    assert load_settings({}).refresh_token_absolute_seconds == 7_776_000
    assert (
        load_settings({"IDP_REFRESH_TOKEN_ABSOLUTE_SECONDS": "600"}).refresh_token_absolute_seconds
        == 600
    )
    server = app.extensions["idp"].oauth.server
    server.settings = server.settings.with_overrides(refresh_token_absolute_seconds=600)
    token = (await (await flow.token(await flow.code())).get_json())["refresh_token"]
    clock.advance(599)
    response = await refresh_with(flow, token)
    assert response.status_code == 200
    clock.advance(1)
    response = await refresh_with(flow, (await response.get_json())["refresh_token"])
    assert await error_of(response) == "invalid_grant"


async def test_exchange_stores_nothing_once_its_code_was_replayed(flow: Flow, store, clock) -> None:
    """The replay lands between the first exchange's claim and its storing of the tokens."""
    from idp.security.secrets import digest

    code = await flow.code()
    first = await store.grants.consume_code(digest(code), "nox", clock.now())
    assert first.code is not None and not first.replayed
    replay = await flow.token(code)
    assert await error_of(replay) == "invalid_grant"
    stored = await store.grants.add_token(
        client_id="nox",
        user_id=1,
        scope="openid",
        access_token_hash="a" * 64,
        refresh_token_hash="r" * 64,
        issued_at=clock.now(),
        expires_at=clock.now() + 3600,
        refresh_seconds=3600,
        refresh_absolute_seconds=7200,
        family_id="family-1",
        new_family=True,
        code_id=first.code.id,
        auth_time=clock.now(),
    )
    assert stored is False
    assert await store.grants.by_access_token("a" * 64) is None
    [event] = await store.events.recent("code_replay")
    assert event["actor"] == "nox"


async def test_a_stolen_code_without_its_verifier_changes_nothing(flow: Flow, store) -> None:
    """Found in review: the code was claimed before PKCE was checked, so whoever intercepted
    a code could burn it (or, arriving late, revoke the customer's tokens) without the
    verifier."""
    code = await flow.code()
    stolen = await flow.token(code, code_verifier="x" * 43)
    assert stolen.status_code == 400 and await error_of(stolen) == "invalid_grant"
    assert await store.events.recent("code_replay") == []
    rightful = await flow.token(code)
    assert rightful.status_code == 200
    late = await flow.token(code, code_verifier="y" * 43)
    assert await error_of(late) == "invalid_grant"
    assert await store.events.recent("code_replay") == []  # nothing was revoked either
    access = (await rightful.get_json())["access_token"]
    userinfo = await flow.client.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert userinfo.status_code == 200


async def test_parallel_rotations_of_one_refresh_token_never_deadlock(store, clock) -> None:
    """Found by CI on PostgreSQL: a rotation that lost the race still locked the token's row
    (the losing UPDATE waits for the winner, then locks the row it re-checks), then waited for
    the family's row, which a third request revoking the family held while it waited for that
    token row: a deadlock, and a 500. The family row is now taken first by every request."""
    from idp.security.secrets import digest

    for round_ in range(12):
        family, refresh = f"family-{round_}", f"refresh-{round_}"
        assert await store.grants.add_token(
            client_id="nox",
            user_id=None,
            scope="openid",
            access_token_hash=digest(f"access-{round_}"),
            refresh_token_hash=digest(refresh),
            issued_at=clock.now(),
            expires_at=clock.now() + 3600,
            refresh_seconds=3600,
            refresh_absolute_seconds=7200,
            family_id=family,
            new_family=True,
            code_id=None,
            auth_time=None,
        )

        async def use(after: float, presented: str = digest(refresh)) -> Any:
            await asyncio.sleep(after)
            return await store.grants.use_refresh_token(presented, "nox", clock.now(), 7200)

        # Some start together (they wait for the winner), some a moment later (they find the
        # token rotated already and revoke the family at once).
        uses = await asyncio.gather(*(use(0.001 * (i % 4)) for i in range(8)))
        assert all(use.token is not None for use in uses)
        won = [u for u in uses if not u.reused and u.token and u.token.revoked_at is None]
        assert len(won) == 1, round_
        assert any(use.reused for use in uses)  # the first loser, at least, saw it rotated
