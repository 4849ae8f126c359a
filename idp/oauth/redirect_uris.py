"""The redirect URI: what may be registered (RFC 6749 §3.1.2, RFC 9700 §2.1), and how the one in
a request is checked against the registered ones (RFC 9700 §4.1.3: exact string comparison)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from idp.config import is_loopback_host
from idp.oauth.registration import RegistrationError


def validate_redirect_uri(uri: str) -> str:
    """An absolute https URI (http only on loopback), without fragment or wildcard."""
    if not uri or uri != uri.strip() or any(c.isspace() for c in uri):
        raise RegistrationError("a redirect URI must not be empty or contain spaces")
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RegistrationError(f"{uri!r} is not an absolute http(s) URI")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise RegistrationError(f"{uri!r} must use https (http is allowed only on loopback)")
    if "#" in uri:
        raise RegistrationError(f"{uri!r} must not contain a fragment (RFC 6749 §3.1.2)")
    if "*" in uri:
        raise RegistrationError(f"{uri!r} must not contain a wildcard: matching is exact")
    if parts.username or parts.password:
        raise RegistrationError(f"{uri!r} must not contain credentials")
    return uri


def is_registered(redirect_uri: str, registered: Sequence[str]) -> bool:
    """RFC 9700 §4.1.3: exact string comparison, no patterns, no normalisation. Authlib calls
    this (OAuthClient.check_redirect_uri) for every authorization request, and again when the
    stored request is validated before its code is issued."""
    return redirect_uri in registered
