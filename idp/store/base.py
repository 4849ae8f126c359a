"""What every repository shares: the engine (or one shared transaction) and a row helper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from idp.store.units import Units

R = TypeVar("R")


@asynccontextmanager
async def _shared(conn: AsyncConnection) -> AsyncIterator[AsyncConnection]:
    yield conn  # the owner of the transaction commits or rolls back


class Repository:
    """Each method opens its own transaction, unless the repository is bound to one
    (`Store.transaction()`), so that several changes commit or roll back together."""

    def __init__(self, engine: AsyncEngine, conn: AsyncConnection | None, units: Units) -> None:
        self.engine = engine
        self.conn = conn
        self.units = units

    def begin(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return _shared(self.conn) if self.conn is not None else self.engine.begin()

    def connect(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return _shared(self.conn) if self.conn is not None else self.engine.connect()

    async def write(self, statement: Executable) -> int:
        """Run one writing statement in a transaction of its own (or the bound one) as a unit of
        work (on SQLite, one hand-off to the writer thread, never contending with it for the
        write lock); its row count."""

        def unit(conn: Connection) -> int:
            return conn.execute(statement).rowcount

        return await self.units.run(unit, self.conn)


def to_record(cls: type[R], row: Row[Any] | None, **extra: Any) -> R | None:
    if row is None:
        return None
    values = dict(row._mapping)
    values.update(extra)
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return cls(**{k: v for k, v in values.items() if k in names})
