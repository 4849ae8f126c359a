"""OpenTelemetry traces, sent over OTLP/HTTP to IDP_OTEL_ENDPOINT (the optional `otel` extra:
`make otel`). app.py imports this module only when that setting is set, so without it nothing of
OpenTelemetry is imported.

Each request is a server span named after its method and route rule (`GET
/interaction/<session_id>/login`: never an id in a name), with its status and request id, and
continuing the trace of an incoming W3C `traceparent`. Each outgoing httpx call (NOX, hand-offs,
back-channel logout) is a client span, a child of the request's span when a request made it.
No span carries a query string, a body or a header value other than the request id.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from quart import Quart
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, MapAdapter

SERVICE_NAME = "idp"
REQUEST_ID_ATTRIBUTE = "idp.request_id"
PROPAGATOR = TraceContextTextMapPropagator()  # W3C Trace Context: `traceparent`, `tracestate`

Message = dict[str, Any]


def traces_url(endpoint: str) -> str:
    """IDP_OTEL_ENDPOINT is the collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is."""
    return endpoint.rstrip("/") + "/v1/traces"


def install(app: Quart, endpoint: str) -> TracerProvider:
    """Trace `app`'s requests and this process's httpx calls to the collector at `endpoint`,
    in batches from a thread of the SDK's own; the last batch leaves when the app stops."""
    return trace_app(app, BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(endpoint))))


def trace_app(app: Quart, processor: SpanProcessor) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("idp")
    app.asgi_app = TracedRequests(app.asgi_app, app.url_map, tracer)  # type: ignore[method-assign]
    trace_httpx(tracer)

    @app.after_serving
    async def _flush() -> None:
        await asyncio.to_thread(provider.shutdown)

    return provider


class TracedRequests:
    """ASGI middleware, outermost: one server span per HTTP request, fast paths included."""

    def __init__(self, app: Any, url_map: Map, tracer: Tracer) -> None:
        self.app = app
        self.url_map = url_map
        self.tracer = tracer
        self._routes: MapAdapter | None = None

    def route(self, path: str, method: str) -> str:
        """The rule the request matches, as the metrics label it; "unmatched" when none does."""
        if self._routes is None:  # bound at the first request, once every rule is there
            self._routes = self.url_map.bind("idp")
        try:
            rule, _ = self._routes.match(path, method, return_rule=True)
        except HTTPException:
            return "unmatched"
        return str(rule.rule)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        route = self.route(scope["path"], method)
        carrier = {n.decode("latin-1"): v.decode("latin-1") for n, v in scope["headers"]}
        with self.tracer.start_as_current_span(
            f"{method} {route}",
            context=PROPAGATOR.extract(carrier),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route},
        ) as span:

            async def sending(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    span.set_attribute("http.response.status_code", status)
                    for name, value in message.get("headers", ()):
                        if bytes(name).lower() == b"x-request-id":
                            span.set_attribute(REQUEST_ID_ATTRIBUTE, bytes(value).decode("latin-1"))
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            await self.app(scope, receive, sending)


_client_tracer: Tracer | None = None
_untraced = httpx.AsyncHTTPTransport.handle_async_request


def trace_httpx(tracer: Tracer | None) -> None:
    """Every httpx.AsyncHTTPTransport of the process (each client the service makes has one)
    opens a client span per request, as opentelemetry-instrumentation-httpx does, without that
    package; None stops it."""
    global _client_tracer
    _client_tracer = tracer
    httpx.AsyncHTTPTransport.handle_async_request = _traced  # type: ignore[method-assign]


async def _traced(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
    tracer = _client_tracer
    if tracer is None:
        return await _untraced(self, request)
    url = request.url
    attributes: dict[str, str | int] = {
        "http.request.method": request.method,
        "server.address": url.host,
        "server.port": url.port or (443 if url.scheme == "https" else 80),
        # Without the query, which may name a customer (GET /v1/devices?user_id=).
        "url.full": f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}",
    }
    with tracer.start_as_current_span(
        request.method, kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        response = await _untraced(self, request)
        span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 500:
            span.set_status(Status(StatusCode.ERROR))
        return response
