"""Throttles.reserve under a steady stream of parallel attempts on one key (one shared address,
say a NAT): every attempt is counted exactly once and none is refused for losing a race. And a
flood of attempts from an address that must wait never throttles the account it names."""

from __future__ import annotations

import asyncio

from idp.security.throttle import SignInThrottle, ThrottleRule, decider
from idp.store import Store
from tests.conftest import EMAIL

PARALLEL = 40  # in flight at any time
ATTEMPTS = 400  # a steady stream: each finished attempt is replaced by a new one
ATTACKER = "203.0.113.9"


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


async def test_attempts_from_a_throttled_address_never_throttle_the_account_they_name(
    store: Store,
) -> None:
    """An attempt refused for its address is not counted against the account it names, not even
    for a moment: the account and the address are counted together or not at all. Otherwise a
    flood from an address that must already wait would keep the account's count up, and its
    owner, signing in from home at the same time, would be told to wait."""
    throttle = SignInThrottle(store.throttles, account_free=1, ip_free=3)
    now = 1000
    for n in range(3):  # the attacker's address uses up its free failures on other accounts
        assert (await throttle.attempt(f"other{n}@example.com", ATTACKER, now)).wait == 0
    assert (await throttle.attempt("other@example.com", ATTACKER, now)).wait > 0

    in_flight = asyncio.Semaphore(PARALLEL)
    flooding = True

    async def flood() -> int:
        async with in_flight:
            return (await throttle.attempt(EMAIL, ATTACKER, now)).wait

    async def owner() -> list[int]:
        waits = []
        while flooding:
            attempt = await throttle.attempt(EMAIL, "198.51.100.7", now)
            waits.append(attempt.wait)
            if not attempt.wait:
                await throttle.succeeded(attempt)
        return waits

    owners = asyncio.create_task(owner())
    flooded = await asyncio.gather(*(flood() for _ in range(ATTEMPTS)))
    flooding = False
    assert all(wait > 0 for wait in flooded)
    assert set(await owners) == {0}


def test_within_the_free_failures_nothing_waits_whatever_the_last_failure_time() -> None:
    """A request's `now` is read as it begins; a request that began a second later may store
    its failure first. Within the free failures that must not turn into a wait."""
    rule = ThrottleRule("account:", free_failures=2)
    assert decider(rule, 1000)(0, 1001) == (0, 1)
    assert decider(rule, 1000)(1, 1001) == (0, 2)
    assert decider(rule, 1000)(2, 1001) == (31, 3)  # past them: 30 s from the last failure
