"""The time zones an admin may read the console's times in, and a time as the console shows it:
"2026-12-02 19:05 CET" in the admin's zone (their own choice, else IDP_TIMEZONE)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

MAX_ZONE_NAME = 64  # admins.timezone


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone this machine knows, sorted (the preferences page's choices)."""
    return tuple(sorted(n for n in available_timezones() if len(n) <= MAX_ZONE_NAME))


def known_zone(name: str) -> bool:
    return name in zone_names()


def zone_of(name: str | None, default: ZoneInfo) -> ZoneInfo:
    """The admin's zone; `default` when they chose none (or a zone this machine no longer has)."""
    return ZoneInfo(name) if name and known_zone(name) else default


def local_time(timestamp: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).astimezone(zone)


def readable(timestamp: int, zone: ZoneInfo) -> str:
    """ "2026-12-02 19:05 CET": minutes are enough for an operator, the abbreviation says which
    clock (and summer time)."""
    return local_time(timestamp, zone).strftime("%Y-%m-%d %H:%M %Z")
