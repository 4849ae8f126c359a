"""Sign-in throttling: after a few failures, each further attempt waits longer. Never a lock-out."""

from __future__ import annotations

from dataclasses import dataclass

from idp.store.misc import Throttles

FORGET_AFTER = 3600  # a quiet hour wipes the slate
MAX_DELAY = 15 * 60


@dataclass(frozen=True)
class ThrottleRule:
    prefix: str
    free_failures: int


def delay_for(failures: int, free_failures: int) -> int:
    """0 while within the free failures, then 30 s, 60 s, 120 s ... up to 15 minutes."""
    if failures < free_failures:
        return 0
    return min(MAX_DELAY, 30 * 2 ** (failures - free_failures))


class SignInThrottle:
    def __init__(self, repo: Throttles, account_free: int, ip_free: int, realm: str = "") -> None:
        """`realm` keeps separate counters for separate doors (customers, admins)."""
        self.repo = repo
        self.rules = (
            ThrottleRule(f"{realm}account:", account_free),
            ThrottleRule(f"{realm}ip:", ip_free),
        )

    def _keys(self, email: str, ip: str) -> list[tuple[str, ThrottleRule]]:
        return [
            (self.rules[0].prefix + email.strip().lower(), self.rules[0]),
            (self.rules[1].prefix + ip, self.rules[1]),
        ]

    async def wait_seconds(self, email: str, ip: str, now: int) -> int:
        """How long this email and IP must still wait before another attempt is checked."""
        keys = self._keys(email, ip)
        found = await self.repo.get([k for k, _ in keys])
        wait = 0
        for key, rule in keys:
            if key not in found:
                continue
            failures, last = found[key]
            if now - last >= FORGET_AFTER:
                continue
            wait = max(wait, last + delay_for(failures, rule.free_failures) - now)
        return max(0, wait)

    async def failed(self, email: str, ip: str, now: int) -> None:
        for key, _ in self._keys(email, ip):
            await self.repo.record_failure(key, now, reset_before=now - FORGET_AFTER)

    async def succeeded(self, email: str) -> None:
        await self.repo.clear(self.rules[0].prefix + email.strip().lower())
