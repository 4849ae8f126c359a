"""What a running app holds: settings, store, clock, the protocol server and the signing keys."""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from idp.admin.actions import AdminActions
from idp.admin.console import ConsoleQueries
from idp.admin.readiness import ReadinessCheck
from idp.admin.signin import AdminSignIn
from idp.config import Settings
from idp.nox.callback import LinkCallbacks
from idp.nox.client import NoxDataClient, NoxLinkClient
from idp.nox.handoff import HandoffDelivery, build_handoff
from idp.nox.link_sessions import LinkSessions
from idp.nox.linked_devices import LinkedDevices
from idp.oauth.bridge import LoopBridge
from idp.oauth.facade import OAuth
from idp.oauth.keys import KeyRing, generate_key
from idp.oauth.server import Server
from idp.security import passwords
from idp.security.clock import Clock
from idp.security.events import SecurityLog
from idp.security.throttle import RateLimit, SignInThrottle
from idp.signin import SignIn
from idp.store import Store

log = logging.getLogger("idp")
KEY_REFRESH_SECONDS = 60


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    throttle: SignInThrottle
    server: Server = field(init=False)
    oauth: OAuth = field(init=False)
    events: SecurityLog = field(init=False)
    signin: SignIn = field(init=False)
    bridge: LoopBridge = field(default_factory=LoopBridge, init=False)
    handoffs: HandoffDelivery = field(init=False)
    # Flow 2's use cases; each holds its NOX client (tests swap `.nox` and `.data_api`).
    link_sessions: LinkSessions = field(init=False)
    link_callbacks: LinkCallbacks = field(init=False)
    linked_devices: LinkedDevices = field(init=False)
    admin_throttle: SignInThrottle = field(init=False)
    authorize_limit: RateLimit = field(init=False)
    actions: AdminActions = field(init=False)
    # The admin console's and /readyz's use cases (idp/admin), built from the above.
    console: ConsoleQueries = field(init=False)
    admin_signin: AdminSignIn = field(init=False)
    readiness: ReadinessCheck = field(init=False)
    _keyring: KeyRing | None = field(default=None, init=False)
    _keys_loaded_at: int = field(default=-(10**9), init=False)

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
        services.link_sessions = LinkSessions(
            store.links, store.users, store.clients, NoxLinkClient(settings), clock, settings
        )
        services.link_callbacks = LinkCallbacks(
            store.links, store.events, NoxDataClient(settings), clock
        )
        services.linked_devices = LinkedDevices(store.links, store.users, clock)
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
        services.console = ConsoleQueries(store, settings)
        services.admin_signin = AdminSignIn(
            store,
            clock,
            settings,
            services.admin_throttle,
            services.actions,
            services.security_event,
        )
        services.readiness = ReadinessCheck(store, settings)
        services.server = Server(
            settings=settings,
            store=store,
            run=services.bridge,
            clock=clock,
            keyring=services.keyring,
            on_security_event=services._security_event_from_thread,
            handoff_for=functools.partial(build_handoff, settings),
        )
        services.oauth = OAuth(services.server, settings.url("/authorize"), services.refresh_keys)
        services.events = SecurityLog(store.events, clock)
        services.signin = SignIn.build(
            settings=settings,
            store=store,
            clock=clock,
            oauth=services.oauth,
            handoffs=services.handoffs,
            throttle=throttle,
            new_sessions=services.authorize_limit,
            events=services.events,
        )
        return services

    async def start(self) -> None:
        """What needs the running loop and the database: the thread bridge and the keys."""
        self.bridge.bind(asyncio.get_running_loop())
        await self.refresh_keys(force=True)

    def keyring(self) -> KeyRing:
        assert self._keyring is not None
        return self._keyring

    async def refresh_keys(self, force: bool = False) -> KeyRing:
        """Reload the published keys now and then, so a rotation by `idp keys rotate` in another
        process is picked up; create the first key when there is none."""
        now = self.clock.now()
        if not force and self._keyring and now - self._keys_loaded_at < KEY_REFRESH_SECONDS:
            return self._keyring
        records = await self.store.keys.published(now - self.settings.id_token_seconds)
        if not records:
            kid, jwk = generate_key("RS256")
            await self.store.keys.add_current(kid=kid, alg="RS256", private_jwk=jwk, now=now)
            records = await self.store.keys.published(now - self.settings.id_token_seconds)
        self._keyring = KeyRing.from_records(records)
        self._keys_loaded_at = now
        return self._keyring

    async def security_event(
        self,
        kind: str,
        actor: str | None,
        detail: dict[str, Any],
        ip: str | None = None,
        once_within: int | None = None,
    ) -> None:
        """Record (and log) a security event; see SecurityEvents.record for `once_within`."""
        await self.events.record(kind, actor, detail, ip, once_within)

    def _security_event_from_thread(
        self, kind: str, actor: str | None, detail: dict[str, Any]
    ) -> None:
        self.server.run(self.security_event(kind, actor, detail))

    async def close(self) -> None:
        await self.handoffs.close()
        await self.link_sessions.nox.close()
        await self.link_callbacks.data_api.close()
        await self.store.close()
