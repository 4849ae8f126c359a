"""What a running app holds, area by area: the OAuth facade, the sign-in use cases, NOX's
use cases, the console's, and the store beneath them. Built before serving (nothing here touches
the database yet), started and closed with the app (app.py)."""

from __future__ import annotations

from dataclasses import dataclass

from idp.admin.actions import AdminActions
from idp.admin.console import ConsoleQueries
from idp.admin.readiness import ReadinessCheck
from idp.admin.signin import AdminSignIn
from idp.config import Settings
from idp.mail import Mailer
from idp.nox.callback import LinkCallbacks
from idp.nox.client import NoxDataClient, NoxLinkClient
from idp.nox.handoff import HandoffDelivery, build_handoff
from idp.nox.link_sessions import LinkSessions
from idp.nox.linked_devices import LinkedDevices
from idp.nox.webhooks import NoxWebhooks
from idp.oauth.facade import OAuth
from idp.oauth.ports import HandoffRow, Ports
from idp.records import Client
from idp.security import passwords
from idp.security.clock import Clock
from idp.security.events import SecurityLog
from idp.security.throttle import RateLimit, SignInThrottle
from idp.signin import SignIn
from idp.store import Store


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    clock: Clock
    events: SecurityLog
    oauth: OAuth
    signin: SignIn
    handoffs: HandoffDelivery
    # Flow 2's use cases; each holds its NOX client (tests swap `.nox` and `.data_api`).
    link_sessions: LinkSessions
    link_callbacks: LinkCallbacks
    linked_devices: LinkedDevices
    nox_webhooks: NoxWebhooks
    # The console's and /readyz's use cases (idp/admin).
    actions: AdminActions
    console: ConsoleQueries
    admin_signin: AdminSignIn
    readiness: ReadinessCheck

    @classmethod
    def build(cls, settings: Settings, clock: Clock) -> Services:
        store = Store.connect(settings.database_url)
        passwords.configure_from(settings)
        events = SecurityLog(store.events, clock)
        handoffs = HandoffDelivery(settings, store.outbox, clock)

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
        oauth = OAuth.build(settings, ports, clock)
        mailer = Mailer(settings)
        signin = SignIn.build(
            settings=settings,
            store=store,
            clock=clock,
            oauth=oauth,
            handoffs=handoffs,
            throttle=SignInThrottle(
                store.throttles, settings.signin_free_failures, settings.signin_ip_free_failures
            ),
            new_sessions=RateLimit(store.throttles, "authorize-ip:", settings.authorize_per_minute),
            events=events,
            mailer=mailer,
        )
        actions = AdminActions(store, clock, settings)
        admin_throttle = SignInThrottle(
            store.throttles,
            settings.signin_free_failures,
            settings.signin_ip_free_failures,
            "admin-",
        )
        return cls(
            settings=settings,
            store=store,
            clock=clock,
            events=events,
            oauth=oauth,
            signin=signin,
            handoffs=handoffs,
            link_sessions=LinkSessions(
                store.links, store.users, store.clients, NoxLinkClient(settings), clock, settings
            ),
            link_callbacks=LinkCallbacks(store.links, events, NoxDataClient(settings), clock),
            linked_devices=LinkedDevices(store.links, store.users, store.device_status, clock),
            nox_webhooks=NoxWebhooks(settings, store.device_status, events, clock),
            actions=actions,
            console=ConsoleQueries(store, settings),
            admin_signin=AdminSignIn(
                store, clock, settings, admin_throttle, actions, events.record, mailer
            ),
            readiness=ReadinessCheck(store, settings),
        )

    async def start(self) -> None:
        """What needs the running loop and the database: the OAuth facade's bridge and keys."""
        await self.oauth.start()

    async def close(self) -> None:
        await self.signin.password_reset.close()
        await self.signin.backchannel.close()
        await self.handoffs.close()
        await self.link_sessions.nox.close()
        await self.link_callbacks.data_api.close()
        await self.store.close()
