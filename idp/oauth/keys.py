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
# How long a relying party may cache the JWKS (its Cache-Control).
JWKS_MAX_AGE_SECONDS = 300
# A new key is published at once but signs only this long after it was made: by then every
# instance has reloaded its keys (two reload periods, for margin), and every relying party's
# cached JWKS, whichever instance it came from, lists the key of any ID token it is given.
KEY_ACTIVATION_SECONDS = JWKS_MAX_AGE_SECONDS + 2 * KEY_REFRESH_SECONDS
# How long a key retired by a rotation may still sign (until the new key is active, plus the
# reload period of a ring loaded just before that); it stays published for this, plus the ID
# token lifetime.
KEY_SIGNS_AFTER_RETIREMENT = KEY_ACTIVATION_SECONDS + KEY_REFRESH_SECONDS


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
    """The published keys, newest first (the JWKS), and `current`, the one that signs."""

    def __init__(self, keys: list[PublishedKey], current: int = 0) -> None:
        if not keys:
            raise ValueError("no signing key; run `idp keys rotate`")
        self.keys = keys
        self.current = keys[current]

    @classmethod
    def from_records(cls, records: list[SigningKey], now: int) -> KeyRing:
        """`records` newest first. The newest key made at least KEY_ACTIVATION_SECONDS ago
        signs; when none is that old (the very first key, or two made by workers starting on an
        empty table at once), the oldest, so that every instance picks the same one."""
        keys = [PublishedKey(r.kid, r.alg, import_key(r.private_jwk)) for r in records]
        active = [i for i, r in enumerate(records) if r.created_at <= now - KEY_ACTIVATION_SECONDS]
        return cls(keys, active[0] if active else len(keys) - 1)

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
            # A retired key may have signed until KEY_SIGNS_AFTER_RETIREMENT after it retired.
            retired_after = now - self.id_token_seconds - KEY_SIGNS_AFTER_RETIREMENT
            records = await self.keys.published(retired_after)
            if not records:
                kid, jwk = generate_key("RS256")
                await self.keys.add_current(kid=kid, alg="RS256", private_jwk=jwk, now=now)
                records = await self.keys.published(retired_after)
            self._ring = KeyRing.from_records(records, now)
            self._loaded_at = now
            self._reads += 1
            return self._ring
