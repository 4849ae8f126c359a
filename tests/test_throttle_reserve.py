"""Throttles.reserve under a steady stream of parallel attempts on one key (one shared address,
say a NAT): every attempt is counted exactly once and none is refused for losing a race."""

from __future__ import annotations

import asyncio

from idp.store import Store

PARALLEL = 40  # in flight at any time
ATTEMPTS = 400  # a steady stream: each finished attempt is replaced by a new one


async def test_parallel_attempts_on_one_key_are_each_counted_once(store: Store) -> None:
    def always_allowed(failures: int, last: int) -> tuple[int, int]:
        return 0, failures + 1

    in_flight = asyncio.Semaphore(PARALLEL)

    async def attempt() -> int:
        async with in_flight:
            return await store.throttles.reserve("ip:192.0.2.1", 1000, always_allowed)

    waits = await asyncio.gather(*(attempt() for _ in range(ATTEMPTS)))
    assert waits == [0] * ATTEMPTS
    assert await store.throttles.get(["ip:192.0.2.1"]) == {"ip:192.0.2.1": (ATTEMPTS, 1000)}
