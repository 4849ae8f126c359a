"""Units of work: a synchronous function over one connection, run in one transaction.

The token endpoint's storage is written this way (grants.py), so that it costs a request one
hand-off, not one per query; so are the sign-in throttles (misc.py) and every single-statement
write through `Repository.write` (the sign-in steps' session rows), which then never hold
SQLite's write lock against the writer thread from another connection:
- on SQLite, every unit goes to the process's one writer thread. It takes all the units waiting,
  runs them in one transaction, commits once (group commit) and only then hands the results
  back to the event loop, in one call per batch. A unit may run twice (see `commit`): it reads
  and writes only through its connection;
- on PostgreSQL, a unit runs on an async connection through SQLAlchemy's greenlet bridge
  (`AsyncConnection.run_sync`): asyncpg underneath, no thread at all;
- inside `Store.transaction()` it runs on that transaction's connection, committing with it.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from idp.store.db import sqlite_pragmas

log = logging.getLogger(__name__)
T = TypeVar("T")
Unit = Callable[[Connection], T]
# Units in one transaction at most: bounds how long the writer holds SQLite's write lock.
MAX_BATCH = 64
# Waiting for a write lock that a connection outside the writers holds (the sign-in pages'):
# as long as SQLite's busy_timeout elsewhere, looking again every half millisecond.
LOCK_WAIT_SECONDS = 30.0
LOCK_POLL_SECONDS = 0.0005
# Checkpoints (Checkpointer): at most one this often; the writers' lock taken for the next one
# once the log is longer than this many pages (SQLite checkpoints at 1000 by default).
CHECKPOINT_SECONDS = 0.05
BIG_LOG_FRAMES = 4000

_Job = tuple[Callable[[Connection], Any], "asyncio.Future[Any]"]
_Outcome = tuple[bool, Any]  # (True, result) or (False, the exception it raised)


class Units:
    """Runs units of work on `engine`'s database (see the module's docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        url = engine.url
        on_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
        self.writer = SqliteWriter(Path(str(url.database))) if on_file else None
        self._closed = False
        self._running = 0  # units on the async engine, which closing waits for
        self._idle = asyncio.Event()
        self._idle.set()

    async def run(self, unit: Unit[T], conn: AsyncConnection | None = None) -> T:
        """`unit`'s result once its transaction has committed; its exception when it raised
        (its changes rolled back)."""
        if self._closed:
            raise RuntimeError("the store is closed")
        if conn is not None:
            return await conn.run_sync(unit)
        if self.writer is not None:
            return await self.writer.run(unit)
        self._running += 1
        self._idle.clear()
        try:
            async with self.engine.begin() as own:
                return await own.run_sync(unit)
        finally:
            self._running -= 1
            if not self._running:
                self._idle.set()

    async def close(self) -> None:
        """Refuse new units and let every unit already under way commit."""
        self._closed = True
        if self.writer is not None:
            await self.writer.close()
        await self._idle.wait()


class SqliteWriter:
    """One thread with one synchronous SQLite connection, committing units in batches. Started
    by the first unit (so in the worker process that runs it, after any fork); closing it runs
    every unit queued before, so none is lost on shutdown.

    The writers of several worker processes take turns through an advisory lock on a file next
    to the database (flock): the kernel wakes the next one as soon as the lock is free, where
    SQLite's own busy handler would sleep in steps of up to 100 ms and make the p99."""

    def __init__(self, path: Path) -> None:
        self.engine = sync_sqlite_engine(path)
        self.lock_path = path.with_name(path.name + ".writer-lock")
        self.checkpointer = Checkpointer(path, self.lock_path)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()
        self._closed = False
        self._running = 0  # units on the async engine, which closing waits for
        self._idle = asyncio.Event()
        self._idle.set()

    async def run(self, unit: Unit[T]) -> T:
        if self._closed:
            raise RuntimeError("the store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._start()
        self._queue.put((unit, future))
        return await future

    async def close(self) -> None:
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(thread.join)
        await asyncio.to_thread(self.checkpointer.close)
        self.engine.dispose()

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._started:
            if self._thread is None:
                thread = threading.Thread(target=self._serve, name="idp-sqlite-writer", daemon=True)
                thread.start()
                self._thread = thread

    def _serve(self) -> None:
        with self.lock_path.open("a") as lock, self.engine.connect() as conn:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    # What queued up while the other processes wrote goes in this batch too.
                    batch, stopping = self._take(first)
                    outcomes = commit(conn, [unit for unit, _ in batch])
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
                deliver(batch, outcomes)
                self.checkpointer.wanted()
                if stopping:
                    return

    def _take(self, first: _Job) -> tuple[list[_Job], bool]:
        """`first` and what else is queued, up to MAX_BATCH; True when the queue's end came."""
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False


class Checkpointer:
    """Copies the write-ahead log into the database file from a thread of its own, so that the
    writer's commits never do it. By default SQLite checkpoints inside the commit that takes the
    log past 1000 pages, syncing both files, while that writer holds the lock every worker's
    writer waits for: on token load with 2 workers, 5 alternating rounds, median 2778 requests
    a second with that, 3362 with this thread.

    After each batch the writer asks for a checkpoint; this thread runs one PASSIVE checkpoint
    (it waits for no reader or writer, and none waits for it) at most every CHECKPOINT_SECONDS.
    A passive checkpoint cannot catch up with writers that never pause, so when the log has
    grown past BIG_LOG_FRAMES it takes the writers' lock for the next one: the log is then
    copied whole, and the next writer starts it again from the beginning."""

    def __init__(self, path: Path, lock_path: Path) -> None:
        self.path, self.lock_path = path, lock_path
        self._wanted = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()
        self.log_frames = 0  # the log's length at the last checkpoint, in pages

    def wanted(self) -> None:
        if self._thread is None:
            with self._started:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._serve, name="idp-sqlite-checkpointer", daemon=True
                    )
                    self._thread.start()
        self._wanted.set()

    def close(self) -> None:
        self._stopping = True
        self._wanted.set()
        if self._thread is not None:
            self._thread.join()

    def _serve(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            with self.lock_path.open("a") as lock:
                while True:
                    self._wanted.wait()
                    if self._stopping:
                        return
                    self._wanted.clear()
                    if self.log_frames > BIG_LOG_FRAMES:
                        fcntl.flock(lock, fcntl.LOCK_EX)
                        try:
                            self._checkpoint(conn)
                        finally:
                            fcntl.flock(lock, fcntl.LOCK_UN)
                    else:
                        self._checkpoint(conn)
                    time.sleep(CHECKPOINT_SECONDS)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            _busy, frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            log.exception("checkpoint of %s failed", self.path)
            return
        self.log_frames = max(int(frames), 0)


def commit(conn: Connection, units: list[Unit[Any]]) -> list[_Outcome]:
    """Run `units` in one transaction and commit. When one raises, that transaction is rolled
    back and each unit runs again in a transaction of its own, so a unit that raises loses only
    its own changes (savepoints would cost every unit two more statements for a case this rare).
    When a transaction itself fails, its units get that error: nothing of theirs was stored."""
    try:
        with conn.begin():
            results = [unit(conn) for unit in units]
    except Exception as error:
        if len(units) == 1:
            return [(False, error)]
        return [outcome for unit in units for outcome in commit(conn, [unit])]
    return [(True, result) for result in results]


def deliver(batch: list[_Job], outcomes: list[_Outcome]) -> None:
    """Hand the outcomes to the futures' event loops: one call per loop and batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], _Outcome]]] = {}
    for (_, future), outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(future.get_loop(), []).append((future, outcome))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(settle, settled)
        except RuntimeError:  # that loop has closed; nobody waits for these any more
            pass


def settle(settled: list[tuple[asyncio.Future[Any], _Outcome]]) -> None:
    for future, (ok, value) in settled:
        if future.done():  # the request was cancelled meanwhile
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def sync_sqlite_engine(path: Path) -> Engine:
    """A synchronous engine on the same file, with the same pragmas, whose transactions begin
    IMMEDIATE (taking the write lock at once, so a unit never fails half-way on a busy
    database). pysqlite's own transaction handling is off, so that BEGIN is ours."""
    engine = create_engine(make_url(f"sqlite:///{path}"), poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        sqlite_pragmas(dbapi_connection, None)
        dbapi_connection.isolation_level = None
        # Waiting for the lock is `begin_immediate`'s: SQLite's own busy handler sleeps in
        # steps that grow to 100 ms, which a writer of the sign-in pages' short transactions
        # would turn into the token endpoint's p99.
        dbapi_connection.execute("PRAGMA busy_timeout=0")
        # Its commits leave copying the log into the database to the Checkpointer.
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        begin_immediate(conn)

    return engine


def begin_immediate(conn: Connection) -> None:
    """BEGIN IMMEDIATE, trying again every LOCK_POLL_SECONDS while another connection holds
    the write lock, for at most LOCK_WAIT_SECONDS (then the error stands, as SQLite's would)."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(LOCK_POLL_SECONDS)


class Prepared:
    """A Core statement compiled once per dialect and run on its connection's DB-API cursor,
    inside the unit's transaction. For the statements every token runs: SQLAlchemy's execution
    path (execution context, result object, events) cost more than SQLite's own work. Measured
    on token load with 2 workers, 5 alternating rounds: the three statements of a token run
    this way took the endpoint's median from 3710 to 4666 requests a second.

    Only for statements whose parameters need no conversion by SQLAlchemy (integers, strings,
    None): compiling one that does raises TypeError."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, str], tuple[str, tuple[str, ...], bool]] = {}

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The DB-API cursor, executed; the caller closes it (or lets it go)."""
        sql, names, positional = self._compile(conn.dialect)
        cursor = conn.connection.cursor()
        if positional:
            cursor.execute(sql, tuple(params[name] for name in names))
        else:
            cursor.execute(sql, {name: params[name] for name in names})
        return cursor

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None when there is none."""
        cursor = self.execute(conn, params)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else row[0]

    def run(self, conn: Connection, params: Mapping[str, Any]) -> None:
        self.execute(conn, params).close()

    def _compile(self, dialect: Dialect) -> tuple[str, tuple[str, ...], bool]:
        key = (dialect.name, dialect.driver)
        found = self._compiled.get(key)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            assert isinstance(compiled, SQLCompiler)
            for bind in compiled.binds.values():
                if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                    raise TypeError(f"{bind.key} needs converting; run this statement with Core")
            names = (
                tuple(compiled.positiontup or ()) if dialect.positional else tuple(compiled.params)
            )
            found = (compiled.string, names, dialect.positional)
            self._compiled[key] = found
        return found
