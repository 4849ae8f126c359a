"""The 15-minute authentication session: every step checks it against the injected clock."""

from __future__ import annotations

import html

from tests.conftest import ISSUER, REDIRECT_URI, Flow, csrf_of, location, query_of, translated

EXPIRED_DESCRIPTION = "The authentication session expired after 15 minutes"


async def assert_expired_page(response, language: str = "nl") -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400
    body = await response.get_data(as_text=True)
    assert translated("Your session has expired", language) in body
    links = [html.unescape(part.split('"')[0]) for part in body.split('href="')[1:]]
    [back] = [link for link in links if link.startswith(REDIRECT_URI)]
    params = query_of(back)
    assert params["error"] == "access_denied"
    assert params["error_description"] == EXPIRED_DESCRIPTION
    assert params["state"] == "state-123"
    assert params["iss"] == ISSUER
    assert "code" not in params


async def test_sign_in_after_the_window_fails(flow: Flow, clock, store) -> None:
    url = location(await flow.authorize(language="en"))
    _, body = await flow.page(url)
    clock.advance(900)
    response = await flow.client.post(
        url, form={"csrf_token": csrf_of(body), "email": "ada@example.com", "password": "x"}
    )
    await assert_expired_page(response, "en")
    session = await store.auth_sessions.get(url.split("/")[2])
    assert session.user_id is None
    assert session.status == "denied"


async def test_one_second_before_the_end_still_works(flow: Flow, clock) -> None:
    url = location(await flow.authorize())
    _, body = await flow.page(url)
    clock.advance(899)
    response = await flow.client.post(
        url,
        form={
            "csrf_token": csrf_of(body),
            "email": "ada@example.com",
            "password": "correct horse battery staple",
        },
    )
    assert location(response).endswith("/terms")


async def test_terms_submit_after_the_window_fails(flow: Flow, clock, store) -> None:
    terms = location(await flow.sign_in(location(await flow.authorize())))
    _, body = await flow.page(terms)
    clock.advance(900)
    response = await flow.client.post(
        terms, form={"csrf_token": csrf_of(body), "action": "accept", "accept_terms": "yes"}
    )
    await assert_expired_page(response)
    assert not await store.terms.has_accepted(1, "2026-01")


async def test_code_is_not_issued_after_the_window(flow: Flow, clock, store) -> None:
    """Even a customer who signed in and accepted gets no code once the window closed."""
    await flow.code()  # accepted terms, signed in
    url = location(await flow.authorize(prompt="login"))
    _, body = await flow.page(url)
    clock.advance(901)
    response = await flow.client.post(
        url,
        form={
            "csrf_token": csrf_of(body),
            "email": "ada@example.com",
            "password": "correct horse battery staple",
        },
    )
    await assert_expired_page(response)


async def test_window_counts_from_authorize_not_from_sign_in(flow: Flow, clock) -> None:
    url = location(await flow.authorize())
    clock.advance(600)
    terms = location(await flow.sign_in(url))
    clock.advance(300)
    response, _ = await flow.page(terms)
    await assert_expired_page(response)


async def test_two_tabs_are_two_sessions(flow: Flow, clock) -> None:
    first = location(await flow.authorize(state="tab-1"))
    clock.advance(600)
    second = location(await flow.authorize(state="tab-2"))
    assert first != second
    clock.advance(400)  # the first tab's window closed; the second has 500 s left
    response, _ = await flow.page(first)
    assert response.status_code == 400
    terms = location(await flow.sign_in(second))
    response = await flow.accept_terms(terms)
    params = query_of(location(response))
    assert params["state"] == "tab-2"
    assert "code" in params
