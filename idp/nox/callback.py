"""Flow 2's callback, where NOX's `?data=` payload is decoded, bound to our session, verified
and completes that session once (NOX-CONTRACT, flow 2). NOX does not sign the payload, so:

- Decoding is strict (idp/nox/payload.py): base64url JSON of NOX's fields, within bounds.
- It is accepted only for the signed-in customer it names; before sign-in it waits in the
  browser (for at most a link session's lifetime) until the customer has signed in.
- Binding: the browser's signed cookie lists the link sessions it was sent to NOX for (one per
  asset type); optionally the callback URL names the session (IDP_LINK_CALLBACK_SESSION_PARAM).
  A browser without that cookie (the customer finished on another device and signed in there)
  may complete only the customer's one open session that fits the payload.
- The payload's brand must fit the session: the maker chosen when one was, else a maker NOX
  offers for the session's asset type.
- Devices: with NOX's data API configured, every device must be listed by NOX for this
  customer; without it (or when it fails), a move away from another customer, and anything a
  browser without the binding brings, is held for an operator, never made silently.
- Every refusal is a security event (anonymous ones counted per IP and minute).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from authlib.common.urls import add_params_to_uri

from idp.metrics import metrics
from idp.nox.client import NoxDataClient, NoxUnavailable
from idp.nox.link_sessions import LINK_SESSION_SECONDS
from idp.nox.payload import BadPayload, LinkPayload, decode_payload
from idp.nox.registry import brand_fits
from idp.records import LinkSession, User
from idp.security.clock import Clock
from idp.security.events import SecurityLog
from idp.security.secrets import new_secret
from idp.store.links import Links, MoveNotConfirmed

log = logging.getLogger("idp.nox.callback")
ANONYMOUS_EVENT_WINDOW = 60  # seconds: one counted row per IP for callbacks nobody signed in made


# ---- binding and verifying ---------------------------------------------------------------------
class Rejected(Exception):
    """The callback is refused; the message is the reason recorded with the security event."""


@dataclass(frozen=True)
class Completed:
    session: LinkSession
    device_ids: list[str]


@dataclass(frozen=True)
class Bound:
    """The session a callback completes, and whether this browser was bound to it (by cookie or
    by the callback URL) or it was only the customer's one open session that fits."""

    session: LinkSession
    by_browser: bool


@dataclass(frozen=True)
class Held:
    session: LinkSession
    held_id: str
    reason: str
    moved_from: dict[str, str]


def _fits(session: LinkSession, payload: LinkPayload) -> bool:
    if session.brand is not None:
        return session.brand == payload.brand
    return brand_fits(session.asset_type, payload.brand)


async def bound_session(
    links: Links,
    user_id: int,
    payload: LinkPayload,
    *,
    bound: list[str] | None,
    named: str | None,
    now: int,
) -> Bound:
    """The one open link session this payload completes, or Rejected with the reason.

    `bound`: the sessions this browser was sent to NOX for (None: no binding in this browser);
    `named`: the session the callback URL names, if the deployment puts one there."""
    sessions = await links.sessions_for(user_id)  # newest first
    if not sessions:
        raise Rejected("unknown_session")
    candidates = sessions
    if named is not None:
        candidates = [s for s in candidates if s.id == named]
    if bound is not None:
        candidates = [s for s in candidates if s.id in bound]
    if not candidates:
        raise Rejected("not_bound")
    fitting = [s for s in candidates if _fits(s, payload)]
    if not fitting:
        raise Rejected("brand_mismatch")
    open_ = [s for s in fitting if s.completed_at is None and s.expires_at > now]
    if not open_:
        raise Rejected("replayed" if fitting[0].completed_at is not None else "expired")
    if len(open_) > 1:
        raise Rejected("ambiguous_session")
    return Bound(open_[0], by_browser=bound is not None or named is not None)


async def complete_callback(
    links: Links, data_api: NoxDataClient, bound: Bound, payload: LinkPayload, now: int
) -> Completed | Held:
    """Verify the payload's devices and complete the session once: linked, or held for an
    operator. Rejected("replayed") when a concurrent request completed it a moment ago."""
    session = bound.session
    confirmed = False
    reason = "data_api_not_configured"
    if data_api.configured:
        try:
            listed = await data_api.devices(session.supplier_user_id)
        except NoxUnavailable:
            reason = "data_api_failed"
        else:
            confirmed_ids = {
                d.device_id for d in listed if d.nox_user_id in (None, payload.nox_user_id)
            }
            if any(d not in confirmed_ids for d in payload.device_ids):
                raise Rejected("device_not_confirmed")
            confirmed = True  # NOX confirmed them: its rule (newest owner wins) applies
    if not confirmed:
        moved_from = await links.holders(payload.device_ids, session.user_id)
        if not bound.by_browser:
            # Anyone can send a signed-in browser to /link/callback with a crafted payload;
            # from a browser we never sent to NOX, unconfirmed devices wait for an operator.
            return await _hold(links, session, payload, "browser_not_bound", moved_from, now)
        if moved_from:
            return await _hold(links, session, payload, reason, moved_from, now)
    try:
        completed = await links.complete(
            session,
            nox_user_id=payload.nox_user_id,
            brand=payload.brand,
            device_ids=payload.device_ids,
            connected_at=payload.connected_at,
            now=now,
            may_move=confirmed,
        )
    except MoveNotConfirmed as race:  # another customer linked a device a moment ago
        return await _hold(links, session, payload, reason, race.moved_from, now)
    if completed is None:
        raise Rejected("replayed")
    return Completed(session, payload.device_ids)


async def _hold(
    links: Links,
    session: LinkSession,
    payload: LinkPayload,
    reason: str,
    moved_from: dict[str, str],
    now: int,
) -> Held:
    held_id = new_secret(12)
    if not await links.hold(
        session,
        held_id=held_id,
        nox_user_id=payload.nox_user_id,
        brand=payload.brand,
        device_ids=payload.device_ids,
        connected_at=payload.connected_at,
        moved_from=moved_from,
        reason=reason,
        now=now,
    ):
        raise Rejected("replayed")
    return Held(session, held_id, reason, moved_from)


# ---- the use case ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallbackRefused:
    """Nothing was linked; `reason` is recorded with the security event and shown as the error
    code. `language`: the customer's link-session language for the page (None: keep as is)."""

    reason: str
    language: str | None = None


@dataclass(frozen=True)
class CallbackDone:
    """The session is complete: its devices linked, or held for an operator (`held`).
    `return_to`: the supplier app's return URL when the API started the session."""

    session: LinkSession
    device_ids: list[str]
    held: bool
    return_to: str | None


@dataclass(frozen=True)
class PendingCallback:
    """A callback that arrived before the customer signed in, kept in their browser."""

    data: str | None
    named: str | None
    at: int

    def as_dict(self) -> dict[str, Any]:
        return {"data": self.data, "named": self.named, "at": self.at}

    @classmethod
    def from_dict(cls, value: Any) -> PendingCallback | None:
        if not isinstance(value, dict) or not isinstance(value.get("at"), int):
            return None
        data, named = value.get("data"), value.get("named")
        return cls(data, named if isinstance(named, str) else None, value["at"])


class LinkCallbacks:
    """Takes NOX's callback: decides, records the security events, returns the decision."""

    def __init__(
        self, links: Links, security: SecurityLog, data_api: NoxDataClient, clock: Clock
    ) -> None:
        self.links = links
        self.security = security
        self.data_api = data_api
        self.clock = clock

    async def park(self, data: str | None, named: str | None, ip: str) -> PendingCallback:
        """Before sign-in: a payload worth keeping until the customer has signed in, or
        Rejected. Anyone can call the callback URL, so such refusals are counted, one row per
        IP and minute, rather than drowning the customers' own in the audit log."""
        try:
            decode_payload(data)
        except BadPayload as exc:
            opened = await self.security.events.count_anonymous(
                kind="link_callback_rejected",
                now=self.clock.now(),
                ip=ip,
                reason=str(exc),
                window=ANONYMOUS_EVENT_WINDOW,
            )
            if opened:
                log.warning("security event link_callback_rejected (anonymous; counted per minute)")
            raise Rejected(str(exc)) from None
        return PendingCallback(data, named, self.clock.now())

    async def resume(
        self, user: User, pending: PendingCallback | None, bound: list[str] | None, ip: str
    ) -> CallbackDone | CallbackRefused:
        """After sign-in: the parked callback, if it is younger than a link session."""
        if pending is None:
            return await self._refuse(user, "no_pending_link", None, None, ip)
        if self.clock.now() - pending.at >= LINK_SESSION_SECONDS:
            return await self._refuse(user, "expired", None, None, ip)
        return await self.complete(user, pending.data, pending.named, bound, ip)

    async def complete(
        self, user: User, data: str | None, named: str | None, bound: list[str] | None, ip: str
    ) -> CallbackDone | CallbackRefused:
        """The signed-in customer's callback: `bound` lists the sessions this browser was sent
        to NOX for (None: never), `named` the session the callback URL names."""
        newest = await self.links.sessions_for(user.id)
        language = newest[0].language if newest else None
        payload: LinkPayload | None = None
        try:
            try:
                payload = decode_payload(data)
            except BadPayload as exc:
                raise Rejected(str(exc)) from None
            if payload.supplier_user_id != user.supplier_user_id:
                raise Rejected("other_customer")
            now = self.clock.now()
            binding = await bound_session(
                self.links, user.id, payload, bound=bound, named=named, now=now
            )
            language = binding.session.language
            decision = await complete_callback(self.links, self.data_api, binding, payload, now)
        except Rejected as rejected:
            metrics().link_sessions.labels("rejected").inc()
            return await self._refuse(user, str(rejected), payload, language, ip)
        session = binding.session
        if isinstance(decision, Held):
            detail = {
                "held_id": decision.held_id,
                "reason": decision.reason,
                "moved_from": decision.moved_from,
                "link_session_id": session.id,
            }
            await self._event("link_move_held", user, detail, ip)
        status = "held" if isinstance(decision, Held) else "linked"
        metrics().link_sessions.labels(status).inc()
        return_to = None
        if session.return_url:  # started through the API: back to the supplier's app
            return_to = add_params_to_uri(
                session.return_url,
                [("status", status), ("supplier_user_id", session.supplier_user_id)],
            )
        return CallbackDone(session, payload.device_ids, status == "held", return_to)

    async def _refuse(
        self,
        user: User,
        reason: str,
        payload: LinkPayload | None,
        language: str | None,
        ip: str,
    ) -> CallbackRefused:
        payload_user = payload.supplier_user_id if payload else None
        detail = {"reason": reason, "payload_supplier_user_id": payload_user}
        await self._event("link_callback_rejected", user, detail, ip)
        return CallbackRefused(reason, language)

    async def _event(self, kind: str, user: User, detail: dict[str, Any], ip: str) -> None:
        await self.security.record(kind, user.supplier_user_id, detail, ip)
