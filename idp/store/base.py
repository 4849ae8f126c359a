"""What every repository shares: the engine (or one shared transaction) and a row helper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

R = TypeVar("R")


@asynccontextmanager
async def _shared(conn: AsyncConnection) -> AsyncIterator[AsyncConnection]:
    yield conn  # the owner of the transaction commits or rolls back


class Repository:
    """Each method opens its own transaction, unless the repository is bound to one
    (`Store.transaction()`), so that several changes commit or roll back together."""

    def __init__(self, engine: AsyncEngine, conn: AsyncConnection | None = None) -> None:
        self.engine = engine
        self.conn = conn

    def begin(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return _shared(self.conn) if self.conn is not None else self.engine.begin()

    def connect(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return _shared(self.conn) if self.conn is not None else self.engine.connect()


def to_record(cls: type[R], row: Row[Any] | None, **extra: Any) -> R | None:
    if row is None:
        return None
    values = dict(row._mapping)
    values.update(extra)
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return cls(**{k: v for k, v in values.items() if k in names})
