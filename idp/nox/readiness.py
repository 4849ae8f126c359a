"""What keeps NOX from receiving what it needs, said plainly at start-up, on /readyz and in the
console: a misconfiguration must not look like a working link."""

from __future__ import annotations

from idp.config import Settings
from idp.store import Store


async def configuration_warnings(settings: Settings, store: Store) -> list[str]:
    """Plain sentences, one per problem; empty when NOX gets what it needs."""
    warnings: list[str] = []
    clients = [c for c in await store.clients.all() if not c.disabled]
    for client in clients:
        if client.is_nox and client.handoff_mode != "backchannel":
            warnings.append(
                f"client {client.client_id} is NOX but has no back-channel hand-off: NOX never "
                "receives the supplier_user_id"
            )
    if not settings.nox_api_key:
        needs = [c.client_id for c in clients if c.handoff_mode == "backchannel"]
        warnings.append(
            "IDP_NOX_API_KEY is empty: link sessions with NOX cannot be created"
            + (f", and hand-offs to {', '.join(needs)} are held back" if needs else "")
        )
    if not settings.nox_api_base:
        warnings.append(
            "IDP_NOX_API_BASE is empty: NOX cannot confirm the devices in a link callback, so a "
            "device moving to another customer is held for an operator (idp links held)"
        )
    if await store.terms.current_version() is None:
        warnings.append(
            "no terms and conditions are published: customers cannot be handed to NOX until "
            "a version is published (idp terms publish, or the console)"
        )
    return warnings
