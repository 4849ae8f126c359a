"""NOX's POST /post-login-redirect in the sandbox: the supplier's back-channel hand-off of flow 1
(x-api-key, then the checks in idp.sandbox.transactions.check_handoff), answering as told by
POST /_sandbox/control (ok, 503, 400 or slow).

The answers are our assumption (NOX does not publish them): 2xx JSON on acceptance, 4xx JSON
`{"error": ..., "error_description": ...}` on refusal.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING, Any

from quart import Quart, Response, jsonify, request

from idp.sandbox.supplier_authentication import SupplierAuthentication
from idp.sandbox.transactions import HandoffRefused, check_handoff
from idp.security.clock import Clock

if TYPE_CHECKING:
    from idp.sandbox.app import SandboxSettings, SandboxState


def register_handoff_api(
    app: Quart,
    settings: SandboxSettings,
    state: SandboxState,
    clock: Clock,
    authentication: SupplierAuthentication,
) -> None:
    transactions = state.transactions

    def refused(status: int, error: str, description: str, **event: Any) -> tuple[Response, int]:
        state.record(
            "post_login_redirect_rejected", status=status, error=error, reason=description, **event
        )
        return jsonify({"error": error, "error_description": description}), status

    @app.post("/post-login-redirect")
    async def post_login_redirect() -> tuple[Response, int]:
        given = request.headers.get("x-api-key", "").encode()
        if not secrets.compare_digest(given, settings.api_key.encode()):
            return refused(401, "invalid_api_key", "Missing or wrong x-api-key.")
        body = await request.get_json(force=True, silent=True)
        try:
            accepted = check_handoff(
                body, transactions.by_state, clock.now(), settings.window_seconds
            )
        except HandoffRefused as exc:
            return refused(exc.status, exc.error, exc.description, body=body)
        behaviour = state.misbehaviour.current()
        state.record(
            "post_login_redirect",
            body=body,
            idempotency_key=request.headers.get("Idempotency-Key"),
            answered=behaviour.mode,
            repeated=accepted.repeated,
        )
        if behaviour.mode == "slow":
            await asyncio.sleep(behaviour.delay)
        if behaviour.mode in ("503", "400"):
            return jsonify(
                {
                    "error": "sandbox_misbehaving",
                    "error_description": f"sandbox told to answer {behaviour.mode}",
                }
            ), int(behaviour.mode)
        txn = accepted.txn
        if txn.handoff is None:
            # The first hand-off for this state is kept; a repeat (a retry) changes nothing.
            txn.handoff, txn.handoff_at = body, clock.now()
            await transactions.save()
            if txn.callback_at is not None:
                await authentication.settle(txn)
        return jsonify({"status": "accepted", "state": txn.state}), 200
