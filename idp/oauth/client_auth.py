"""Client authentication rules beyond Authlib's (RFC 6749 §2.3)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749.util import extract_basic_authorization


def refuse_two_methods(request: Any) -> None:
    """RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each
    request." HTTP Basic plus a `client_secret` in the body is two; a body `client_id` naming
    another client than Basic does is a contradiction. A body `client_id` equal to Basic's is
    mere identification (§4.1.3) and allowed."""
    scheme = (request.headers.get("Authorization") or "").split(" ", 1)[0]
    if scheme.lower() != "basic":
        return
    body = request.form
    if "client_secret" in body:
        raise InvalidRequestError(
            "Use one client authentication method: HTTP Basic or client_secret, not both"
        )
    basic_client_id, _ = extract_basic_authorization(request.headers)
    if "client_id" in body and body["client_id"] != basic_client_id:
        raise InvalidRequestError("client_id in the body is not the client of HTTP Basic")
