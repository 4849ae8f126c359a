"""POST /nox/webhooks: NOX's webhooks about devices (the rules: idp/nox/webhooks.py)."""

from __future__ import annotations

from quart import Blueprint, Response, request

from idp.nox.webhooks import NoxWebhooks
from idp.web.common import client_ip, json_error


def blueprint(webhooks: NoxWebhooks) -> Blueprint:
    bp = Blueprint("nox_webhooks", __name__)

    @bp.post("/nox/webhooks")
    async def receive() -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = await request.get_data(as_text=False)
        assert isinstance(body, bytes)  # the signature is over the raw bytes
        answer = await webhooks.receive(headers, body, client_ip())
        if answer.status == 204:
            return Response("", status=204)
        return json_error(answer.status, "invalid_request", answer.outcome)

    return bp
