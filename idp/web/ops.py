"""Liveness and readiness for the operator's load balancer."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from idp.admin.readiness import ReadinessCheck


def blueprint(readiness: ReadinessCheck) -> Blueprint:
    bp = Blueprint("ops", __name__)

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
