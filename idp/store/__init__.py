"""Async data access behind small repository classes; SQL lives only in this package."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.store.admins import Admins
from idp.store.clients import Clients
from idp.store.db import create_engine
from idp.store.grants import Grants
from idp.store.keys import SigningKeys
from idp.store.links import Links
from idp.store.misc import SecurityEvents, ServiceSettings, Throttles
from idp.store.outbox import Outbox
from idp.store.sessions import AuthSessions, LoginSessions
from idp.store.terms import Terms
from idp.store.users import Users


class Store:
    """Every repository over one engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.users = Users(engine)
        self.clients = Clients(engine)
        self.auth_sessions = AuthSessions(engine)
        self.login_sessions = LoginSessions(engine)
        self.grants = Grants(engine)
        self.terms = Terms(engine)
        self.keys = SigningKeys(engine)
        self.settings = ServiceSettings(engine)
        self.throttles = Throttles(engine)
        self.events = SecurityEvents(engine)
        self.outbox = Outbox(engine)
        self.links = Links(engine)
        self.admins = Admins(engine)

    @classmethod
    def connect(cls, database_url: str) -> Store:
        return cls(create_engine(database_url))

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
