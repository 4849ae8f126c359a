"""Pages with secrets or someone's account are never cached: `Cache-Control: no-store` on the
rotated client secret, the new admin's TOTP URI, /account, /link/* and everything under /admin."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import EMAIL, PASSWORD, csrf_of
from tests.test_admin import admin_form, make_admin, sign_in


def assert_no_store(response: Any) -> None:
    assert response.headers.get("Cache-Control") == "no-store", response.headers


async def test_admin_pages_with_secrets_are_not_stored(app, seeded, clock) -> None:
    owner = await make_admin(app, "owner")
    client = app.test_client()
    assert_no_store(await client.get("/admin/login"))
    signed_in = await sign_in(client, owner, clock)
    assert_no_store(signed_in)
    for path in ("/admin", "/admin/clients", "/admin/audit", "/admin/nope"):
        assert_no_store(await client.get(path))
    csrf = await admin_form(client, "/admin/clients/nox")
    rotated = await client.post(
        "/admin/clients/nox/rotate-secret", form={"csrf_token": csrf, "confirm": "yes"}
    )
    assert rotated.status_code == 200
    assert_no_store(rotated)
    invited = await client.post(
        "/admin/admins/invitations",
        form={"csrf_token": csrf, "email": "new@supplier.example", "role": "viewer"},
    )
    page = await invited.get_data(as_text=True)
    assert invited.status_code == 200 and "/admin/enrol?token=" in page
    assert_no_store(invited)
    # The link's pages: the one that shows the new admin's TOTP secret included.
    link = re.search(r"(/admin/enrol\?token=[\w-]+)", page).group(1)  # type: ignore[union-attr]
    theirs = app.test_client()
    assert_no_store(await theirs.get(link))
    csrf = await admin_form(theirs, "/admin/enrol")
    form = {
        "csrf_token": csrf,
        "password": "a long password 0123",
        "confirm": "a long password 0123",
    }
    assert_no_store(await theirs.post("/admin/enrol/password", form=form))
    secret_page = await theirs.get("/admin/enrol")
    assert "otpauth://" in await secret_page.get_data(as_text=True)
    assert_no_store(secret_page)


async def test_account_pages_are_not_stored(client, seeded) -> None:
    assert_no_store(await client.get("/account"))  # the redirect to sign in
    page = await client.get("/account/login")
    assert_no_store(page)
    csrf = csrf_of(await page.get_data(as_text=True))
    response = await client.post(
        "/account/login", form={"csrf_token": csrf, "email": EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 302
    account = await client.get("/account")
    assert account.status_code == 200 and "Ada Lovelace" in await account.get_data(as_text=True)
    assert_no_store(account)


@pytest.mark.parametrize("path", ["/link/callback?data=x", "/link/start/abc", "/link/resume"])
async def test_link_pages_are_not_stored(client, seeded, path: str) -> None:
    assert_no_store(await client.get(path))
