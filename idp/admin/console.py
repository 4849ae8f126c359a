"""What the console pages and the `idp` listings read: clients, customers, terms, the outbox,
held links, the audit log, admins, the settings overview. Read-only; changes go through
AdminActions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idp.admin.audit_lines import audit_line
from idp.admin.charts import Hourly, hourly, window_start
from idp.admin.clients import nox_post_login_url
from idp.admin.readiness import Readiness, ReadinessCheck
from idp.config import Settings
from idp.i18n import gettext as _
from idp.nox.readiness import configuration_warnings
from idp.records import Admin, Client, Device, Handoff, HeldLink, TermsVersion, User
from idp.store import Store
from idp.vocab import HANDOFF_DELIVERED, HANDOFF_EXPIRED, HANDOFF_FAILED, HANDOFF_PENDING

CUSTOMERS_PER_PAGE = 50
AUDIT_ROWS = 500  # the most the audit page shows at once; filters narrow it down


@dataclass(frozen=True)
class Overview:
    """The console's front page: how many of each, the terms customers accept now, sign-ins
    and hand-offs per hour over the last 24 hours, and whether NOX can be served (readiness:
    the NOX calls themselves are counted only in the process's metrics, nothing is stored)."""

    clients: int
    customers: int
    pending: int
    failed: int
    terms: str | None
    signins: Hourly
    handoffs: Hourly
    readiness: Readiness


@dataclass(frozen=True)
class Terms:
    """Every uploaded text (with its acceptances) and the version customers accept now."""

    versions: list[dict[str, object]]
    current: str | None

    @property
    def published(self) -> list[str]:
        """Published versions, newest first (one entry per version)."""
        return list(dict.fromkeys(str(v["version"]) for v in self.versions if v["published_at"]))

    @property
    def unaccepted(self) -> list[str]:
        """Published versions no customer accepted in any language: these may be taken back."""
        accepted = {v["version"] for v in self.versions if v["acceptances"]}
        return [v for v in self.published if v not in accepted]


@dataclass(frozen=True)
class CustomerRecord:
    """One customer as an operator sees them: devices, their history, terms accepted, recent
    sign-ins, and their sign-in throttle (failures, last failure) if any."""

    user: User
    devices: list[Device]
    history: list[dict[str, Any]]
    acceptances: list[dict[str, object]]
    signins: list[dict[str, object]]
    throttled: tuple[int, int] | None


@dataclass(frozen=True)
class CustomerPage:
    """Customers newest first; `newer`/`older`: the ids to page on from (None: no such page)."""

    customers: list[User]
    newer: int | None
    older: int | None


@dataclass(frozen=True)
class UndeliveredHandoffs:
    pending: list[Handoff]
    failed: list[Handoff]
    expired: list[Handoff]


def masked(value: str | None) -> str:
    """A secret as the console may show it: its first four characters and its length."""
    if not value:
        return _("(not set)")
    return value[:4] + "…" + " " + _("(%(count)s characters)") % {"count": len(value)}


def settings_overview(s: Settings) -> list[tuple[str, str]]:
    """The settings an operator checks first, secrets masked; the labels in the reader's
    language."""
    return [
        (_("Issuer"), s.issuer),
        (_("NOX auth API (IDP_NOX_AUTH_BASE)"), s.nox_auth_base),
        (_("NOX API key (IDP_NOX_API_KEY)"), masked(s.nox_api_key)),
        (_("Metrics token (IDP_METRICS_TOKEN)"), masked(s.metrics_token)),
        (_("Link callback URL (IDP_LINK_CALLBACK_URL)"), s.link_callback_url),
        (_("Hand-off timeout"), f"{s.handoff_timeout_seconds} s"),
        (_("Hand-off maximum age"), f"{s.handoff_max_age_seconds} s"),
        (_("Authentication session"), f"{s.auth_session_seconds} s"),
        (_("Admin idle timeout"), f"{s.admin_idle_seconds} s"),
        (_("Admin session lifetime"), f"{s.admin_session_seconds} s"),
    ]


class ConsoleQueries:
    """Read-only views of the store for the console and the command line."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    async def configuration_warnings(self) -> list[str]:
        """What keeps NOX from getting what it needs, shown on every console page."""
        return await configuration_warnings(self.settings, self.store)

    def nox_post_login_url(self) -> str:
        return nox_post_login_url(self.settings)

    def settings_overview(self) -> list[tuple[str, str]]:
        return settings_overview(self.settings)

    async def overview(self, now: int) -> Overview:
        since = window_start(now)
        finished = await self.store.outbox.finished_since(since)
        return Overview(
            clients=len(await self.store.clients.all()),
            customers=await self.store.users.count(),
            pending=await self.store.outbox.count(HANDOFF_PENDING),
            failed=await self.store.outbox.count(HANDOFF_FAILED),
            terms=await self.store.terms.current_version(),
            signins=hourly(now, signins=await self.store.login_sessions.auth_times(since)),
            handoffs=hourly(
                now,
                delivered=[at for at, status in finished if status == HANDOFF_DELIVERED],
                failed=[at for at, status in finished if status == HANDOFF_FAILED],
            ),
            readiness=await ReadinessCheck(self.store, self.settings).check(),
        )

    # ---- clients ---------------------------------------------------------------------------
    async def clients(self) -> list[Client]:
        return await self.store.clients.all()

    async def client(self, client_id: str) -> Client | None:
        return await self.store.clients.get(client_id)

    # ---- terms -----------------------------------------------------------------------------
    async def terms(self) -> Terms:
        return Terms(
            versions=await self.store.terms.versions(),
            current=await self.store.terms.current_version(),
        )

    async def terms_text(self, version: str, language: str) -> TermsVersion | None:
        """One text, drafts included: an admin previews before publishing."""
        return await self.store.terms.text(version, [language], drafts=True)

    # ---- customers -------------------------------------------------------------------------
    async def search_customers(self, query: str) -> list[User]:
        return await self.store.users.search(query) if query else []

    async def customers_page(
        self,
        before: int | None = None,
        after: int | None = None,
        per_page: int = CUSTOMERS_PER_PAGE,
    ) -> CustomerPage:
        """A page of customers, newest first: older than id `before`, newer than id `after`."""
        found, newer, older = await self.store.users.newest(per_page, before=before, after=after)
        return CustomerPage(
            customers=found,
            newer=found[0].id if found and newer else None,
            older=found[-1].id if found and older else None,
        )

    async def customer_by_supplier_user_id(self, supplier_user_id: str) -> User | None:
        return await self.store.users.by_supplier_user_id(supplier_user_id)

    async def customer(self, user_id: int) -> CustomerRecord | None:
        user = await self.store.users.by_id(user_id)
        if user is None:
            return None
        key = f"account:{user.email}"  # the sign-in throttle's key (idp/security/throttle.py)
        throttles = await self.store.throttles.get([key])
        return CustomerRecord(
            user=user,
            devices=await self.store.links.devices_of(user.id),
            history=await self.store.links.history(supplier_user_id=user.supplier_user_id),
            acceptances=await self.store.terms.acceptances_of(user.id),
            signins=await self.store.login_sessions.for_user(user.id),
            throttled=throttles.get(key),
        )

    # ---- outbox, devices, held links ---------------------------------------------------------
    async def handoffs(self, status: str | None = None) -> list[Handoff]:
        """Hand-offs, newest first, with NOX's last answer."""
        return await self.store.outbox.list(status)

    async def undelivered_handoffs(self) -> UndeliveredHandoffs:
        return UndeliveredHandoffs(
            pending=await self.store.outbox.list(HANDOFF_PENDING),
            failed=await self.store.outbox.list(HANDOFF_FAILED),
            expired=await self.store.outbox.list(HANDOFF_EXPIRED),
        )

    async def devices(self) -> list[Device]:
        return await self.store.links.all_devices()

    async def held_links(self) -> list[HeldLink]:
        return await self.store.links.held()

    # ---- audit log and admins ----------------------------------------------------------------
    async def audit_log(
        self,
        kind: str | None = None,
        actor: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[dict[str, Any]]:
        """Audit rows newest first, each with its readable `line`; `kind` matches a prefix,
        `since`/`until` are Unix seconds."""
        rows = await self.store.events.recent(
            kind=kind, actor=actor, since=since, until=until, limit=AUDIT_ROWS
        )
        return [{**row, "line": audit_line(row["kind"], row["detail"])} for row in rows]

    async def admins(self) -> list[Admin]:
        return await self.store.admins.all()
