"""NOX's OAuth transactions in the sandbox (flow 1), and the rules NOX applies to them.

A transaction starts when the customer picks a supplier; its `state` is the only key a hand-off
on POST /post-login-redirect may name, and NOX's 15-minute window runs from that moment. The
outcome ("supplier authentication succeeded") needs the code redirect and, for a supplier whose
hand-off mode is `backchannel`, the hand-off for the same state naming the ID token's subject.
Framework-free: idp.sandbox.supplier_authentication applies them, the routes in idp.sandbox.flow1
and idp.sandbox.handoff_api turn these decisions into responses.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

KEPT_SECONDS = 24 * 3600  # transactions older than this are dropped from the state file


@dataclass
class Transaction:
    state: str
    nonce: str
    code_verifier: str
    selected_at: int
    language: str
    result_id: str
    supplier: str
    maker: str | None = None  # the heat-pump maker whose app started the flow, if any
    callback_at: int | None = None
    code_error: str | None = None  # why the code redirect failed, if it did
    id_token_sub: str | None = None
    id_token: str | None = None  # kept as the id_token_hint of a later sign-out
    handoff: dict[str, Any] | None = None  # the first hand-off body accepted for this state
    handoff_at: int | None = None
    settled: str | None = None  # "succeeded" or "failed", once recorded as an event

    def deadline(self, window_seconds: int) -> int:
        return self.selected_at + window_seconds


@dataclass(frozen=True)
class Outcome:
    """What NOX concludes about one transaction at a moment."""

    status: str  # "succeeded", "failed" or "waiting"
    reason: str
    code_ok: bool | None  # None while the customer has not come back with a code
    handoff_required: bool
    handoff_matches: bool | None  # None while no hand-off arrived
    supplier_user_id: str | None = None  # what NOX maps its user to, once it succeeded

    @property
    def final(self) -> bool:
        return self.status != "waiting"


def outcome(txn: Transaction, now: int, handoff_mode: str, window_seconds: int) -> Outcome:
    """Succeeded only when the code redirect was verified and, for `backchannel`, the hand-off
    for this state arrived and names the ID token's subject; waiting while either may come."""
    required = handoff_mode == "backchannel"
    handoff_id = txn.handoff["supplier_user_id"] if txn.handoff else None
    matches = None if handoff_id is None else handoff_id == txn.id_token_sub
    expired = now > txn.deadline(window_seconds)

    def decide(status: str, reason: str, linked: str | None = None) -> Outcome:
        code_ok = None if txn.callback_at is None else txn.code_error is None
        return Outcome(status, reason, code_ok, required, matches, linked)

    if txn.callback_at is None:
        if expired:
            return decide("failed", "The customer did not come back within the 15 minutes.")
        return decide("waiting", "Waiting for the customer to come back from the supplier.")
    if txn.code_error is not None:
        return decide("failed", txn.code_error)
    if not required:
        return decide(
            "succeeded",
            f"Hand-off mode {handoff_mode}: the code redirect suffices.",
            txn.id_token_sub,
        )
    if handoff_id is None:
        if expired:
            return decide(
                "failed",
                "The hand-off (POST /post-login-redirect) did not arrive within the 15 minutes.",
            )
        return decide("waiting", "Waiting for the hand-off (POST /post-login-redirect).")
    if not matches:
        return decide(
            "failed",
            f"The hand-off names supplier_user_id {handoff_id!r}, the ID token's sub is "
            f"{txn.id_token_sub!r}.",
        )
    return decide("succeeded", "The code redirect and the hand-off agree.", handoff_id)


class HandoffRefused(Exception):
    """A hand-off NOX would refuse: HTTP status, `error` code and a description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass(frozen=True)
class HandoffAccepted:
    txn: Transaction
    repeated: bool  # the same hand-off again (a retry): answered 2xx, nothing changes


def check_handoff(
    body: Any, transactions: dict[str, Transaction], now: int, window_seconds: int
) -> HandoffAccepted:
    """What NOX would check on POST /post-login-redirect once the API key is right: the two
    fields it publishes, a state it issued itself, its 15-minute window, one customer per
    state. Other fields (client_id, authenticated_at, operator extras) are not required."""
    if not isinstance(body, dict):
        raise HandoffRefused(400, "invalid_request", "The body must be a JSON object.")
    for name in ("supplier_user_id", "state"):
        value = body.get(name)
        if not isinstance(value, str) or not value:
            raise HandoffRefused(400, "invalid_request", f"'{name}' must be a non-empty string.")
    txn = transactions.get(body["state"])
    if txn is None:
        raise HandoffRefused(
            400, "unknown_state", "NOX did not start an authentication with this state."
        )
    if now > txn.deadline(window_seconds):
        raise HandoffRefused(
            400, "authentication_expired", "The 15-minute authentication window has passed."
        )
    if txn.handoff is not None:
        if txn.handoff["supplier_user_id"] != body["supplier_user_id"]:
            raise HandoffRefused(
                409, "state_already_used", "A hand-off naming another customer came for this state."
            )
        return HandoffAccepted(txn, repeated=True)
    return HandoffAccepted(txn, repeated=False)


@dataclass
class Transactions:
    """The transactions by state, kept in a JSON file when one is given, so that a sandbox
    restarted while the customer signs in still knows the state (as NOX would)."""

    path: Path | None = None
    by_state: dict[str, Transaction] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def load(self, now: int) -> None:
        if self.path is None or not self.path.exists():
            return
        for row in json.loads(self.path.read_text()):
            txn = Transaction(**row)
            if now - txn.selected_at <= KEPT_SECONDS:
                self.by_state[txn.state] = txn

    def add(self, txn: Transaction) -> None:
        self.by_state[txn.state] = txn

    def by_result(self, result_id: str) -> Transaction | None:
        return next((t for t in self.by_state.values() if t.result_id == result_id), None)

    async def save(self) -> None:
        if self.path is None:
            return
        async with self._lock:
            rows = [asdict(t) for t in self.by_state.values()]
            await asyncio.to_thread(_write_private, self.path, json.dumps(rows))


def _write_private(path: Path, text: str) -> None:
    """Replace the file atomically, readable by its owner only (it holds PKCE verifiers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
