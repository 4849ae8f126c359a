"""Async data access behind small repository classes; SQL lives only in this package."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from idp.store.admin_enrolments import AdminEnrolments
from idp.store.admins import Admins
from idp.store.clients import Clients
from idp.store.customer_data import CustomerData
from idp.store.db import create_engine
from idp.store.device_status import DeviceStatuses
from idp.store.grants import Grants
from idp.store.keys import SigningKeys
from idp.store.links import Links
from idp.store.misc import SecurityEvents, ServiceSettings, Throttles
from idp.store.outbox import Outbox
from idp.store.password_resets import PasswordResets
from idp.store.retention import Retention
from idp.store.sessions import AuthSessions, LoginSessions
from idp.store.terms import Terms
from idp.store.units import Units
from idp.store.users import Users


class Store:
    """Every repository over one engine."""

    def __init__(
        self, engine: AsyncEngine, conn: AsyncConnection | None = None, units: Units | None = None
    ) -> None:
        self.engine = engine
        self.units = units if units is not None else Units(engine)
        self.users = Users(engine, conn, self.units)
        self.clients = Clients(engine, conn, self.units)
        self.auth_sessions = AuthSessions(engine, conn, self.units)
        self.login_sessions = LoginSessions(engine, conn, self.units)
        self.password_resets = PasswordResets(engine, conn, self.units)
        self.grants = Grants(engine, conn, self.units)
        self.terms = Terms(engine, conn, self.units)
        self.keys = SigningKeys(engine, conn, self.units)
        self.settings = ServiceSettings(engine, conn, self.units)
        self.throttles = Throttles(engine, conn, self.units)
        self.events = SecurityEvents(engine, conn, self.units)
        self.outbox = Outbox(engine, conn, self.units)
        self.links = Links(engine, conn, self.units)
        self.admins = Admins(engine, conn, self.units)
        self.admin_enrolments = AdminEnrolments(engine, conn, self.units)
        self.retention = Retention(engine, conn, self.units)
        self.customer_data = CustomerData(engine, conn, self.units)
        self.device_status = DeviceStatuses(engine, conn, self.units)

    @classmethod
    def connect(cls, database_url: str) -> Store:
        return cls(create_engine(database_url))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Store]:
        """Every repository on one transaction: all its changes commit together, or none."""
        async with self.engine.begin() as conn:
            yield Store(self.engine, conn, self.units)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.units.close()  # the units queued so far are committed first
        await self.engine.dispose()
