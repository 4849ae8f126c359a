"""What the customer controls on /account: withdrawing an app's access (every token it holds
for them revoked, recorded), signing out everywhere, the sign-ins and terms they see."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient

from idp.security.clock import FrozenClock
from idp.store import Store
from tests.conftest import (
    CLIENT_ID,
    EMAIL,
    PASSWORD,
    SUPPLIER_USER_ID,
    TERMS_NL,
    Flow,
    add_client,
    add_user,
    basic_auth,
    csrf_of,
    location,
    query_of,
    translated,
)

OTHER_URI = "https://other.example/cb"
DISCONNECTED = (
    "The device is no longer linked to your account here. NOX Energy keeps its own link to the "
    "device until you remove it in the NOX app."
)
WITHDRAWN = (
    "Access withdrawn. That app can no longer act for you; it will ask you to sign in again."
)


async def tokens_for(flow: Flow) -> dict[str, Any]:
    """The whole flow in `flow`'s browser, then the code exchanged: NOX's tokens."""
    response = await flow.token(await flow.code(scope="openid offline_access"))
    assert response.status_code == 200
    return dict(await response.get_json())


async def account(client: QuartClient) -> str:
    response = await client.get("/account")
    assert response.status_code == 200
    return str(await response.get_data(as_text=True))


async def refresh(client: QuartClient, refresh_token: str) -> Any:
    return await client.post(
        "/token",
        form={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=basic_auth(),
    )


async def userinfo(client: QuartClient, access_token: str) -> int:
    response = await client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    return int(response.status_code)


async def withdraw(client: QuartClient, csrf: str, client_id: str = CLIENT_ID) -> Any:
    return await client.post(
        "/account/access/withdraw", form={"csrf_token": csrf, "client_id": client_id}
    )


async def test_withdrawing_revokes_every_token_of_that_app(
    flow: Flow, client: QuartClient, store: Store
) -> None:
    first, second = await tokens_for(flow), await tokens_for(flow)
    page = await account(client)
    assert "NOX Energy" in page
    assert translated("Withdraw access of %(app)s") % {"app": "NOX Energy"} in page

    response = await withdraw(client, csrf_of(page))
    assert location(response) == "/account"
    for issued in (first, second):
        assert await userinfo(client, issued["access_token"]) == 401
        refused = await refresh(client, issued["refresh_token"])
        assert (refused.status_code, (await refused.get_json())["error"]) == (400, "invalid_grant")
    page = await account(client)
    assert translated("No app has access to your account.") in page
    assert translated(WITHDRAWN) in page
    [event] = await store.events.recent("access_withdrawn")
    assert (event["actor"], event["detail"]) == (EMAIL, {"client_id": CLIENT_ID})
    assert translated(WITHDRAWN) not in await account(client)  # shown once


async def test_withdrawing_leaves_other_customers_and_other_apps_tokens(
    flow: Flow, app: Quart, client: QuartClient, store: Store
) -> None:
    await add_client(store, client_id="other", redirect_uris=[OTHER_URI])
    await tokens_for(flow)
    # Signed in with the terms accepted: the other app's code comes without a question.
    answer = await flow.authorize(client_id="other", redirect_uri=OTHER_URI, scope="openid")
    code = query_of(location(answer))["code"]
    others = await (await flow.token(code, client_id="other", redirect_uri=OTHER_URI)).get_json()
    await add_user(store, email="bob@example.com", supplier_user_id="cust-0002")
    bob = Flow(app.test_client())
    response = await bob.authorize(scope="openid offline_access")
    await bob.sign_in(location(response), email="bob@example.com")
    bobs = await (await bob.token(await bob.code(scope="openid offline_access"))).get_json()

    await withdraw(client, csrf_of(await account(client)))
    assert await userinfo(client, others["access_token"]) == 200
    assert await userinfo(client, bobs["access_token"]) == 200
    assert (await refresh(client, bobs["refresh_token"])).status_code == 200


@pytest.mark.parametrize("csrf", [None, "forged"])
async def test_withdrawing_needs_the_csrf_token(
    flow: Flow, client: QuartClient, store: Store, csrf: str | None
) -> None:
    issued = await tokens_for(flow)
    form = {"client_id": CLIENT_ID, **({"csrf_token": csrf} if csrf else {})}
    response = await client.post("/account/access/withdraw", form=form)
    assert response.status_code == 403
    assert await userinfo(client, issued["access_token"]) == 200
    assert await store.events.recent("access_withdrawn") == []


async def test_withdrawing_an_app_without_access_changes_nothing(
    flow: Flow, client: QuartClient, store: Store
) -> None:
    issued = await tokens_for(flow)
    response = await withdraw(client, csrf_of(await account(client)), client_id="unknown")
    assert location(response) == "/account"
    assert await userinfo(client, issued["access_token"]) == 200
    assert await store.events.recent("access_withdrawn") == []


async def test_withdrawing_needs_a_signed_in_customer(client: QuartClient, seeded: Store) -> None:
    response = await client.post("/account/access/withdraw", form={"client_id": CLIENT_ID})
    assert location(response) == "/account/login"


async def test_sign_out_everywhere_ends_every_browsers_sign_in(
    flow: Flow, app: Quart, client: QuartClient
) -> None:
    other_browser = app.test_client()
    login = await other_browser.get("/account/login")
    await other_browser.post(
        "/account/login",
        form={
            "csrf_token": csrf_of(await login.get_data(as_text=True)),
            "email": EMAIL,
            "password": PASSWORD,
        },
    )
    await flow.code()
    page = await account(client)
    assert page.count(translated("Signed in %(moment)s").split("%")[0]) == 2
    assert (await other_browser.get("/account")).status_code == 200

    response = await client.post("/account/sign-out-everywhere", form={"csrf_token": csrf_of(page)})
    assert location(response).startswith("/account/login")
    assert (await client.get("/account")).status_code == 302
    assert (await other_browser.get("/account")).status_code == 302


async def test_sign_out_everywhere_needs_the_csrf_token(flow: Flow, client: QuartClient) -> None:
    await flow.code()
    response = await client.post("/account/sign-out-everywhere", form={"csrf_token": "x"})
    assert response.status_code == 403
    assert (await client.get("/account")).status_code == 200


async def test_times_are_in_the_customers_language_and_zone(
    flow: Flow, client: QuartClient, clock: FrozenClock
) -> None:
    clock.current = 1_800_000_000  # 2027-01-15 08:00 UTC, 09:00 in Amsterdam
    await flow.code()
    page = await account(client)
    assert "15 jan 2027, 09:00:00" in page
    english = await (await client.get("/account?language=en")).get_data(as_text=True)
    assert "Jan 15, 2027, 9:00:00" in english


async def test_accepted_terms_are_listed_with_their_text(flow: Flow, client: QuartClient) -> None:
    await flow.code()  # accepts version 2026-01 in Dutch
    page = await account(client)
    link = "/account/terms/2026-01/nl?language=nl"
    assert f'href="{link}"' in page
    text = await (await client.get(link)).get_data(as_text=True)
    assert "<strong>alles</strong>" in text and TERMS_NL.splitlines()[0].lstrip("# ") in text
    # Terms the customer did not accept (another language, another version) are not shown here.
    assert (await client.get("/account/terms/2026-01/en")).status_code == 404
    assert (await client.get("/account/terms/2025-01/nl")).status_code == 404


# ---- devices ---------------------------------------------------------------------------------
async def link(store: Store, clock: FrozenClock, device_ids: list[str], user_id: int = 1) -> None:
    from tests.test_links import open_session

    session = await open_session(store, clock, user_id=user_id)
    linked = dict(nox_user_id="nox-u1", brand="daikin", connected_at=clock.now(), now=clock.now())
    assert await store.links.complete(session, device_ids=device_ids, **linked)


async def disconnect(client: QuartClient, csrf: str, device_id: str) -> Any:
    return await client.post(
        "/account/devices/disconnect", form={"csrf_token": csrf, "device_id": device_id}
    )


async def test_disconnecting_a_device_keeps_its_history(
    flow: Flow, client: QuartClient, store: Store, clock: FrozenClock
) -> None:
    await link(store, clock, ["pump-1", "pump-2"])
    await flow.code()
    page = await account(client)
    assert translated("Disconnect %(device)s") % {"device": "pump-1"} in page

    response = await disconnect(client, csrf_of(page), "pump-1")
    assert location(response) == "/account"
    page = await account(client)
    assert translated(DISCONNECTED) in page
    assert [d.device_id for d in await store.links.devices_of(1)] == ["pump-2"]
    history = await store.links.history(device_id="pump-1")
    assert [(h["action"], h["supplier_user_id"]) for h in history] == [
        ("linked", SUPPLIER_USER_ID),
        ("disconnected", SUPPLIER_USER_ID),
    ]
    assert translated(DISCONNECTED) not in await account(client)  # shown once


async def test_a_device_of_another_customer_is_not_disconnected(
    flow: Flow, client: QuartClient, store: Store, clock: FrozenClock
) -> None:
    bob = await add_user(store, email="bob@example.com", supplier_user_id="cust-0002")
    await link(store, clock, ["bobs-pump"], user_id=bob.id)
    await flow.code()
    response = await disconnect(client, csrf_of(await account(client)), "bobs-pump")
    assert location(response) == "/account"
    assert translated(DISCONNECTED) not in await account(client)
    assert [d.device_id for d in await store.links.devices_of(bob.id)] == ["bobs-pump"]


@pytest.mark.parametrize("csrf", [None, "forged"])
async def test_disconnecting_needs_the_csrf_token(
    flow: Flow, client: QuartClient, store: Store, clock: FrozenClock, csrf: str | None
) -> None:
    await link(store, clock, ["pump-1"])
    await flow.code()
    form = {"device_id": "pump-1", **({"csrf_token": csrf} if csrf else {})}
    assert (await client.post("/account/devices/disconnect", form=form)).status_code == 403
    assert [d.device_id for d in await store.links.devices_of(1)] == ["pump-1"]


async def test_parallel_disconnects_write_one_history_row(
    store: Store, seeded: Store, clock: FrozenClock
) -> None:
    """Two transactions at once (two browser tabs): one removes the device, the other finds
    nothing to do; the history says `disconnected` once."""
    await link(store, clock, ["pump-1"])
    results = await asyncio.gather(
        *(store.links.disconnect(1, "pump-1", clock.now()) for _ in range(4))
    )
    assert sum(r is not None for r in results) == 1
    actions = [h["action"] for h in await store.links.history(device_id="pump-1")]
    assert actions == ["linked", "disconnected"]


async def test_the_chosen_language_survives_sign_in_and_sign_out(
    client: QuartClient, seeded: Store
) -> None:
    login = await client.get("/account/login?language=fr")
    signed_in = await client.post(
        "/account/login?language=fr",
        form={
            "csrf_token": csrf_of(await login.get_data(as_text=True)),
            "email": EMAIL,
            "password": PASSWORD,
        },
    )
    page = await (await client.get(location(signed_in))).get_data(as_text=True)
    assert '<html lang="fr"' in page  # /account itself names no language
    out = await client.post("/account/logout", form={"csrf_token": csrf_of(page)})
    again = await (await client.get(location(out))).get_data(as_text=True)
    assert '<html lang="fr"' in again
    dutch = await (await client.get("/account/login?language=nl")).get_data(as_text=True)
    assert '<html lang="nl"' in dutch  # a new choice wins, and is remembered in turn
    assert '<html lang="nl"' in await (await client.get("/account/login")).get_data(as_text=True)
