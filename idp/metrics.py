"""Prometheus metrics (prometheus-client), served at /metrics (web/ops.py).

Under `idp serve` each worker process counts in files of its own (prometheus-client's
multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`, which `idp serve` sets to a fresh folder under
IDP_VAR_DIR before the workers start) and a scrape sums them, whichever worker answers it.
The metrics are made at their first use, in the worker, after that setting: see `prepare`.
"""

from __future__ import annotations

import os
import shutil
import time
from functools import cache
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
AGES = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 86400.0)


def prepare(parent: Path) -> None:
    """Before the workers start (in `idp serve`'s own process): count in files under a folder of
    this instance's own in `parent` (instances may share IDP_VAR_DIR; each is scraped for its
    own workers), so that a scrape sums every worker's. Folders of instances no longer running
    are removed."""
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.iterdir():
        if old.name.isdigit() and not running(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    folder = parent / str(os.getpid())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    os.environ[MULTIPROCESS_ENV] = str(folder)
    values.ValueClass = values.get_value_class()  # prometheus-client read the variable at import


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Metrics:
    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.requests = Counter(
            "idp_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
        )
        self.latency = Histogram(
            "idp_http_request_seconds", "Time to answer, by route", ["route"], buckets=SECONDS
        )
        self.signins = Counter(
            "idp_signins_total",
            "Customer sign-in attempts: succeeded, failed (wrong email or password, disabled), "
            "throttled, busy (the password pool was full)",
            ["outcome"],
        )
        self.codes = Counter("idp_codes_issued_total", "Authorization codes issued")
        self.tokens = Counter("idp_tokens_issued_total", "Tokens issued", ["grant_type"])
        self.handoffs = Counter(
            "idp_handoffs_total",
            "Hand-off delivery attempts: delivered, failed (refused or given up), retry, expired",
            ["outcome"],
        )
        self.handoff_age = Histogram(
            "idp_handoff_age_seconds",
            "Age of a hand-off (since its code was issued) when it was delivered",
            buckets=AGES,
        )
        self.link_sessions = Counter(
            "idp_link_sessions_total",
            "Link sessions asked of NOX (created, failed) and link callbacks (linked, rejected)",
            ["outcome"],
        )
        self.nox_calls = Histogram(
            "idp_nox_call_seconds", "NOX API calls, by operation", ["operation"], buckets=SECONDS
        )
        self.nox_errors = Counter(
            "idp_nox_call_errors_total",
            "NOX API calls that failed (no answer, or an error status)",
            ["operation"],
        )
        self.password_queue = Gauge(
            "idp_password_checks_in_pool",
            "Password checks running or waiting in the hashing pools",
            multiprocess_mode="livesum",
        )
        self.db_connections = Gauge(
            "idp_db_connections_in_use",
            "Database connections checked out of the pools",
            multiprocess_mode="livesum",
        )

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        # The labelled children, kept: `labels()` validates and locks on every call, and this
        # runs for every request (the fast paths' too).
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def nox_call(self, operation: str, started: float, status: int | None) -> None:
        """A NOX call that began at `started` (time.perf_counter) and answered `status` (None:
        no answer)."""
        self.nox_calls.labels(operation).observe(time.perf_counter() - started)
        if status is None or status >= 400:
            self.nox_errors.labels(operation).inc()


def worker_stopped() -> None:
    """A worker's graceful end: its share of the live gauges no longer counts."""
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.mark_process_dead(os.getpid())


@cache
def metrics() -> Metrics:
    """The process's metrics, made at first use."""
    return Metrics()


def exposition() -> bytes:
    """Every metric in the text format: summed over the workers under `idp serve`."""
    metrics()  # this process's own are made, so they show even before their first event
    folder = os.environ.get(MULTIPROCESS_ENV)
    if folder and Path(folder).is_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
        return generate_latest(registry)
    return generate_latest()
