"""The bridge between synchronous Authlib and the async store.

Authlib's grant and endpoint code runs in a worker thread (`asyncio.to_thread`); whenever it needs
the database it hands a coroutine back to the event loop and waits for the answer. So neither a
database call nor Authlib's own work ever blocks the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Runner(Protocol):
    """Runs a coroutine to completion from synchronous code and returns its result."""

    def __call__(self, coro: Coroutine[Any, Any, T]) -> T: ...


STORE_TIMEOUT = 30.0


class LoopBridge:
    """Runs coroutines on the app's event loop (bound when the app starts serving)."""

    loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def __call__(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the event loop from a worker thread and return its result."""
        assert self.loop is not None, "the bridge is bound when the app starts serving"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(STORE_TIMEOUT)


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)
