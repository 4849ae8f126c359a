"""OpenID Connect RP-Initiated Logout 1.0 at /logout: the id_token_hint, the exact match of the
post_logout_redirect_uri, `state`, the customer's confirmation, and what sign-out ends."""

from __future__ import annotations

import base64
import html
import json
import re
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from quart import Quart
from quart.testing import QuartClient

from idp.security.clock import FrozenClock
from idp.store import Store
from tests.conftest import (
    CLIENT_ID,
    ISSUER,
    SUPPLIER_USER_ID,
    Flow,
    add_client,
    add_user,
    csrf_of,
    location,
    query_of,
    translated,
)

SIGNED_OUT_URI = "https://nox.example/signed-out"
EXPIRED_BY = 7200


@pytest.fixture
def clock() -> FrozenClock:
    """Authlib checks a hint's `iat` against the real time: start the clock a while before
    it, so that a test can let the ID token expire while the sign-in session lives on."""
    return FrozenClock(int(time.time()) - EXPIRED_BY)


@pytest.fixture
async def registered(seeded: Store) -> Store:
    await seeded.clients.add_redirect_uri(CLIENT_ID, SIGNED_OUT_URI, "post_logout")
    return seeded


async def id_token(flow: Flow) -> str:
    """Sign in through the whole flow; the ID token NOX gets for the code."""
    response = await flow.token(await flow.code())
    assert response.status_code == 200
    return str((await response.get_json())["id_token"])


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def signed_in(client: QuartClient) -> bool:
    response = await client.get("/account")
    return response.status_code == 200


async def logout(client: QuartClient, **params: str) -> Any:
    return await client.get("/logout", query_string=params)


async def test_discovery_names_the_end_session_endpoint(client: QuartClient) -> None:
    metadata = await (await client.get("/.well-known/openid-configuration")).get_json()
    assert metadata["end_session_endpoint"] == f"{ISSUER}/logout"


async def test_hint_of_the_signed_in_customer_signs_out_and_returns_with_state(
    flow: Flow, client: QuartClient, registered: Store
) -> None:
    hint = await id_token(flow)
    assert await signed_in(client)
    response = await logout(
        client, id_token_hint=hint, post_logout_redirect_uri=SIGNED_OUT_URI, state="s-1 &x"
    )
    assert location(response) == SIGNED_OUT_URI + "?state=s-1+%26x"
    assert "idp_sid=;" in response.headers["Set-Cookie"]
    assert not await signed_in(client)
    # The stored sign-in session is gone, not only the cookie: /authorize asks to sign in again.
    assert location(await flow.authorize()).endswith("/login")


async def test_expired_hint_is_still_accepted(
    flow: Flow, client: QuartClient, registered: Store, clock: FrozenClock
) -> None:
    hint = await id_token(flow)
    clock.advance(EXPIRED_BY)  # past the ID token's exp; the sign-in session is still live
    assert claims_of(hint)["exp"] < time.time()
    assert await signed_in(client)
    response = await logout(client, id_token_hint=hint, post_logout_redirect_uri=SIGNED_OUT_URI)
    assert location(response) == SIGNED_OUT_URI
    assert not await signed_in(client)


@pytest.mark.parametrize(
    "uri",
    [
        "https://nox.example/signed-out/",
        "https://nox.example/signed-out?x=1",
        "https://NOX.example/signed-out",
        "https://evil.example/",
        "https://nox.example/oauth/callback",  # a redirect URI, not a post-logout one
    ],
)
async def test_unregistered_uri_is_never_redirected_to(
    flow: Flow, client: QuartClient, registered: Store, uri: str
) -> None:
    hint = await id_token(flow)
    response = await logout(client, id_token_hint=hint, post_logout_redirect_uri=uri, state="s")
    assert response.status_code == 200
    assert "Location" not in response.headers
    body = await response.get_data(as_text=True)
    assert translated("You are signed out") in body
    assert not await signed_in(client)


async def test_without_hint_the_customer_is_asked_and_csrf_guards_the_answer(
    flow: Flow, client: QuartClient, registered: Store
) -> None:
    await flow.code()
    params = {"client_id": CLIENT_ID, "post_logout_redirect_uri": SIGNED_OUT_URI, "state": "s2"}
    response = await logout(client, **params)
    assert response.status_code == 200
    body = await response.get_data(as_text=True)
    assert translated("Sign out?") in body
    assert await signed_in(client)  # asking ends nothing

    fields = {**params, "confirm": "yes"}
    refused = await client.post("/logout", form={**fields, "csrf_token": "forged"})
    assert refused.status_code == 403
    assert await signed_in(client)

    done = await client.post("/logout", form={**fields, "csrf_token": csrf_of(body)})
    assert location(done) == SIGNED_OUT_URI + "?state=s2"
    assert not await signed_in(client)


async def test_the_confirmation_form_carries_the_request_back(
    flow: Flow, client: QuartClient, registered: Store
) -> None:
    await flow.code()
    response = await logout(
        client,
        client_id=CLIENT_ID,
        post_logout_redirect_uri=SIGNED_OUT_URI,
        state='"><script>',
        ui_locales="fr",
    )
    body = await response.get_data(as_text=True)
    assert '<html lang="fr"' in body
    assert translated("Sign out?", "fr") in body
    assert "<script>" not in body
    hidden = dict(
        (html.unescape(n), html.unescape(v))
        for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', body)
    )
    assert hidden["state"] == '"><script>'
    assert hidden["ui_locales"] == "fr"
    assert hidden["post_logout_redirect_uri"] == SIGNED_OUT_URI


async def test_hint_of_another_customer_asks_first(
    flow: Flow, app: Quart, client: QuartClient, registered: Store
) -> None:
    other_browser = Flow(app.test_client())
    await add_user(registered, email="bob@example.com", supplier_user_id="cust-0002")
    await flow.code()  # this browser: Ada
    response = await other_browser.authorize()
    await other_browser.sign_in(location(response), email="bob@example.com")
    bobs = await other_browser.token(await other_browser.code())
    bobs_hint = (await bobs.get_json())["id_token"]

    response = await logout(client, id_token_hint=bobs_hint)
    assert response.status_code == 200
    assert translated("Sign out?") in await response.get_data(as_text=True)
    assert await signed_in(client)


async def test_forged_hint_is_refused_without_redirect(
    flow: Flow, client: QuartClient, registered: Store
) -> None:
    await flow.code()
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": SUPPLIER_USER_ID, "iat": now, "exp": now}
    forged = jwt.encode({"alg": "RS256"}, claims, RSAKey.generate_key(2048))
    response = await logout(
        client, id_token_hint=forged, post_logout_redirect_uri=SIGNED_OUT_URI, state="s"
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert 'href="/account?language=nl"' in await response.get_data(as_text=True)
    assert await signed_in(client)


async def test_client_id_must_be_the_hints_audience(
    flow: Flow, client: QuartClient, registered: Store
) -> None:
    await add_client(registered, client_id="other", redirect_uris=["https://other.example/cb"])
    await registered.clients.add_redirect_uri("other", "https://other.example/out", "post_logout")
    hint = await id_token(flow)
    response = await logout(
        client,
        id_token_hint=hint,
        client_id="other",
        post_logout_redirect_uri="https://other.example/out",
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert await signed_in(client)


async def test_a_disabled_clients_uri_is_not_redirected_to(
    flow: Flow, client: QuartClient, registered: Store
) -> None:
    hint = await id_token(flow)
    await registered.clients.update(CLIENT_ID, 0, disabled=True)
    response = await logout(client, id_token_hint=hint, post_logout_redirect_uri=SIGNED_OUT_URI)
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert not await signed_in(client)


async def test_nobody_signed_in_goes_straight_back(client: QuartClient, registered: Store) -> None:
    response = await logout(
        client, client_id=CLIENT_ID, post_logout_redirect_uri=SIGNED_OUT_URI, state="s3"
    )
    assert location(response) == SIGNED_OUT_URI + "?state=s3"
    plain = await logout(client)
    assert plain.status_code == 200
    assert translated("You are signed out") in await plain.get_data(as_text=True)


async def test_a_clients_post_comes_back_as_a_get(client: QuartClient, registered: Store) -> None:
    """A cross-site POST carries no SameSite=Lax cookie; its parameters go on as a GET."""
    response = await client.post(
        "/logout",
        form={
            "client_id": CLIENT_ID,
            "post_logout_redirect_uri": SIGNED_OUT_URI,
            "state": "s 4",
            "unrelated": "dropped",
        },
    )
    assert response.status_code == 303
    url = response.headers["Location"]
    assert url.startswith("/logout?")
    assert query_of(url) == {
        "client_id": CLIENT_ID,
        "post_logout_redirect_uri": SIGNED_OUT_URI,
        "state": "s 4",
    }


async def test_the_logout_token_is_what_back_channel_logout_asks(app: Quart) -> None:
    """Back-Channel Logout 1.0 §2.4: signed with our key, typ logout+jwt, iss, aud, iat, a
    short exp, jti, sub and the logout event, and no nonce."""
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import KeySet

    oauth = app.extensions["idp"].oauth
    token = await oauth.logout_token(CLIENT_ID, SUPPLIER_USER_ID)
    jwks = oauth.keys.ring.jwks()
    decoded = jose_jwt.decode(token, KeySet.import_key_set(jwks))
    claims = decoded.claims
    assert decoded.header["typ"] == "logout+jwt"
    assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, CLIENT_ID, SUPPLIER_USER_ID)
    assert claims["exp"] - claims["iat"] == 120 and claims["jti"]
    assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in claims
    metadata = await (await app.test_client().get("/.well-known/openid-configuration")).get_json()
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is False


async def test_a_client_whose_back_channel_is_down_does_not_stop_the_sign_out(
    app: Quart, flow: Flow, client: QuartClient, registered: Store
) -> None:
    """Its notice is sent after the answer, and what became of it is logged."""
    await registered.clients.update(
        CLIENT_ID, 0, backchannel_logout_uri="http://127.0.0.1:9/backchannel"
    )
    app.extensions["idp"].signin.backchannel.delays = (0.0, 0.0)  # no waiting at teardown
    hint = await id_token(flow)
    response = await logout(client, id_token_hint=hint, post_logout_redirect_uri=SIGNED_OUT_URI)
    assert location(response) == SIGNED_OUT_URI
    assert not await signed_in(client)
