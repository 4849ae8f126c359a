"""The retention job: expired protocol rows, old sign-ins, hand-offs and security events go.

Run by the background worker every IDP_RETENTION_INTERVAL_SECONDS and by `idp purge`; periods
are IDP_RETENTION_* (idp/config.py). Each run deletes in bounded batches (idp/store/retention.py).
"""

from __future__ import annotations

import asyncio
import logging

from idp.config import Settings
from idp.security.clock import Clock
from idp.security.throttle import FORGET_AFTER
from idp.store import Store
from idp.store.retention import Cutoffs

log = logging.getLogger("idp.retention")
MAX_BATCHES = 50  # per table and run: at most 50 x IDP_RETENTION_BATCH rows per table


def cutoffs(settings: Settings, now: int) -> Cutoffs:
    protocol = now - settings.retention_protocol_seconds
    return Cutoffs(
        protocol=protocol,
        signin=now - settings.retention_signin_seconds,
        admin_session=protocol - settings.admin_idle_seconds,
        # A throttle quiet for FORGET_AFTER no longer counts; keep it no longer than that.
        throttle=min(protocol, now - FORGET_AFTER),
        handoff=now - settings.retention_handoff_seconds,
        event=now - settings.retention_event_seconds,
        network=now - settings.retention_network_seconds,
    )


async def purge(settings: Settings, store: Store, clock: Clock) -> dict[str, int]:
    """One retention run; how many rows each table lost."""
    found = cutoffs(settings, clock.now())
    deleted = await store.retention.purge(found, settings.retention_batch, MAX_BATCHES)
    forgotten = await store.retention.forget_networks(found.network)
    if forgotten:
        log.info("retention: forgot the IP and browser of %s rows", forgotten)
    if any(deleted.values()):
        log.info("retention: deleted %s", ", ".join(f"{k}={v}" for k, v in deleted.items() if v))
    return deleted


async def run(settings: Settings, store: Store, clock: Clock, stop: asyncio.Event) -> None:
    """The background loop beside the hand-off worker: sleep, then purge, until stopped (not at
    once: start-up stays quick, and a restart loop does not purge over and over)."""
    while True:
        try:
            await asyncio.wait_for(stop.wait(), settings.retention_interval_seconds)
            return
        except TimeoutError:
            pass
        try:
            await purge(settings, store, clock)
        except Exception:  # the worker must outlive a database hiccup
            log.exception("retention run failed")
