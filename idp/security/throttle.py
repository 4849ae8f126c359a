"""Sign-in throttling: after a few failures, each further attempt waits longer. Never a lock-out.

An attempt is counted *before* its password is checked (atomically, per key), so a burst of
parallel attempts cannot all pass the check while none is counted yet; a successful sign-in
then takes its count back (account: cleared, IP: one less).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from idp.store.misc import Decide, Throttles

FORGET_AFTER = 3600  # a quiet hour wipes the slate
MAX_DELAY = 15 * 60
THROTTLED_EVENT_WINDOW = 60  # a refused burst is one audit row per account, IP and minute


@dataclass(frozen=True)
class ThrottleRule:
    prefix: str
    free_failures: int


def delay_for(failures: int, free_failures: int) -> int:
    """0 while within the free failures, then 30 s, 60 s, 120 s ... up to 15 minutes."""
    if failures < free_failures:
        return 0
    return min(MAX_DELAY, 30 * 2 ** (failures - free_failures))


@dataclass(frozen=True)
class Attempt:
    """The outcome of `SignInThrottle.attempt`: wait > 0 means refused, nothing counted."""

    email: str
    ip: str
    wait: int = 0


def ip_block(ip: str) -> str:
    """What one attacker controls: an IPv4 address, or an IPv6 /64 (one subscriber's prefix,
    2^64 addresses that must not count as 2^64 fresh clients)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class SignInThrottle:
    def __init__(self, repo: Throttles, account_free: int, ip_free: int, realm: str = "") -> None:
        """`realm` keeps separate counters for separate doors (customers, admins)."""
        self.repo = repo
        self.account = ThrottleRule(f"{realm}account:", account_free)
        self.ip = ThrottleRule(f"{realm}ip:", ip_free)

    def account_key(self, email: str) -> str:
        return self.account.prefix + email.strip().lower()

    def ip_key(self, ip: str) -> str:
        return self.ip.prefix + ip_block(ip)

    async def attempt(self, email: str, ip: str, now: int) -> Attempt:
        """Count this attempt against the account and the IP (both or neither, in one unit of
        work), or say how long it must wait."""
        wait = await self.repo.reserve_all(
            [
                (self.account_key(email), decider(self.account, now)),
                (self.ip_key(ip), decider(self.ip, now)),
            ],
            now,
        )
        return Attempt(email, ip, wait)

    async def succeeded(self, attempt: Attempt) -> None:
        """The attempt was right: the account starts afresh, and the IP did not fail."""
        await self.repo.settle(
            clear=[self.account_key(attempt.email)], release=[self.ip_key(attempt.ip)]
        )

    async def not_checked(self, attempt: Attempt) -> None:
        """The password could not be checked (the pool was full): the attempt does not count."""
        await self.repo.settle(release=[self.account_key(attempt.email), self.ip_key(attempt.ip)])


def decider(rule: ThrottleRule, now: int) -> Decide:
    """How long an attempt now must wait under `rule`, from its row's count and last failure;
    and the count once it is let through."""

    def decide(failures: int, last: int) -> tuple[int, int]:
        if now - last >= FORGET_AFTER:
            return 0, 1
        delay = delay_for(failures, rule.free_failures)
        # Within the free failures nothing waits, even when the last failure was stored by a
        # request that began after this one (`last` a second past `now`).
        return (max(0, last + delay - now) if delay else 0), failures + 1

    return decide


class RateLimit:
    """At most `limit` events per client network in any run of events less than `window`
    seconds apart (e.g. new authentication sessions, each a stored row): anonymous traffic
    must not grow the database faster than the retention job empties it."""

    def __init__(self, repo: Throttles, prefix: str, limit: int, window: int = 60) -> None:
        self.repo = repo
        self.prefix = prefix
        self.limit = limit
        self.window = window

    async def wait(self, ip: str, now: int) -> int:
        """Count one event for `ip` now; the seconds to wait instead (0: counted, go on)."""

        def decide(count: int, last: int) -> tuple[int, int]:
            if now - last >= self.window:
                return 0, 1
            if count >= self.limit:
                return last + self.window - now, count
            return 0, count + 1

        return await self.repo.reserve(self.prefix + ip_block(ip), now, decide)
