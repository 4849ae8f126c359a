"""Password hashing with libpass: argon2id for new hashes, legacy formats accepted and upgraded.

Hashing is CPU- and memory-bound, so it runs on a pool of its own, never on the event loop nor
on the default executor (which the token endpoint uses). The pool has one thread per core, each
at a lower scheduling priority, so sign-ins take the CPU the other requests leave. It is
bounded: when its threads and queue are full, `PasswordPoolFull` is raised at once (the web
layer answers 503 with Retry-After) rather than queueing a burst in memory.

New hashes use the configured argon2id parameters (OWASP's recommendation by default); a hash
made with other parameters, or in a legacy format, is re-hashed at its next successful check.
Every check costs one argon2 verification, whatever is stored (an argon2 hash, a legacy hash,
nothing at all for an unknown email), so the time an answer takes does not tell which it was.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from passlib.context import CryptContext

from idp.config import Settings, usable_cores
from idp.metrics import metrics

# Every format a supplier may bring in an import; all but argon2 are re-hashed at next sign-in.
LEGACY_SCHEMES = [
    "bcrypt",
    "pbkdf2_sha256",
    "pbkdf2_sha512",
    "sha512_crypt",
    "sha256_crypt",
    "django_pbkdf2_sha256",
    "bcrypt_sha256",
    "scrypt",
]
DEFAULT_WORKERS = usable_cores()
DEFAULT_QUEUE = 8
RETRY_AFTER_SECONDS = 2
# Pool threads run this much nicer than the process (Linux: nice values are per thread), so
# under a full CPU the event loop and the token endpoint's threads get ~90 % of it.
NICE_INCREMENT = 10
T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Argon2Parameters:
    """argon2id's cost. The defaults are a row of OWASP's table (Password Storage Cheat Sheet),
    12 MiB of memory, 3 passes, 1 lane, which it rates as strong as its headline 19 MiB x 2:
    here it takes 7 MiB less per hash in flight for the same CPU (bench/hashes.py).
    libpass's own (64 MiB, t=3, p=4) take about 8x the CPU."""

    memory_kib: int = 12288
    time_cost: int = 3
    parallelism: int = 1

    @property
    def prefix(self) -> str:
        """How a hash made with these parameters begins."""
        return f"$argon2id$v=19$m={self.memory_kib},t={self.time_cost},p={self.parallelism}$"


class PasswordPoolFull(Exception):
    """Every thread of the password pool is busy and its queue is full: try again shortly."""

    retry_after = RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class Verification:
    ok: bool
    new_hash: str | None = None


class Hasher:
    """A libpass context with the configured argon2id parameters, and the dummy hash checked
    when there is no argon2 hash to check (unknown email, legacy hash): made with the same
    parameters, so those cost what a wrong password for an up-to-date customer costs."""

    def __init__(self, parameters: Argon2Parameters) -> None:
        self.parameters = parameters
        self.context = CryptContext(
            schemes=["argon2", *LEGACY_SCHEMES],
            deprecated="auto",  # every scheme but the first is re-hashed on success
            argon2__type="ID",
            argon2__memory_cost=parameters.memory_kib,
            argon2__rounds=parameters.time_cost,
            argon2__parallelism=parameters.parallelism,
        )
        # The hash of a random password that is thrown away.
        self.dummy_hash = self.context.hash(secrets.token_urlsafe(32))

    def needs_update(self, stored_hash: str) -> bool:
        """True unless `stored_hash` is argon2id with exactly the configured parameters."""
        return not stored_hash.startswith(self.parameters.prefix) or bool(
            self.context.needs_update(stored_hash)
        )


_hasher: Hasher | None = None
_hasher_lock = threading.Lock()


def hasher() -> Hasher:
    """The process's hasher (OWASP's parameters until `configure` says otherwise)."""
    return _hasher or configure_hashing(Argon2Parameters())


def configure_hashing(parameters: Argon2Parameters) -> Hasher:
    global _hasher
    with _hasher_lock:
        if _hasher is None or _hasher.parameters != parameters:
            _hasher = Hasher(parameters)
        return _hasher


def hash_password(password: str) -> str:
    return hasher().context.hash(password)


def is_known_hash(value: str) -> bool:
    """True when `value` is a well-formed hash in one of the accepted formats."""
    try:
        handler = hasher().context.identify(value, required=False, resolve=True)
        if handler is None:
            return False
        handler.from_string(value)  # parses every field: a broken body is not a hash
        return True
    except (ValueError, TypeError):
        return False


def _scheme(context: CryptContext, stored_hash: str | None) -> str | None:
    if not stored_hash:
        return None
    try:
        return context.identify(stored_hash, required=False)
    except (ValueError, TypeError):
        return None


def verify(password: str, stored_hash: str | None) -> Verification:
    """Check `password`; a legacy or outdated hash comes back upgraded (`new_hash`) on success.
    None (an unknown email) is never right, and costs the same argon2 check."""
    current = hasher()
    if _scheme(current.context, stored_hash) != "argon2":
        current.context.verify(password, current.dummy_hash)  # equal work: see the docstring
    if stored_hash is None:
        return Verification(False)
    try:
        ok = current.context.verify(password, stored_hash)
    except (ValueError, TypeError):
        return Verification(False)
    if not ok:
        return Verification(False)
    upgrade = current.needs_update(stored_hash)
    return Verification(True, current.context.hash(password) if upgrade else None)


def _lower_priority(increment: int) -> None:
    """Runs first in each pool thread: make this thread (only) nicer than the process."""
    if sys.platform != "linux" or increment <= 0:  # elsewhere the id below is not a thread's
        return
    thread = threading.get_native_id()
    try:
        niceness = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, niceness + increment))
    except OSError as exc:  # a sandbox may forbid it: hashing still works, at normal priority
        log.warning("password pool thread keeps its priority: %s", exc)


class PasswordPool:
    """Threads for password hashing (argon2-cffi releases the GIL), at a lower priority, and at
    most `queue` jobs waiting for them."""

    def __init__(
        self, workers: int = DEFAULT_WORKERS, queue: int = DEFAULT_QUEUE, nice: int = NICE_INCREMENT
    ) -> None:
        self.workers, self.queue = workers, queue
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._executor = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="passwords",
            initializer=_lower_priority,
            initargs=(nice,),
        )

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if not self._slots.acquire(blocking=False):
            raise PasswordPoolFull
        in_pool = metrics().password_queue
        try:
            future: Future[T] = self._executor.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        in_pool.inc()

        def done(_: object) -> None:
            in_pool.dec()
            self._slots.release()

        # Freed when the job ends, not when the caller stops waiting: a cancelled request
        # does not make room while its hash is still being computed.
        future.add_done_callback(done)
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_pool: PasswordPool | None = None
_pool_lock = threading.Lock()


def configure(workers: int, queue: int, parameters: Argon2Parameters | None = None) -> PasswordPool:
    """Size the process's password pool and set the argon2id parameters (at start-up, from
    IDP_PASSWORD_WORKERS/_QUEUE and IDP_ARGON2_*)."""
    global _pool
    configure_hashing(parameters or Argon2Parameters())
    with _pool_lock:
        if _pool is None or (_pool.workers, _pool.queue) != (workers, queue):
            old, _pool = _pool, PasswordPool(workers, queue)
            if old is not None:
                old.shutdown()
        return _pool


def configure_from(settings: Settings) -> PasswordPool:
    """`configure` from IDP_PASSWORD_* and IDP_ARGON2_*: the server and the `idp` command alike,
    so a hash made by either has the configured parameters."""
    return configure(
        settings.password_workers,
        settings.password_queue,
        Argon2Parameters(
            settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism
        ),
    )


def pool() -> PasswordPool:
    """The process's password pool (one thread per core until `configure` says otherwise)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = PasswordPool(DEFAULT_WORKERS, DEFAULT_QUEUE)
        return _pool


async def verify_async(password: str, stored_hash: str | None) -> Verification:
    return await pool().run(verify, password, stored_hash)


async def hash_async(password: str) -> str:
    return await pool().run(hash_password, password)
