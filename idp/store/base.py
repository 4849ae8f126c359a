"""What every repository shares: the engine and a row-to-record helper."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

R = TypeVar("R")


class Repository:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine


def to_record(cls: type[R], row: Row[Any] | None, **extra: Any) -> R | None:
    if row is None:
        return None
    values = dict(row._mapping)
    values.update(extra)
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return cls(**{k: v for k, v in values.items() if k in names})
