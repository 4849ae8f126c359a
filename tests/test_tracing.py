"""OpenTelemetry (idp/tracing.py): a server span per request, named by its route rule, with its
status and request id, continuing an incoming `traceparent`; a client span per outgoing httpx
call, the request's child; and without IDP_OTEL_ENDPOINT nothing of OpenTelemetry imported.
(`idp serve` sending OTLP to a collector: test_tracing_e2e.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from quart import Quart

from idp.app import create_app
from idp.config import ConfigError, Settings
from tests.otlp_catcher import otlp_catcher

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from idp import tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    tracing.trace_httpx(None)  # the process's httpx calls untraced again


def by_name(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    [span] = [s for s in exporter.get_finished_spans() if s.name == name]
    return span


async def test_a_request_is_a_span_continuing_the_callers_trace(
    settings: Settings, clock: Any, spans: InMemorySpanExporter
) -> None:
    app = create_app(settings, clock)
    tracing.trace_app(app, SimpleSpanProcessor(spans))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        headers = {"X-Request-Id": "trace-1", "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
        response = await client.get("/interaction/nope/login", headers=headers)
        token = await client.post("/token", form={"grant_type": "x"})  # the fast path
    span = by_name(spans, "GET /interaction/<session_id>/login")
    assert span.kind is SpanKind.SERVER
    assert span.attributes is not None and span.parent is not None
    assert dict(span.attributes) == {
        "http.request.method": "GET",
        "http.route": "/interaction/<session_id>/login",
        "http.response.status_code": response.status_code,
        "idp.request_id": "trace-1",
    }
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert f"{span.parent.span_id:016x}" == PARENT_ID
    fast = by_name(spans, "POST /token")
    assert fast.attributes is not None
    assert fast.attributes["http.response.status_code"] == token.status_code == 400
    assert fast.parent is None  # no traceparent: a trace of its own


async def test_an_outgoing_call_is_the_requests_child(spans: InMemorySpanExporter) -> None:
    app = Quart(__name__)
    with otlp_catcher() as other:

        @app.get("/call/<name>")
        async def call_out(name: str) -> str:
            async with httpx.AsyncClient() as http:
                answer = await http.get(f"{other.url}/v1/devices", params={"user_id": name})
            return str(answer.status_code)

        @app.get("/broken")
        async def broken() -> str:
            raise RuntimeError("boom")

        tracing.trace_app(app, SimpleSpanProcessor(spans))
        async with app.test_app() as test_app:
            client = test_app.test_client()
            assert (await client.get("/call/cust-1")).status_code == 200
            assert (await client.get("/broken")).status_code == 500
            assert (await client.get("/nowhere")).status_code == 404
    server = by_name(spans, "GET /call/<name>")
    [outgoing] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert outgoing.parent is not None and outgoing.parent.span_id == server.context.span_id
    assert outgoing.context.trace_id == server.context.trace_id
    assert outgoing.attributes is not None
    assert outgoing.attributes["url.full"] == f"{other.url}/v1/devices"  # not the query
    assert outgoing.attributes["http.response.status_code"] == 204
    assert by_name(spans, "GET /broken").status.status_code is StatusCode.ERROR
    assert by_name(spans, "GET unmatched").attributes["http.response.status_code"] == 404  # type: ignore[index]


def test_the_endpoint_is_an_http_url(settings: Settings) -> None:
    assert settings.with_overrides(otel_endpoint="http://collector:4318").otel_endpoint
    for bad in ("collector:4318", "ftp://collector", "http://collector:4318/?a=b"):
        with pytest.raises(ConfigError, match="IDP_OTEL_ENDPOINT"):
            settings.with_overrides(otel_endpoint=bad)


IMPORTED = """
import json, sys
from idp.app import create_app
from idp.config import load_settings
create_app(load_settings())
print(json.dumps(sorted(m for m in sys.modules if m.startswith("opentelemetry"))))
"""


@pytest.mark.parametrize("endpoint", ["", "http://127.0.0.1:9"])
def test_without_the_setting_nothing_of_opentelemetry_is_imported(
    tmp_path: Path, endpoint: str
) -> None:
    env = {"PATH": "/usr/bin:/bin", "IDP_VAR_DIR": str(tmp_path), "IDP_OTEL_ENDPOINT": endpoint}
    found = subprocess.run(
        [sys.executable, "-c", IMPORTED], env=env, capture_output=True, text=True, check=True
    )
    imported = json.loads(found.stdout.splitlines()[-1])
    assert bool(imported) is bool(endpoint), imported
