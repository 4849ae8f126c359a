"""Client authentication at /token, /revoke and /introspect (RFC 6749 §2.3)."""

from __future__ import annotations

import pytest

from tests.conftest import CLIENT_ID, CLIENT_SECRET, Flow, add_client, basic_auth

OTHER_SECRET = "other-secret-0123456789-abcdefghijklm"


async def tokens_of(flow: Flow) -> dict[str, str]:
    return await (await flow.token(await flow.code())).get_json()  # type: ignore[no-any-return]


def form_for(path: str, tokens: dict[str, str]) -> dict[str, str]:
    if path == "/token":
        return {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    return {"token": tokens["access_token"]}


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
@pytest.mark.parametrize(
    "body",
    [
        {"client_secret": CLIENT_SECRET},
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        {"client_id": "other"},
    ],
    ids=["basic+secret", "basic+post", "basic+other-id"],
)
async def test_two_authentication_methods_are_refused(
    flow: Flow, store, path: str, body: dict[str, str]
) -> None:
    await add_client(store, client_id="other", secret=OTHER_SECRET)
    tokens = await tokens_of(flow)
    response = await flow.client.post(
        path, form={**form_for(path, tokens), **body}, headers=basic_auth()
    )
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_request"
    # Nothing happened: the tokens still work for the rightful client.
    userinfo = await flow.client.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 200
    refresh = await flow.client.post(
        "/token", form=form_for("/token", tokens), headers=basic_auth()
    )
    assert refresh.status_code == 200


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
async def test_basic_with_its_own_client_id_in_the_body_is_one_method(
    flow: Flow, path: str
) -> None:
    """RFC 6749 §4.1.3 lets a client send its client_id; it is no second authentication."""
    tokens = await tokens_of(flow)
    response = await flow.client.post(
        path, form={**form_for(path, tokens), "client_id": CLIENT_ID}, headers=basic_auth()
    )
    assert response.status_code == 200
