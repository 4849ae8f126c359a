"""Liveness and readiness for the operator's load balancer."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from idp.nox.readiness import configuration_warnings
from idp.store.migrate import current_revision, head_revision
from idp.web.common import services

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
async def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
async def readyz() -> tuple[Response, int]:
    svc = services()
    try:
        current = await current_revision(svc.store.engine)
    except Exception:  # any database failure means "not ready", never a 500
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    head = head_revision(svc.settings.database_url)
    if current != head:
        return jsonify(
            {"status": "unavailable", "migrations": {"current": current, "head": head}}
        ), 503
    # Ready to serve, but say what keeps NOX from getting what it needs.
    warnings = await configuration_warnings(svc.settings, svc.store)
    return jsonify({"status": "ok", "migrations": {"current": current}, "warnings": warnings}), 200
