"""What a running app holds: settings, store, clock, the OAuth facade and the use cases' helpers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from idp.admin.actions import AdminActions
from idp.config import Settings
from idp.nox.devices import NoxDataClient
from idp.nox.handoff import HandoffDelivery, build_handoff
from idp.nox.links import NoxLinkClient
from idp.oauth.facade import OAuth
from idp.oauth.ports import HandoffRow, Ports
from idp.records import Client
from idp.security import passwords
from idp.security.clock import Clock
from idp.security.throttle import RateLimit, SignInThrottle
from idp.store import Store

log = logging.getLogger("idp")


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    throttle: SignInThrottle
    oauth: OAuth = field(init=False)
    handoffs: HandoffDelivery = field(init=False)
    nox: NoxLinkClient = field(init=False)
    nox_data: NoxDataClient = field(init=False)
    admin_throttle: SignInThrottle = field(init=False)
    authorize_limit: RateLimit = field(init=False)
    actions: AdminActions = field(init=False)

    @classmethod
    def build(cls, settings: Settings, clock: Clock) -> Services:
        """Everything, built before the app serves (nothing here touches the database yet)."""
        store = Store.connect(settings.database_url)
        passwords.configure(settings.password_workers, settings.password_queue)
        throttle = SignInThrottle(
            store.throttles, settings.signin_free_failures, settings.signin_ip_free_failures
        )
        services = cls(settings, store, clock, throttle)
        services.handoffs = HandoffDelivery(settings, store.outbox, clock)
        services.nox = NoxLinkClient(settings)
        services.nox_data = NoxDataClient(settings)
        services.authorize_limit = RateLimit(
            store.throttles, "authorize-ip:", settings.authorize_per_minute
        )
        services.admin_throttle = SignInThrottle(
            store.throttles,
            settings.signin_free_failures,
            settings.signin_ip_free_failures,
            "admin-",
        )
        services.actions = AdminActions(store, clock, settings)

        def handoff_for(
            client: Client, supplier_user_id: str, state: str | None, auth_time: int
        ) -> HandoffRow | None:
            return build_handoff(settings, client, supplier_user_id, state, auth_time)

        # mypy checks here that the store's repositories satisfy the protocol's ports.
        ports = Ports(
            clients=store.clients,
            users=store.users,
            grants=store.grants,
            keys=store.keys,
            events=store.events,
            handoff_for=handoff_for,
        )
        services.oauth = OAuth.build(settings, ports, clock)
        return services

    async def start(self) -> None:
        """What needs the running loop and the database: the OAuth facade's bridge and keys."""
        await self.oauth.start()

    async def security_event(
        self,
        kind: str,
        actor: str | None,
        detail: dict[str, Any],
        ip: str | None = None,
        once_within: int | None = None,
    ) -> None:
        """Record (and log) a security event; see SecurityEvents.record for `once_within`."""
        written = await self.store.events.record(
            kind=kind,
            now=self.clock.now(),
            actor=actor,
            ip=ip,
            detail=detail,
            once_within=once_within,
        )
        if written:
            log.warning("security event %s actor=%s", kind, actor)

    async def close(self) -> None:
        await self.handoffs.close()
        await self.nox.close()
        await self.nox_data.close()
        await self.store.close()
