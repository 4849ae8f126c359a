"""The bridge between synchronous Authlib and the async store, without a thread.

Authlib's grant and endpoint code runs in a greenlet on the event loop (SQLAlchemy's
`greenlet_spawn`, the mechanism its own async engine is built on). When one of our storage hooks
needs the database it calls `await_store(coro)`, which suspends that greenlet while the loop runs
the query, then resumes it with the result: no thread hop and no cross-thread wait per query.
Authlib's own work is a few hundred microseconds of CPU (parsing, comparing, signing an ID
token), so it runs on the loop like any other request handler.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from sqlalchemy.util import await_only, greenlet_spawn

T = TypeVar("T")


class Runner(Protocol):
    """Runs a coroutine to completion from synchronous code and returns its result."""

    def __call__(self, coro: Coroutine[Any, Any, T]) -> T: ...


def await_store(coro: Coroutine[Any, Any, T]) -> T:
    """From synchronous code running under `run_sync`: await `coro` on the loop."""
    result: T = await_only(coro)
    return result


async def run_sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run synchronous `fn` (Authlib) on the loop, able to await the store through
    `await_store`."""
    result: T = await greenlet_spawn(fn, *args, **kwargs)
    return result
