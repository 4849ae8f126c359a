"""Counts per hour for the console's overview charts: the last 24 whole hours up to now."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

HOUR = 3600
CHART_HOURS = 24


@dataclass(frozen=True)
class Hourly:
    """One count per series and hour, oldest hour first; `starts` are the hours' Unix starts.
    The series are drawn stacked, in the order given."""

    starts: list[int]
    series: dict[str, list[int]]

    @property
    def totals(self) -> dict[str, int]:
        return {name: sum(counts) for name, counts in self.series.items()}

    @property
    def peak(self) -> int:
        """The highest hour (all series together), at least 1: the chart's scale."""
        return max([1, *(sum(hour) for hour in zip(*self.series.values(), strict=True))])

    @property
    def rows(self) -> list[tuple[int, list[int]]]:
        """(hour start, [count per series]) per hour: the chart's numbers as a table."""
        return [
            (start, [counts[i] for counts in self.series.values()])
            for i, start in enumerate(self.starts)
        ]


def window_start(now: int) -> int:
    """The start of the oldest hour shown: the current hour is the last of CHART_HOURS."""
    return (now // HOUR + 1 - CHART_HOURS) * HOUR


def hourly(now: int, **series: Iterable[int]) -> Hourly:
    """Count the times of each series into the hours of the window ending with this hour."""
    start = window_start(now)
    counted: dict[str, list[int]] = {}
    for name, times in series.items():
        counts = [0] * CHART_HOURS
        for at in times:
            hour = (at - start) // HOUR
            if 0 <= hour < CHART_HOURS:
                counts[hour] += 1
        counted[name] = counts
    return Hourly([start + i * HOUR for i in range(CHART_HOURS)], counted)
