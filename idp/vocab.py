"""The closed lists the whole project shares: one home for each, imported by every layer."""

from __future__ import annotations

from typing import Literal

# NOX's languages; Dutch is NOX's default (NOX-CONTRACT: language of the link session).
LANGUAGES = ("nl", "en", "fr", "es")
DEFAULT_LANGUAGE = "nl"

# How a client authenticates at /token, /revoke and /introspect (RFC 7591 §2,
# token_endpoint_auth_method). "none" is a public client, which must use PKCE.
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
CONFIDENTIAL_AUTH_METHODS = ("client_secret_basic", "client_secret_post")

# The grants a client may be registered for (RFC 6749 §4.1, §6, §4.4).
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")

# How the supplier_user_id reaches the client with the code: NOX's POST /post-login-redirect
# (backchannel), or only the redirect (redirect, form_post).
HANDOFF_MODES = ("backchannel", "form_post", "redirect")

# Console roles, each allowed what the ones before it may do.
ADMIN_ROLES = ("viewer", "operator", "owner")

# An authentication session (/authorize until the code or the refusal).
AUTH_PENDING = "pending"
AUTH_COMPLETED = "completed"
AUTH_DENIED = "denied"

# A hand-off in the outbox.
HANDOFF_PENDING = "pending"
HANDOFF_DELIVERED = "delivered"
HANDOFF_FAILED = "failed"
HANDOFF_EXPIRED = "expired"  # its authentication session ended first: NOX no longer waits for it
HANDOFF_STATUSES = (HANDOFF_PENDING, HANDOFF_DELIVERED, HANDOFF_FAILED, HANDOFF_EXPIRED)

# A device link held for an operator's decision.
HELD = "held"
HELD_APPROVED = "approved"
HELD_REJECTED = "rejected"

# The kinds of URI a client registers: redirect URIs (RFC 6749 §3.1.2) and post-logout redirect
# URIs (OpenID Connect RP-Initiated Logout 1.0 §3.1), both matched exactly.
UriKind = Literal["redirect", "post_logout"]
