"""Demo data for `make run`: a customer, the NOX client and terms, created once on an empty
database. The generated secrets are kept in ./var/demo.json (mode 0600) so every start can print
them again."""

from __future__ import annotations

from typing import Any

from idp.demo_credentials import load_credentials, save_credentials
from idp.security import passwords
from idp.security.secrets import digest, new_secret
from idp.store import Store

DEMO_EMAIL = "demo@example.com"
DEMO_SUPPLIER_USER_ID = "demo-customer-0001"
TERMS = {
    "nl": "# Algemene voorwaarden\n\nDoor te koppelen met NOX Energy geeft u toestemming om uw "
    "warmtepomp of zonne-installatie slim aan te sturen.\n\n- U kunt de koppeling altijd "
    "verbreken.\n- Wij delen alleen uw klantnummer met NOX.",
    "en": "# Terms and conditions\n\nBy linking with NOX Energy you allow your heat pump or solar "
    "installation to be steered smartly.\n\n- You can end the link at any time.\n- We only share "
    "your customer number with NOX.",
}


async def follow_sandbox(
    store: Store, var_dir: str, credentials: dict[str, Any], sandbox_url: str, now: int
) -> None:
    """The sandbox moved (`make run SANDBOX_PORT=...`), or the database predates sign-out: point
    the demo client's redirect URI, post-logout redirect URI and hand-off URL at it, instead of
    leaving stale ones that break flow 1."""
    client_id = credentials["client_id"]
    signed_out = f"{sandbox_url}/signed-out"
    client = await store.clients.get(client_id)
    if client is not None and client.post_logout_redirect_uris != [signed_out]:
        for stale in client.post_logout_redirect_uris:
            await store.clients.remove_redirect_uri(client_id, stale, "post_logout")
        await store.clients.add_redirect_uri(client_id, signed_out, "post_logout")
    backchannel = f"{sandbox_url}/backchannel-logout"
    if client is not None and client.backchannel_logout_uri != backchannel:
        await store.clients.update(client_id, now, backchannel_logout_uri=backchannel)
    redirect_uri = f"{sandbox_url}/callback"
    if credentials.get("redirect_uri") == redirect_uri:
        return
    await store.clients.remove_redirect_uri(client_id, credentials["redirect_uri"])
    await store.clients.add_redirect_uri(client_id, redirect_uri)
    await store.clients.update(
        client_id, now, post_login_redirect_url=f"{sandbox_url}/post-login-redirect"
    )
    credentials["redirect_uri"] = redirect_uri
    save_credentials(var_dir, credentials)


async def seed(store: Store, var_dir: str, sandbox_url: str, now: int) -> dict[str, Any] | None:
    """Create the demo data when the database has no customers yet; return the credentials
    (None for a database that already had customers of its own)."""
    if await store.users.count() > 0:
        credentials = load_credentials(var_dir)
        if credentials is not None:
            await follow_sandbox(store, var_dir, credentials, sandbox_url, now)
        return credentials
    credentials = {
        "email": DEMO_EMAIL,
        "password": new_secret(9),
        "client_id": "nox",
        "client_secret": new_secret(32),
        "redirect_uri": f"{sandbox_url}/callback",
        "nox_api_key": new_secret(24),
    }
    await store.users.add(
        email=DEMO_EMAIL,
        supplier_user_id=DEMO_SUPPLIER_USER_ID,
        name="Demo Klant",
        password_hash=passwords.hash_password(credentials["password"]),
        now=now,
    )
    await store.clients.add(
        client_id="nox",
        name="NOX Energy (sandbox)",
        secret_hash=digest(credentials["client_secret"]),
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106
        grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "profile", "email", "offline_access"],
        redirect_uris=[credentials["redirect_uri"]],
        post_logout_redirect_uris=[f"{sandbox_url}/signed-out"],
        now=now,
        handoff_mode="backchannel",
        post_login_redirect_url=f"{sandbox_url}/post-login-redirect",
        preset="nox",
    )
    await store.clients.update(
        "nox", now, backchannel_logout_uri=f"{sandbox_url}/backchannel-logout"
    )
    if await store.terms.current_version() is None:
        for language, body in TERMS.items():
            await store.terms.publish(version="demo-1", language=language, body_md=body, now=now)
    save_credentials(var_dir, credentials)
    return credentials
