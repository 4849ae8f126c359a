"""ID token signing keys: generation, the current key, and the published JWKS (RFC 7517)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey, RSAKey, import_key

ALGORITHMS = ("RS256", "ES256")


def generate_key(alg: str = "RS256") -> tuple[str, dict[str, Any]]:
    """A new private key as (kid, private JWK). The kid is the RFC 7638 thumbprint."""
    key: RSAKey | ECKey
    if alg == "RS256":
        key = RSAKey.generate_key(2048, private=True)
    elif alg == "ES256":
        key = ECKey.generate_key("P-256", private=True)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}; use one of {ALGORITHMS}")
    kid = key.thumbprint()
    return kid, key.as_dict(private=True)


@dataclass(frozen=True)
class PublishedKey:
    kid: str
    alg: str
    key: Any  # a joserfc key

    def public_jwk(self) -> dict[str, Any]:
        jwk = self.key.as_dict(private=False)
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk


class KeyRing:
    """The current signing key plus the retired keys that still verify live ID tokens."""

    def __init__(self, keys: list[PublishedKey]) -> None:
        if not keys:
            raise ValueError("no signing key; run `idp keys rotate`")
        self.keys = keys

    @classmethod
    def from_records(cls, records: list[Any]) -> KeyRing:
        return cls([PublishedKey(r.kid, r.alg, import_key(r.private_jwk)) for r in records])

    @property
    def current(self) -> PublishedKey:
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.keys]}

    def algorithms(self) -> list[str]:
        return sorted({k.alg for k in self.keys})
