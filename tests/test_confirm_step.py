"""Issue: no hand-off the customer did not confirm. A browser that is already signed in must not
hand its customer to a back-channel client (NOX) without a step taken in *this* authentication
session: sign-in, terms, or "Continue as <name>". Otherwise anyone who sends that browser to
/authorize with a `state` copied from their own NOX session gets NOX to map their account to
this customer."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from idp.store.tables import auth_sessions, authorization_codes, handoffs, login_sessions
from tests.conftest import (
    NOX_BASE,
    REDIRECT_URI,
    SUPPLIER_USER_ID,
    Flow,
    add_user,
    csrf_of,
    location,
    query_of,
    translated,
)

FOREIGN_STATE = "attackers-own-nox-state"


@pytest.fixture
async def nox(store, seeded) -> None:
    await store.clients.update(
        "nox", 0, handoff_mode="backchannel", post_login_redirect_url=NOX_BASE + "/plr"
    )


async def rows(store, table) -> list[dict]:  # type: ignore[no-untyped-def]
    async with store.engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(select(table))).all()]


async def signed_in_once(flow: Flow, store) -> None:  # type: ignore[no-untyped-def]
    """The customer linked once: signed in and accepted the terms (a code, one hand-off)."""
    await flow.code()
    assert len(await rows(store, handoffs)) == 1


async def test_a_remembered_customer_is_asked_before_any_code(flow: Flow, store, nox) -> None:
    await signed_in_once(flow, store)
    response = await flow.authorize(state=FOREIGN_STATE)
    url = location(response)
    assert url.endswith("/confirm")
    assert len(await rows(store, handoffs)) == 1  # nothing new went to NOX
    assert len(await rows(store, authorization_codes)) == 1
    _, body = await flow.page(url)
    assert translated("Continue as %(name)s?") % {"name": "Ada Lovelace"} in body
    assert "ada@example.com" in body


async def test_the_code_and_hand_off_need_the_confirmation(flow: Flow, store, nox) -> None:
    """GET on the session's pages (terms, confirm) issues nothing: only the posted "Continue"."""
    await signed_in_once(flow, store)
    url = location(await flow.authorize(state="second-state"))
    session_id = url.split("/")[-2]
    response, _ = await flow.page(f"/interaction/{session_id}/terms")
    assert location(response).endswith("/confirm")
    _, body = await flow.page(url)
    response = await flow.client.post(url, form={"csrf_token": csrf_of(body), "action": "continue"})
    params = query_of(location(response))
    assert location(response).startswith(REDIRECT_URI)
    assert params["state"] == "second-state" and params["code"]
    handoff = (await rows(store, handoffs))[-1]
    assert handoff["body"]["state"] == "second-state"
    assert handoff["body"]["supplier_user_id"] == SUPPLIER_USER_ID


async def test_confirmation_needs_the_csrf_token(flow: Flow, store, nox) -> None:
    await signed_in_once(flow, store)
    url = location(await flow.authorize(state=FOREIGN_STATE))
    response = await flow.client.post(url, form={"action": "continue"})
    assert response.status_code == 403
    response = await flow.client.post(url, form={"csrf_token": "forged", "action": "continue"})
    assert response.status_code == 403
    assert len(await rows(store, handoffs)) == 1


async def test_prompt_none_answers_interaction_required(flow: Flow, store, nox) -> None:
    await signed_in_once(flow, store)
    params = query_of(location(await flow.authorize(state=FOREIGN_STATE, prompt="none")))
    assert params["error"] == "interaction_required"
    assert params["state"] == FOREIGN_STATE
    assert "code" not in params
    assert len(await rows(store, handoffs)) == 1
    assert [a["status"] for a in await rows(store, auth_sessions)] == ["completed", "denied"]


async def test_not_you_signs_out_and_signs_in_within_the_same_session(
    flow: Flow, store, nox
) -> None:
    """A shared device: the next person says "Not you?" and signs in as themselves."""
    await add_user(store, email="bob@example.com", supplier_user_id="cust-0002", name="Bob")
    await signed_in_once(flow, store)
    url = location(await flow.authorize(state="bobs-state"))
    _, body = await flow.page(url)
    response = await flow.client.post(url, form={"csrf_token": csrf_of(body), "action": "switch"})
    login = location(response)
    assert login == url.replace("/confirm", "/login")
    assert response.headers["Set-Cookie"].startswith("idp_sid=;")
    assert await rows(store, login_sessions) == []  # the stored sign-in is gone too
    response = await flow.sign_in(login, email="bob@example.com")
    terms = location(response)
    assert terms.endswith("/terms")  # Bob has not accepted the terms yet
    params = query_of(location(await flow.accept_terms(terms)))
    assert params["state"] == "bobs-state"
    assert (await rows(store, handoffs))[-1]["body"]["supplier_user_id"] == "cust-0002"


async def test_fresh_sign_in_and_terms_need_no_extra_step(flow: Flow, store, nox) -> None:
    """Signing in (or accepting terms) in this session is the customer's step already."""
    await signed_in_once(flow, store)
    url = location(await flow.authorize(prompt="login", state="s2"))
    assert location(await flow.sign_in(url)).startswith(REDIRECT_URI)


async def test_a_redirect_client_keeps_single_sign_on(flow: Flow, store) -> None:
    """Without a back channel the browser carries the code and the client checks its own
    `state`, so a remembered customer goes straight back."""
    await flow.code()
    assert location(await flow.authorize(state="again")).startswith(REDIRECT_URI)


async def test_two_continues_at_once_issue_one_code(flow: Flow, store, nox) -> None:
    await signed_in_once(flow, store)
    url = location(await flow.authorize(state="twice"))
    _, body = await flow.page(url)
    form = {"csrf_token": csrf_of(body), "action": "continue"}
    answers = await asyncio.gather(*(flow.client.post(url, form=form) for _ in range(4)))
    codes = [a for a in answers if a.status_code == 302 and "code=" in a.headers["Location"]]
    assert len(codes) == 1, [a.status_code for a in answers]
    assert sorted(a.status_code for a in answers) == [302, 400, 400, 400]
    assert len(await rows(store, handoffs)) == 2


# ---- found in review: no route skips the terms or the step, nothing stale is honoured ----------
async def test_the_confirm_page_does_not_skip_the_terms(client, store) -> None:
    """Signed in within the session, terms pending: posting "Continue" leads to the terms."""
    from tests.conftest import add_client

    await add_user(store)
    await add_client(store)
    await store.clients.update(
        "nox", 0, handoff_mode="backchannel", post_login_redirect_url=NOX_BASE + "/p"
    )
    await store.terms.publish(version="v1", language="nl", body_md="# V", now=1)
    flow = Flow(client)
    terms = location(await flow.sign_in(location(await flow.authorize())))
    confirm = terms.replace("/terms", "/confirm")
    _, body = await flow.page(confirm)
    response = await flow.client.post(
        confirm, form={"csrf_token": csrf_of(body), "action": "continue"}
    )
    assert location(response) == terms
    assert await rows(store, authorization_codes) == []
    assert await rows(store, handoffs) == []


async def test_remembered_customer_confirms_before_new_terms(flow: Flow, store, nox) -> None:
    """A new terms version: the terms page alone does not say who is signed in, so the
    "Continue as" page comes first."""
    await signed_in_once(flow, store)
    await store.terms.publish(version="2026-02", language="nl", body_md="# Nieuw", now=10)
    assert location(await flow.authorize(state=FOREIGN_STATE)).endswith("/confirm")


async def test_nox_in_redirect_mode_also_needs_the_step(flow: Flow, store) -> None:
    """NOX may match a code to its user by `state` alone: the step holds for NOX in any mode."""
    from sqlalchemy import update

    from idp.store.tables import clients

    async with store.engine.begin() as conn:
        await conn.execute(update(clients).values(preset="nox"))
    await flow.code()
    assert location(await flow.authorize(state=FOREIGN_STATE)).endswith("/confirm")


async def test_acceptance_is_for_the_version_read(flow: Flow, store, nox) -> None:
    from idp.store.tables import terms_acceptances

    terms = location(await flow.sign_in(location(await flow.authorize())))
    _, body = await flow.page(terms)
    await store.terms.publish(version="2099-01", language="nl", body_md="# Later", now=10)
    response = await flow.client.post(
        terms,
        form={
            "csrf_token": csrf_of(body),
            "action": "accept",
            "accept_terms": "yes",
            "version": "2026-01",
        },
    )
    assert response.status_code == 409
    assert "2099-01" in await response.get_data(as_text=True)
    assert await rows(store, terms_acceptances) == []
    assert await rows(store, authorization_codes) == []


async def test_signing_out_ends_a_pending_remembered_session(flow: Flow, store, nox) -> None:
    await signed_in_once(flow, store)
    confirm = location(await flow.authorize(state=FOREIGN_STATE))
    _, body = await flow.page(confirm)
    _, account = await flow.page("/account")
    await flow.client.post("/account/logout", form={"csrf_token": csrf_of(account)})
    response = await flow.client.post(
        confirm, form={"csrf_token": csrf_of(body), "action": "continue"}
    )
    assert location(response) == confirm.replace("/confirm", "/login")
    assert len(await rows(store, handoffs)) == 1


async def test_a_session_now_for_someone_else_is_not_completed(flow: Flow, store, nox) -> None:
    """The completion itself names the customer: a stale request for another one loses."""
    await signed_in_once(flow, store)
    location(await flow.authorize(state="s"))
    [_, pending] = await rows(store, auth_sessions)
    assert pending["interacted_at"] is None
    await store.auth_sessions.interacted(pending["id"], pending["user_id"], 5)
    assert not await store.auth_sessions.finish(pending["id"], "completed", user_id=999)
    assert await store.auth_sessions.finish(pending["id"], "completed", user_id=pending["user_id"])


async def test_prompt_consent_asks_even_a_single_sign_on_client(flow: Flow, store) -> None:
    """Found in review: discovery advertises prompt=consent, which was ignored."""
    await flow.code()
    assert location(await flow.authorize(state="again", prompt="consent")).endswith("/confirm")
    # OIDC Core §3.1.2.1: `none` with any other value is an error.
    params = query_of(location(await flow.authorize(state="quiet", prompt="consent none")))
    assert params["error"] == "invalid_request"
