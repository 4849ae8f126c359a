"""Liveness and readiness for the operator's load balancer, and Prometheus metrics."""

from __future__ import annotations

import secrets

from quart import Blueprint, Response, abort, jsonify, request

from idp.admin.readiness import ReadinessCheck
from idp.metrics import CONTENT_TYPE, exposition


def blueprint(readiness: ReadinessCheck, metrics_token: str | None) -> Blueprint:
    bp = Blueprint("ops", __name__)

    @bp.get("/metrics")
    async def metrics() -> Response:
        """Prometheus's text format, for a scraper that presents IDP_METRICS_TOKEN as a bearer
        token (compared in constant time); without that setting there are no metrics here."""
        if not metrics_token:
            abort(404)
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            presented.strip().encode(), metrics_token.encode()
        ):
            response = Response("", 401)
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        response = Response(exposition(), 200, content_type=CONTENT_TYPE)
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/healthz")
    async def healthz() -> Response:
        return jsonify({"status": "ok"})

    @bp.get("/readyz")
    async def readyz() -> tuple[Response, int]:
        found = await readiness.check()
        if not found.reachable:
            return jsonify({"status": "unavailable", "database": "unreachable"}), 503
        if not found.ready:
            migrations = {"current": found.current, "head": found.head}
            return jsonify({"status": "unavailable", "migrations": migrations}), 503
        migrations = {"current": found.current}
        return jsonify({"status": "ok", "migrations": migrations, "warnings": found.warnings}), 200

    return bp
