"""Who makes an admin change, what their role lets them do, and how a refused change is said."""

from __future__ import annotations

from dataclasses import dataclass

from idp.vocab import ADMIN_ROLES


class ActionError(ValueError):
    """The change was refused; the message says why in plain words. Nothing was changed."""


@dataclass(frozen=True)
class Actor:
    """Who the audit row names: "admin:<email>" (the console) or "cli:<user>" (the command)."""

    name: str
    ip: str | None = None


def role_allows(role: str, needed: str) -> bool:
    """True when `role` may do what `needed` may (ADMIN_ROLES runs from least to most)."""
    return ADMIN_ROLES.index(role) >= ADMIN_ROLES.index(needed)
