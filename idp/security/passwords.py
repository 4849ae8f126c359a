"""Password hashing with libpass: argon2id for new hashes, legacy formats accepted and upgraded.

Hashing is CPU-bound, so the async helpers run it in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass

from passlib.context import CryptContext

from idp.security.secrets import new_secret

# Every format a supplier may bring in an import; all but argon2 are re-hashed at next sign-in.
LEGACY_SCHEMES = [
    "bcrypt",
    "pbkdf2_sha256",
    "pbkdf2_sha512",
    "sha512_crypt",
    "sha256_crypt",
    "django_pbkdf2_sha256",
    "bcrypt_sha256",
    "scrypt",
]
context = CryptContext(schemes=["argon2", *LEGACY_SCHEMES], deprecated="auto")


@dataclass(frozen=True)
class Verification:
    ok: bool
    new_hash: str | None = None


def hash_password(password: str) -> str:
    return context.hash(password)


def is_known_hash(value: str) -> bool:
    """True when `value` is a well-formed hash in one of the accepted formats."""
    try:
        handler = context.identify(value, required=False, resolve=True)
        if handler is None:
            return False
        handler.from_string(value)  # parses every field: a broken body is not a hash
        return True
    except (ValueError, TypeError):
        return False


def verify(password: str, stored_hash: str) -> Verification:
    try:
        ok, new_hash = context.verify_and_update(password, stored_hash)
    except (ValueError, TypeError):
        return Verification(False)
    return Verification(bool(ok), new_hash if ok else None)


@functools.cache
def dummy_hash() -> str:
    """Checked when the email is unknown, so that a wrong email costs what a wrong password
    costs. Made on first use: every `idp` command imports this module."""
    return hash_password(new_secret())


async def verify_async(password: str, stored_hash: str | None) -> Verification:
    if stored_hash is None:
        await asyncio.to_thread(verify, password, dummy_hash())
        return Verification(False)
    return await asyncio.to_thread(verify, password, stored_hash)


async def hash_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)
