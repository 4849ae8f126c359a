"""The database engine: SQLite (WAL) by default, PostgreSQL through asyncpg when configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from idp.metrics import metrics


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
    else:
        engine = create_async_engine(url, pool_pre_ping=True)
    in_use = metrics().db_connections
    event.listen(engine.sync_engine, "checkout", lambda *_: in_use.inc())
    event.listen(engine.sync_engine, "checkin", lambda *_: in_use.dec())
    return engine


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Every SQLite connection's: write-ahead log (readers never wait for the writer), fsync at
    checkpoints only, foreign keys enforced, and 30 s of waiting for the write lock."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
