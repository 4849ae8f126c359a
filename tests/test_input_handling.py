"""Hostile values in URLs and forms: full-string matching of redirects and ids (issue 9)."""

from __future__ import annotations

import pytest

from tests.conftest import EMAIL, PASSWORD, csrf_of, location


async def login_form(client, next_path: str) -> str:  # type: ignore[no-untyped-def]
    page = await client.get("/account/login", query_string={"next": next_path})
    assert page.status_code == 200
    return csrf_of(await page.get_data(as_text=True))


@pytest.mark.parametrize("next_path", ["/account\n", "/account\r\nX: 1", "/link/resume\n"])
async def test_next_with_a_trailing_newline_goes_to_the_account(
    client, seeded, next_path: str
) -> None:
    csrf = await login_form(client, next_path)
    response = await client.post(
        "/account/login",
        query_string={"next": next_path},
        form={"csrf_token": csrf, "email": EMAIL, "password": PASSWORD},
    )
    assert response.status_code == 302
    assert location(response) == "/account"


async def test_next_with_a_trailing_newline_is_not_echoed_in_the_form(client, seeded) -> None:
    page = await client.get("/account/login", query_string={"next": "/account\n"})
    body = await page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'action="/account/login?language=nl"' in body


@pytest.mark.parametrize(
    "path", ["/link/start/abc%0d%0aX:1", "/link/start/abc%0A", "/link/start/%E2%80%A8x"]
)
async def test_link_start_with_a_bad_id_is_not_found(client, seeded, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404


@pytest.mark.parametrize("suffix", ["login", "terms", "confirm"])
async def test_interaction_with_a_bad_id_is_not_found(client, seeded, suffix: str) -> None:
    response = await client.get(f"/interaction/abc%0d%0aX:1/{suffix}")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "name", ["\u00e9" * 300, "a" * 2000, "a/" + "b" * 300, "x%00y", "..%2f..%2fetc%2fpasswd"]
)
async def test_a_static_name_the_file_system_refuses_is_not_found(client, name: str) -> None:
    response = await client.get(f"/static/{name}")
    assert response.status_code == 404


async def test_static_files_are_still_served(client) -> None:
    response = await client.get("/static/idp.css")
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
@pytest.mark.parametrize("header", [" ", "x ", " Basic", "Basic /w==", "Basic " + "gA==:"])
async def test_an_unreadable_authorization_header_is_no_client_authentication(
    client, seeded, path: str, header: str
) -> None:
    """Authlib's Basic parser raised (a 500) on a header without credentials after the scheme
    or with credentials that are not UTF-8; such a header authenticates nobody."""
    response = await client.post(
        path,
        form={"grant_type": "client_credentials", "token": "t"},
        headers={"Authorization": header},
    )
    assert response.status_code == 401
    assert (await response.get_json())["error"] == "invalid_client"


async def test_a_path_number_beyond_64_bits_is_not_found(client) -> None:
    """Found by the hostile-input suite: the database cannot take it (OverflowError, a 500)."""
    assert (await client.get("/admin/customers/1")).status_code in (302, 303)
    assert (await client.get(f"/admin/customers/{2**63}")).status_code == 404
    assert (await client.get(f"/admin/customers/{2**63 - 1}")).status_code in (302, 303)
