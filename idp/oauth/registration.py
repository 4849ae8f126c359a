"""Rules for what may be registered on a client (RFC 6749 §3.1.2, RFC 9700 §2.1, §4.1.3)."""

from __future__ import annotations

from urllib.parse import urlsplit

from idp.config import is_loopback_host

MIN_SECRET_LENGTH = 32


class RegistrationError(ValueError):
    pass


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


def validate_secret(secret: str) -> str:
    if len(secret) < MIN_SECRET_LENGTH:
        raise RegistrationError(f"a client secret must be at least {MIN_SECRET_LENGTH} characters")
    return secret
