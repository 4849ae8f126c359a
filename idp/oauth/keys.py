"""ID token signing keys: generation, the current key, the published JWKS (RFC 7517), and the
cache that reloads them from storage."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey, RSAKey, import_key

from idp.oauth.ports import SigningKeys
from idp.records import SigningKey
from idp.security.clock import Clock

ALGORITHMS = ("RS256", "ES256")
# How long a loaded key ring is used before the keys are read again.
KEY_REFRESH_SECONDS = 60


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
    def from_records(cls, records: list[SigningKey]) -> KeyRing:
        return cls([PublishedKey(r.kid, r.alg, import_key(r.private_jwk)) for r in records])

    @property
    def current(self) -> PublishedKey:
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.keys]}

    def algorithms(self) -> list[str]:
        return sorted({k.alg for k in self.keys})

    def key_set(self) -> tuple[tuple[str, str], ...]:
        """What the published documents depend on: each key's id and algorithm, in order."""
        return tuple((k.kid, k.alg) for k in self.keys)


class KeyCache:
    """The published keys, reloaded now and then so that a rotation by `idp keys rotate` in
    another process is picked up; the first key is made when there is none."""

    def __init__(self, keys: SigningKeys, clock: Clock, id_token_seconds: int) -> None:
        self.keys = keys
        self.clock = clock
        # A retired key stays published while an ID token it signed may still be live.
        self.id_token_seconds = id_token_seconds
        self._ring: KeyRing | None = None
        self._loaded_at = -(10**9)
        self._reading = asyncio.Lock()  # one read at a time when the ring goes stale
        self._reads = 0

    @property
    def ring(self) -> KeyRing:
        """The key ring last loaded (the protocol thread signs with it; `refresh` runs first)."""
        assert self._ring is not None, "the keys are loaded when the app starts serving"
        return self._ring

    async def refresh(self, force: bool = False) -> KeyRing:
        """The key ring, read again from storage when `force`d or older than a minute."""
        if not force and self._ring and self.clock.now() - self._loaded_at < KEY_REFRESH_SECONDS:
            return self._ring
        reads = self._reads
        async with self._reading:
            if self._ring and self._reads != reads:
                return self._ring  # read meanwhile by the request that held the lock
            now = self.clock.now()
            records = await self.keys.published(now - self.id_token_seconds)
            if not records:
                kid, jwk = generate_key("RS256")
                await self.keys.add_current(kid=kid, alg="RS256", private_jwk=jwk, now=now)
                records = await self.keys.published(now - self.id_token_seconds)
            self._ring = KeyRing.from_records(records)
            self._loaded_at = now
            self._reads += 1
            return self._ring
