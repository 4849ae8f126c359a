"""Password hashing with libpass: argon2id for new hashes, legacy formats accepted and upgraded.

Hashing is CPU- and memory-bound (argon2id at 64 MiB), so it runs on a small pool of its own,
never on the event loop nor on the default executor (which the token endpoint uses). The pool
is bounded: when its threads and queue are full, `PasswordPoolFull` is raised at once (the web
layer answers 503 with Retry-After) rather than queueing a burst in memory.

Every check costs one argon2 verification, whatever is stored (an argon2 hash, a legacy hash,
nothing at all for an unknown email), so the time an answer takes does not tell which it was.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from passlib.context import CryptContext

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
context = CryptContext(schemes=["argon2", *LEGACY_SCHEMES], deprecated="auto")

# Checked when there is no argon2 hash to check (unknown email, legacy hash), so that those cost
# what a wrong password for an argon2 customer costs. The hash of a random password that was
# thrown away; made with the context's current parameters (tests/test_password_pool.py checks).
DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$33vPufdei1GKcS4FIEQoJQ$"
    "mghBVaKb+tQ8UVInBw6QjV/7DRN2tihCw7htdDWPcT8"
)
DEFAULT_WORKERS = 2
DEFAULT_QUEUE = 8
RETRY_AFTER_SECONDS = 2
T = TypeVar("T")


class PasswordPoolFull(Exception):
    """Every thread of the password pool is busy and its queue is full: try again shortly."""

    retry_after = RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class Verification:
    ok: bool
    new_hash: str | None = None


def hash_password(password: str) -> str:
    return context.hash(password)


def is_known_hash(value: str) -> bool:
    """True when `value` is a well-formed hash in one of the accepted formats."""
    try:
        handler = context.identify(value, required=False, resolve=True)
        if handler is None:
            return False
        handler.from_string(value)  # parses every field: a broken body is not a hash
        return True
    except (ValueError, TypeError):
        return False


def _scheme(stored_hash: str | None) -> str | None:
    if not stored_hash:
        return None
    try:
        return context.identify(stored_hash, required=False)
    except (ValueError, TypeError):
        return None


def verify(password: str, stored_hash: str | None) -> Verification:
    """Check `password`; a legacy or outdated hash comes back upgraded (`new_hash`) on success.
    None (an unknown email) is never right, and costs the same argon2 check."""
    is_argon2 = _scheme(stored_hash) == "argon2"
    if not is_argon2:
        context.verify(password, DUMMY_HASH)  # equal work: see the module docstring
    if stored_hash is None:
        return Verification(False)
    try:
        ok, new_hash = context.verify_and_update(password, stored_hash)
    except (ValueError, TypeError):
        return Verification(False)
    return Verification(bool(ok), new_hash if ok else None)


class PasswordPool:
    """A few threads for password hashing, and at most `queue` jobs waiting for them."""

    def __init__(self, workers: int = DEFAULT_WORKERS, queue: int = DEFAULT_QUEUE) -> None:
        self.workers, self.queue = workers, queue
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="passwords")

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if not self._slots.acquire(blocking=False):
            raise PasswordPoolFull
        try:
            future: Future[T] = self._executor.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        # Freed when the job ends, not when the caller stops waiting: a cancelled request
        # does not make room while its hash is still being computed.
        future.add_done_callback(lambda _: self._slots.release())
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_pool: PasswordPool | None = None
_pool_lock = threading.Lock()


def configure(workers: int, queue: int) -> PasswordPool:
    """Size the process's password pool (at start-up, from IDP_PASSWORD_WORKERS/_QUEUE)."""
    global _pool
    with _pool_lock:
        if _pool is None or (_pool.workers, _pool.queue) != (workers, queue):
            old, _pool = _pool, PasswordPool(workers, queue)
            if old is not None:
                old.shutdown()
        return _pool


def pool() -> PasswordPool:
    return _pool or configure(DEFAULT_WORKERS, DEFAULT_QUEUE)


async def verify_async(password: str, stored_hash: str | None) -> Verification:
    return await pool().run(verify, password, stored_hash)


async def hash_async(password: str) -> str:
    return await pool().run(hash_password, password)
