"""Security events: one audit row each (store.events) and a warning in the log."""

from __future__ import annotations

import logging
from typing import Any

from idp.security.clock import Clock
from idp.security.logs import FIELDS
from idp.store.misc import SecurityEvents

log = logging.getLogger("idp")


class SecurityLog:
    def __init__(self, events: SecurityEvents, clock: Clock) -> None:
        self.events = events
        self.clock = clock

    async def record(
        self,
        kind: str,
        actor: str | None,
        detail: dict[str, Any],
        ip: str | None = None,
        once_within: int | None = None,
    ) -> None:
        """Record (and log) an event; with `once_within` (seconds), at most one row per kind,
        actor and IP in that time (see SecurityEvents.record)."""
        written = await self.events.record(
            kind=kind,
            now=self.clock.now(),
            actor=actor,
            ip=ip,
            detail=detail,
            once_within=once_within,
        )
        if written:
            log.warning(
                "security event %s actor=%s",
                kind,
                actor,
                extra={FIELDS: {"event": kind, "actor": actor}},
            )
