"""GET /authorize: the validation pipeline (RFC 6749 §4.1.1, §4.1.2.1; RFC 7636; RFC 9207)."""

from __future__ import annotations

import pytest

from tests.conftest import ISSUER, REDIRECT_URI, Flow, location, query_of


async def error_page(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.content_type.startswith("text/html")
    return await response.get_data(as_text=True)


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": None},
        {"client_id": "unknown"},
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": REDIRECT_URI + "/"},
        {"redirect_uri": REDIRECT_URI.upper()},
        {"redirect_uri": REDIRECT_URI + "?x=1"},
        {"redirect_uri": "https://nox.example/oauth/callback#frag"},
    ],
    ids=[
        "no-client",
        "unknown-client",
        "foreign-uri",
        "trailing-slash",
        "case",
        "query",
        "fragment",
    ],
)
async def test_unverified_client_or_redirect_uri_gets_a_page_not_a_redirect(
    flow: Flow, overrides: dict
) -> None:
    body = await error_page(await flow.authorize(**overrides))
    assert "evil.example" not in body or "&lt;" not in body


async def test_error_page_escapes_what_it_echoes(flow: Flow) -> None:
    body = await error_page(await flow.authorize(redirect_uri="https://x.example/<script>"))
    assert "<script>" not in body


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"request_uri": "https://x.example/r"}, "request_uri_not_supported"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "bogus"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"prompt": "none"}, "login_required"),
    ],
)
async def test_errors_after_verification_go_to_the_client(
    flow: Flow, overrides: dict, error: str
) -> None:
    url = location(await flow.authorize(**overrides))
    assert url.startswith(REDIRECT_URI + "?")
    params = query_of(url)
    assert params["error"] == error
    assert params["state"] == "state-123"
    assert params["iss"] == ISSUER
    assert "code" not in params


async def test_repeated_parameter_is_refused(flow: Flow, client) -> None:
    """RFC 6749 §3.1: parameters MUST NOT repeat; checked before anything else is trusted."""
    params = flow.params()
    query = "&".join(f"{k}={v}" for k, v in params.items()) + "&state=again"
    response = await client.get("/authorize?" + query.replace("https://", "https%3A%2F%2F"))
    body = await error_page(response)
    assert "invalid_request" in body


async def test_valid_request_opens_a_session_at_the_sign_in_page(flow: Flow, store) -> None:
    url = location(await flow.authorize())
    assert url.startswith("/interaction/") and url.endswith("/login")
    session = await store.auth_sessions.get(url.split("/")[2])
    assert session is not None
    assert session.status == "pending"
    assert session.redirect_uri == REDIRECT_URI
    assert session.state == "state-123"
    assert session.expires_at - session.created_at == 900


async def test_post_authorize_is_accepted(flow: Flow, client) -> None:
    response = await client.post("/authorize", form=flow.params())
    assert location(response).endswith("/login")


async def test_signed_in_customer_skips_sign_in(flow: Flow) -> None:
    await flow.code()
    url = location(await flow.authorize())
    assert url.startswith(REDIRECT_URI)
    assert "code" in query_of(url)


async def test_prompt_login_asks_again(flow: Flow) -> None:
    await flow.code()
    assert location(await flow.authorize(prompt="login")).endswith("/login")


async def test_max_age_exceeded_asks_again(flow: Flow, clock) -> None:
    await flow.code()
    clock.advance(120)
    assert location(await flow.authorize(max_age="60")).endswith("/login")
    assert location(await flow.authorize(max_age="600")).startswith(REDIRECT_URI)


async def test_prompt_none_with_session_issues_code_silently(flow: Flow) -> None:
    await flow.code()
    url = location(await flow.authorize(prompt="none"))
    assert "code" in query_of(url)


async def test_prompt_none_without_accepted_terms_is_consent_required(flow: Flow, store) -> None:
    await flow.code()
    await store.terms.publish(version="2026-02", language="nl", body_md="# Nieuw", now=5)
    params = query_of(location(await flow.authorize(prompt="none")))
    assert params["error"] == "consent_required"
    assert params["iss"] == ISSUER


async def stored_sessions(store) -> list[dict]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from idp.store.tables import auth_sessions

    async with store.engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(select(auth_sessions))).all()]


async def test_post_authorize_stores_only_the_parameters_the_flow_needs(
    flow: Flow, client, store
) -> None:
    params = flow.params(prompt="login", ui_locales="en", language="en")
    junk = {f"junk{i}": "x" * 1000 for i in range(60)}  # ~60 kB nobody needs
    response = await client.post("/authorize", form={**params, **junk})
    url = location(response)
    assert url.endswith("/login")
    [row] = await stored_sessions(store)
    assert query_of("?" + row["query"]) == {k: params[k] for k in sorted(params)}
    assert len(row["query"]) < 1000
    # The stored request still carries everything Authlib checks again when it issues the code.
    response = await flow.sign_in(url)
    url = location(response)
    if url.endswith("/terms"):
        url = location(await flow.accept_terms(url))
    assert url.startswith(REDIRECT_URI) and "code" in query_of(url)


@pytest.mark.parametrize("name", ["nonce", "scope", "code_challenge", "prompt", "ui_locales"])
async def test_an_oversized_parameter_is_refused_before_anything_is_stored(
    flow: Flow, client, store, name: str
) -> None:
    value = "openid " * 800 if name == "scope" else "a" * 5000
    response = await client.post("/authorize", form=flow.params(**{name: value}))
    url = location(response)
    assert url.startswith(REDIRECT_URI)
    assert query_of(url)["error"] == "invalid_request"
    assert query_of(url)["state"] == "state-123"
    assert await stored_sessions(store) == []


@pytest.mark.parametrize("name", ["state", "redirect_uri", "client_id"])
async def test_an_oversized_state_or_client_is_an_error_page(
    flow: Flow, client, store, name: str
) -> None:
    response = await client.post("/authorize", form=flow.params(**{name: "a" * 5000}))
    assert response.status_code == 400
    assert "invalid_request" in await response.get_data(as_text=True)
    assert await stored_sessions(store) == []


OUTSIDE_VSCHAR = ["\x1f", "code\u00ea", "a\x7fb"]
ECHO_UNSAFE = ["..\\..", 'a"b']  # VSCHAR, but not in an error_description


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (name, value)
        for name in ("response_type", "redirect_uri", "client_id", "scope", "state", "nonce")
        for value in OUTSIDE_VSCHAR + ([] if name in ("state", "nonce") else ECHO_UNSAFE)
    ],
)
async def test_a_parameter_outside_vschar_is_an_error_page(
    flow: Flow, client, store, name: str, value: str
) -> None:
    """RFC 6749 Appendix A; Authlib echoes response_type and redirect_uri in its error
    descriptions, which refused such characters with a 500."""
    response = await client.get("/authorize", query_string=flow.params(**{name: value}))
    assert response.status_code == 400
    assert "invalid_request" in await response.get_data(as_text=True)
    assert await stored_sessions(store) == []


async def test_state_and_nonce_may_carry_any_vschar(flow: Flow) -> None:
    url = location(await flow.authorize(state='s"\\1', nonce='n"\\1'))
    assert url.endswith("/login")


async def test_new_sessions_per_network_are_limited(app, client, seeded, store, clock) -> None:
    """Found in review: each anonymous /authorize stores a row, with no limit, faster than the
    retention job deletes. Beyond IDP_AUTHORIZE_PER_MINUTE (60) a network waits; nothing is
    stored for the refused requests."""
    from sqlalchemy import func, select

    from idp.store.tables import auth_sessions
    from tests.conftest import Flow

    async def stored() -> int:
        async with store.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(auth_sessions)))

    flow = Flow(client)
    for _ in range(60):
        assert (await flow.authorize()).status_code == 302
    refused = await flow.authorize()
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert await stored() == 60
    clock.advance(60)
    assert (await flow.authorize()).status_code == 302
    assert await stored() == 61
