"""How a NOX webhook is signed: HMAC-SHA256 keyed with the NOX API key over a string built from
a template (NOX does not publish the exact string; IDP_NOX_WEBHOOK_SIGNED names it). Shared by
the receiving side (idp/nox/webhooks.py) and the sandbox, which signs as NOX would."""

from __future__ import annotations

import hashlib
import hmac

DEFAULT_TEMPLATE = "{timestamp}.{body}"


def signed_string(template: str, timestamp: str, webhook_id: str, body: bytes) -> bytes:
    """The bytes that are signed: the template with {timestamp}, {id} and the raw {body}."""
    parts = template.replace("{timestamp}", timestamp).replace("{id}", webhook_id).split("{body}")
    return body.join(part.encode() for part in parts)


def signature(api_key: str, template: str, timestamp: str, webhook_id: str, body: bytes) -> str:
    """`sha256=<hex>`, the X-Webhook-Signature header."""
    signed = signed_string(template, timestamp, webhook_id, body)
    return "sha256=" + hmac.new(api_key.encode(), signed, hashlib.sha256).hexdigest()
