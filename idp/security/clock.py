"""One injectable clock: every expiry (15-minute sessions, 60 s codes) reads time from here."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int:
        """Unix seconds."""
        ...


class SystemClock:
    def now(self) -> int:
        return int(time.time())


class FrozenClock:
    """A clock for tests: it only moves when told to."""

    def __init__(self, start: int = 1_800_000_000) -> None:
        self.current = start

    def now(self) -> int:
        return self.current

    def advance(self, seconds: int) -> None:
        self.current += seconds
