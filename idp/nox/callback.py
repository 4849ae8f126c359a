"""Flow 2's callback: NOX's unsigned `?data=` payload is bound to the exact link session this
browser was sent to NOX for, verified, and completes that session once (NOX-CONTRACT, flow 2).

- Binding: the browser's signed cookie lists the link sessions it was sent to NOX for (one per
  asset type); optionally the callback URL names the session (IDP_LINK_CALLBACK_SESSION_PARAM).
  A browser without that cookie (the customer finished on another device and signed in there)
  may complete only the customer's one open session that fits the payload.
- The payload's brand must fit the session: the maker chosen when one was, else a maker NOX
  offers for the session's asset type.
- Devices: with NOX's data API configured, every device must be listed by NOX for this
  customer; without it (or when it fails), a move away from another customer, and anything a
  browser without the binding brings, is held for an operator, never made silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from idp.nox.devices import NoxDataClient
from idp.nox.links import LinkPayload, NoxUnavailable, brand_fits
from idp.records import LinkSession
from idp.security.secrets import new_secret
from idp.store.links import Links, MoveNotConfirmed


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
