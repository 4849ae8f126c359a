"""Terms and conditions: shown in the customer's language, explicit acceptance, stored proof."""

from __future__ import annotations

import hashlib
import html
import re

from sqlalchemy import select

from idp.store.tables import authorization_codes, handoffs, terms_acceptances
from tests.conftest import CLIENT_ID, ISSUER, REDIRECT_URI, TERMS_EN, Flow, location, query_of


async def terms_url(flow: Flow, **overrides) -> str:  # type: ignore[no-untyped-def]
    return location(await flow.sign_in(location(await flow.authorize(**overrides))))


async def acceptances(store) -> list[dict]:  # type: ignore[no-untyped-def]
    async with store.engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(select(terms_acceptances))).all()]


async def codes(store) -> list[dict]:  # type: ignore[no-untyped-def]
    async with store.engine.connect() as conn:
        found = (await conn.execute(select(authorization_codes))).all()
        found += (await conn.execute(select(handoffs))).all()
    return [dict(r._mapping) for r in found]


async def test_terms_page_shows_current_version_in_customer_language(flow: Flow) -> None:
    _, body = await flow.page(await terms_url(flow, language="en"))
    assert "<h1>Terms</h1>" in body
    assert "<strong>everything</strong>" in body
    assert "2026-01" in body
    _, body = await flow.page(await terms_url(Flow(flow.client), prompt="login"))
    assert "<h1>Voorwaarden</h1>" in body  # nl by default


async def test_markdown_html_is_escaped(flow: Flow, store, clock) -> None:
    await store.terms.publish(
        version="x", language="nl", body_md="<script>alert(1)</script>", now=9
    )
    _, body = await flow.page(await terms_url(flow))
    assert "<script>" not in body
    assert "&lt;script&gt;" in body


async def test_accept_without_ticking_the_box_is_refused(flow: Flow, store) -> None:
    response = await flow.accept_terms(await terms_url(flow), tick=False)
    assert response.status_code == 400
    assert await acceptances(store) == []


async def test_acceptance_is_stored_with_its_circumstances(flow: Flow, store, clock) -> None:
    response = await flow.accept_terms(await terms_url(flow, language="en"))
    assert location(response).startswith(REDIRECT_URI)
    [row] = await acceptances(store)
    assert row["version"] == "2026-01"
    assert row["language"] == "en"
    assert row["accepted_at"] == clock.now()
    assert row["client_id"] == CLIENT_ID
    assert row["ip"]
    assert row["user_id"] == (await store.users.by_email("ada@example.com")).id
    # Evidence of the very text shown: the SHA-256 of its Markdown as stored.
    assert row["text_sha256"] == hashlib.sha256(TERMS_EN.encode()).hexdigest()


async def test_accepted_customer_skips_terms_until_a_new_version(flow: Flow, store) -> None:
    await flow.code()
    url = location(await flow.authorize(prompt="login"))
    assert location(await flow.sign_in(url)).startswith(REDIRECT_URI)
    await store.terms.publish(version="2026-02", language="nl", body_md="# Nieuw", now=10)
    url = location(await flow.authorize(prompt="login"))
    assert location(await flow.sign_in(url)).endswith("/terms")


async def test_decline_sends_access_denied(flow: Flow, store) -> None:
    response = await flow.accept_terms(await terms_url(flow), action="decline")
    params = query_of(location(response))
    assert params["error"] == "access_denied"
    assert params["state"] == "state-123"
    assert params["iss"] == ISSUER
    assert "code" not in params
    assert await acceptances(store) == []


async def test_no_published_terms_hands_nobody_over(client, store) -> None:
    """With nothing to accept, the customer is not handed to the client as if they had."""
    from tests.conftest import add_client, add_user, translated

    await add_user(store)
    await add_client(store)
    await store.terms.add_draft(version="2026-01", language="nl", body_md="# Concept", now=1)
    flow = Flow(client)
    response = await flow.sign_in(location(await flow.authorize()))
    assert response.status_code == 503
    body = await response.get_data(as_text=True)
    assert translated("Terms and conditions unavailable") in body
    assert "Concept" not in body
    back = re.search(r'href="([^"]+)"', body.split("<main", 1)[-1])
    assert back is not None
    params = query_of(html.unescape(back.group(1)))
    assert params["error"] == "temporarily_unavailable"
    assert params["state"] == "state-123"
    assert "code" not in params
    assert await codes(store) == []


async def test_a_draft_never_reaches_the_customer(flow: Flow, store) -> None:
    """A French draft of the published version, and a newer draft version: neither is shown."""
    await store.terms.add_draft(version="2026-01", language="fr", body_md="# Brouillon", now=5)
    await store.terms.add_draft(version="2026-09", language="nl", body_md="# Nieuw concept", now=6)
    _, body = await flow.page(await terms_url(flow, language="fr"))
    assert "Brouillon" not in body
    assert "Nieuw concept" not in body
    assert "<h1>Voorwaarden</h1>" in body  # the published text, in the fallback language
    assert "2026-01" in body


async def test_fallback_language_is_said_on_the_page(flow: Flow) -> None:
    from tests.conftest import translated

    _, body = await flow.page(await terms_url(flow, language="es"))
    notice = translated(
        "These terms and conditions are not available in your language. "
        "They are shown in %(language)s.",
        "es",
    ) % {"language": "Nederlands"}
    assert html.unescape(body).count(notice) == 1
    _, body = await flow.page(await terms_url(Flow(flow.client), language="en", prompt="login"))
    assert "not available in your language" not in body  # English has its own text


async def test_finished_session_cannot_be_replayed(flow: Flow) -> None:
    url = await terms_url(flow)
    await flow.page(url)
    await flow.accept_terms(url)
    response, _ = await flow.page(url)
    assert response.status_code == 400
