"""Rules for a client's secret (redirect URIs: redirect_uris.py)."""

from __future__ import annotations

MIN_SECRET_LENGTH = 32


class RegistrationError(ValueError):
    pass


def validate_secret(secret: str) -> str:
    if len(secret) < MIN_SECRET_LENGTH:
        raise RegistrationError(f"a client secret must be at least {MIN_SECRET_LENGTH} characters")
    return secret
