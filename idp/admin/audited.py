"""What every admin action shares: its dependencies, its audit row, and its one transaction."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from idp.admin.actor import Actor
from idp.config import Settings
from idp.security.clock import Clock
from idp.store import Store

A = TypeVar("A", bound=Callable[..., Awaitable[Any]])


class AuditedActions:
    """Changes that leave an audit row (kind, actor, IP, what changed) naming who made them."""

    def __init__(self, store: Store, clock: Clock, settings: Settings) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings

    async def audit(self, kind: str, actor: Actor, **detail: Any) -> None:
        await self.store.events.record(
            kind=kind, now=self.clock.now(), actor=actor.name, ip=actor.ip, detail=detail
        )


def transactional(action: A) -> A:
    """Run an action on one transaction: its change and its audit row commit together, and a
    refused action (ActionError) leaves nothing behind."""

    @functools.wraps(action)
    async def run(self: AuditedActions, *args: Any, **kwargs: Any) -> Any:
        async with self.store.transaction() as store:
            bound = type(self)(store, self.clock, self.settings)
            return await action(bound, *args, **kwargs)

    return run  # type: ignore[return-value]
