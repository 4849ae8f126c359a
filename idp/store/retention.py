"""Deleting what has outlived its use, in bounded batches (the retention job, idp/retention.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, and_, delete, func, or_, select, update

from idp.store.base import Repository
from idp.store.tables import (
    admin_enrolments,
    admin_sessions,
    auth_sessions,
    authorization_codes,
    handoffs,
    link_sessions,
    login_sessions,
    nox_webhook_receipts,
    password_resets,
    security_events,
    terms_acceptances,
    throttles,
    token_families,
    tokens,
)
from idp.vocab import HANDOFF_PENDING


@dataclass(frozen=True)
class Cutoffs:
    """Unix seconds: rows that ended before these are deleted."""

    protocol: int  # auth sessions, codes, tokens, link sessions (by their expiry)
    signin: int  # sign-in sessions (by their expiry; the console lists recent sign-ins)
    admin_session: int  # admin sessions (by their last use)
    throttle: int  # throttles (by their last failure)
    handoff: int  # finished hand-offs (by when they finished)
    event: int  # security events and the audit log (by when they happened)
    network: int = 0  # IPs and browsers kept with acceptances and events (by when recorded)


def _expired(c: Cutoffs) -> list[tuple[Table, ColumnElement[bool]]]:
    """Each table, and which of its rows are past keeping."""
    return [
        (auth_sessions, auth_sessions.c.expires_at < c.protocol),
        (authorization_codes, authorization_codes.c.expires_at < c.protocol),
        (
            tokens,
            and_(
                tokens.c.expires_at < c.protocol,
                or_(
                    tokens.c.refresh_expires_at.is_(None), tokens.c.refresh_expires_at < c.protocol
                ),
            ),
        ),
        (
            # A family outlives its tokens only as a record: gone once its last token is.
            token_families,
            and_(
                token_families.c.last_issued_at < c.protocol,
                ~select(tokens.c.id).where(tokens.c.family_id == token_families.c.id).exists(),
            ),
        ),
        (link_sessions, link_sessions.c.expires_at < c.protocol),
        (login_sessions, login_sessions.c.expires_at < c.signin),
        (password_resets, password_resets.c.expires_at < c.protocol),
        # A webhook older than the timestamp tolerance is refused anyway: a day is plenty.
        (nox_webhook_receipts, nox_webhook_receipts.c.received_at < c.protocol),
        # An admin's enrolment link once used, replaced or revoked (an unused one stays, so the
        # console can show the invitation as expired until an owner acts).
        (admin_enrolments, admin_enrolments.c.used_at < c.protocol),
        (admin_sessions, admin_sessions.c.last_seen_at < c.admin_session),
        (throttles, throttles.c.last_failure_at < c.throttle),
        (
            handoffs,
            and_(handoffs.c.status != HANDOFF_PENDING, handoffs.c.finished_at < c.handoff),
        ),
        (security_events, security_events.c.at < c.event),
    ]


class Retention(Repository):
    async def purge(self, cutoffs: Cutoffs, batch: int, max_batches: int) -> dict[str, int]:
        """Delete expired rows, at most `batch` per statement (each its own short transaction)
        and `max_batches` per table, so one run never holds a lock for long. Returns how many
        rows each table lost; a table that still has more is finished by the next run."""
        deleted: dict[str, int] = {}
        for table, condition in _expired(cutoffs):
            [key] = table.primary_key.columns
            total = 0
            for _ in range(max_batches):
                chosen = select(key).where(condition).limit(batch).scalar_subquery()
                async with self.begin() as conn:
                    result = await conn.execute(delete(table).where(key.in_(chosen)))
                total += result.rowcount
                if result.rowcount < batch:
                    break
            deleted[table.name] = total
        return deleted

    async def forget_networks(self, cutoff: int) -> int:
        """Forget the IP addresses and browsers recorded before `cutoff` with terms
        acceptances and security events; the rows stay. How many rows were changed."""
        changed = 0
        async with self.begin() as conn:
            for table, when, columns in (
                (terms_acceptances, terms_acceptances.c.accepted_at, ("ip", "user_agent")),
                (security_events, security_events.c.at, ("ip",)),
            ):
                recorded = or_(*(table.c[name].is_not(None) for name in columns))
                result = await conn.execute(
                    update(table).where(when < cutoff, recorded).values(dict.fromkeys(columns))
                )
                changed += result.rowcount
        return changed

    async def counts(self) -> dict[str, int]:
        """Rows per table the retention job looks after (for `idp purge` and the tests)."""
        out: dict[str, int] = {}
        async with self.connect() as conn:
            for table, _ in _expired(Cutoffs(0, 0, 0, 0, 0, 0)):
                out[table.name] = int(
                    await conn.scalar(select(func.count()).select_from(table)) or 0
                )
        return out
