"""`idp serve` with IDP_OTEL_ENDPOINT sends its spans over OTLP/HTTP (protobuf) to the
collector named, each request's span carrying its request id."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from idp.store.migrate import upgrade
from tests.e2e import IDP, Process, free_port, server_option
from tests.otlp_catcher import Catcher, otlp_catcher

pytest.importorskip("opentelemetry.exporter.otlp.proto.http", reason="no otel extra")
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

pytestmark = pytest.mark.e2e


def spans_caught(catcher: Catcher) -> dict[str, dict[str, str]]:
    """Each span the collector received: its name and string attributes, by request id."""
    found = {}
    for path, content_type, body in catcher.posts:
        assert path == "/v1/traces" and content_type == "application/x-protobuf"
        export = ExportTraceServiceRequest.FromString(body)
        for resource in export.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: a.value.string_value for a in span.attributes}
                    attributes["name"] = span.name
                    found[attributes.get("idp.request_id", "")] = attributes
    return found


def test_idp_serve_sends_its_spans_to_the_collector(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'idp.sqlite3'}"
    upgrade(database_url)
    port = free_port()
    with otlp_catcher() as catcher:
        env = {
            **os.environ,
            "IDP_ISSUER": f"http://127.0.0.1:{port}",
            "IDP_DATABASE_URL": database_url,
            "IDP_VAR_DIR": str(tmp_path),
            "IDP_OTEL_ENDPOINT": catcher.url,
        }
        argv = [IDP, "serve", "--host", "127.0.0.1", "--port", str(port), *server_option()]
        idp = Process("idp", argv, env, port, tmp_path / "idp.log")
        try:
            idp.start()
            discovery = httpx.get(
                f"{idp.url}/.well-known/openid-configuration",
                headers={"X-Request-Id": "otel-e2e-1"},
            )
            assert discovery.status_code == 200
        finally:
            idp.stop()  # the last batch leaves as the server stops
        deadline = time.monotonic() + 15
        while "otel-e2e-1" not in spans_caught(catcher) and time.monotonic() < deadline:
            time.sleep(0.2)
        span = spans_caught(catcher).get("otel-e2e-1")
        assert span is not None, idp.log()
        assert span["name"] == "GET /.well-known/openid-configuration"
        assert span["http.route"] == "/.well-known/openid-configuration"
