"""TOTP (RFC 6238) for admin sign-in: a code of the current 30-second step or its neighbours,
each code accepted only once (the step is remembered)."""

from __future__ import annotations

import hmac

import pyotp

STEP = 30
WINDOW = 1  # one step either way, for clock drift


def matching_step(secret: str, code: str, now: int) -> int | None:
    """The time step whose code is `code`, within the window around `now`; None if none is."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret, interval=STEP)
    current = now // STEP
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.at(step * STEP), code):
            return step
    return None
