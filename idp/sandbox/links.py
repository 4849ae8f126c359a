"""NOX's registry in the sandbox: link sessions, and one nox_user_id per supplier_user_id with its
devices (NOX-CONTRACT, flow 2). The HTTP side is in link_api.py (NOX's APIs and the controls) and
link_ui.py (the authenticator the customer's browser walks through).

The rules NOX applies: the nox_user_id is kept on re-link; a re-link replaces that user's devices
of the asset type; one owner per device, the newest link wins. A maker account may hold several
devices (the payload then lists several device_ids).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

LINK_SESSION_SECONDS = 600
# The makers NOX offers per asset type (slug → name shown); the contract's examples. The sandbox
# plays NOX, which owns this list: it keeps its own rather than importing ours (idp.nox.registry).
BRANDS: dict[str, dict[str, str]] = {
    "hp": {
        "daikin": "Daikin",
        "nibe": "NIBE",
        "vaillant": "Vaillant",
        "viessmann": "Viessmann",
        "mitsubishi": "Mitsubishi Electric",
        "saunier-duval": "Saunier Duval",
        "alpha-innotec": "alpha innotec",
    },
    "pv": {
        "sma": "SMA",
        "fronius": "Fronius",
        "solaredge": "SolarEdge",
        "enphase": "Enphase",
        "huawei": "Huawei",
    },
}
ASSET_LABELS = {"hp": "heat pump", "pv": "solar installation"}
STEERING_AFTER_SECONDS = 30 * 24 * 3600  # NOX needs about 30 days of data after first connect


@dataclass
class LinkSession:
    link_token: str
    link_url: str
    supplier: str
    supplier_user_id: str
    redirect_url: str
    asset_type: str
    language: str
    brand: str | None
    created_at: int
    expires_at: int
    completed_at: int | None = None
    chosen_brand: str | None = None  # what the customer picked on the brand page

    def answer(self) -> dict[str, Any]:
        """NOX's v2 answer to POST /v2/supplier/link-sessions."""
        return {
            "link_url": self.link_url,
            "link_token": self.link_token,
            "supplier": self.supplier,
            "supplier_user_id": self.supplier_user_id,
            "redirect_url": self.redirect_url,
            "language": self.language,
            "brand": self.brand,
            "completed_at": self.completed_at,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


@dataclass
class LinkedUser:
    """NOX's subscriber for one supplier_user_id, with its devices per asset type."""

    nox_user_id: str
    supplier: str
    supplier_user_id: str
    devices: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class LinkOutcome:
    user: LinkedUser
    replaced: list[str]  # this user's earlier devices of the asset type, now unlinked
    moved_from: dict[str, str]  # device id → the supplier_user_id that held it before


@dataclass
class LinkMisbehaviour:
    """How POST /v2/supplier/link-sessions answers: ok, 503, malformed or slow (for a while)."""

    mode: str = "ok"
    delay: float = 0.0
    until: float | None = None  # on the sandbox's clock

    def current(self, now: float) -> LinkMisbehaviour:
        if self.until is not None and now >= self.until:
            self.mode, self.delay, self.until = "ok", 0.0, None
        return self

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "delay": self.delay, "until": self.until}


@dataclass
class LinkState:
    sessions: dict[str, LinkSession] = field(default_factory=dict)
    users: dict[tuple[str, str], LinkedUser] = field(default_factory=dict)
    owners: dict[str, tuple[str, str]] = field(default_factory=dict)  # device → (supplier, user)
    misbehaviour: LinkMisbehaviour = field(default_factory=LinkMisbehaviour)
    brands: dict[str, str] = field(default_factory=dict)  # device → maker
    first_connected: dict[str, int] = field(default_factory=dict)  # device → first connection

    def link(
        self,
        supplier: str,
        supplier_user_id: str,
        asset_type: str,
        device_ids: list[str],
        brand: str = "",
        now: int = 0,
    ) -> LinkOutcome:
        """NOX's rules: keep nox_user_id, replace the user's devices of this asset type, and
        move a device another supplier_user_id held to this one (one owner per device)."""
        key = (supplier, supplier_user_id)
        user = self.users.get(key)
        if user is None:
            user = self.users[key] = LinkedUser(str(uuid.uuid4()), supplier, supplier_user_id)
        replaced = [d for d in user.devices.get(asset_type, []) if d not in device_ids]
        for device in replaced:
            self.owners.pop(device, None)
        moved_from: dict[str, str] = {}
        for device in device_ids:
            owner = self.owners.get(device)
            if owner is not None and owner != key:
                self._drop(self.users[owner], device)
                moved_from[device] = owner[1]
            self.owners[device] = key
            self.brands[device] = brand
            self.first_connected.setdefault(device, now)
        user.devices[asset_type] = list(device_ids)
        return LinkOutcome(user, replaced, moved_from)

    def devices_of(self, supplier: str, supplier_user_id: str, now: int) -> list[dict[str, Any]]:
        """The data API's view of one user: every device NOX holds for them."""
        user = self.users.get((supplier, supplier_user_id))
        if user is None:
            return []
        return [
            {
                "device_id": device,
                "brand": self.brands.get(device),
                "asset_type": asset_type,
                "nox_user_id": user.nox_user_id,
                "steerable_status": "steerable"
                if now - self.first_connected.get(device, now) >= STEERING_AFTER_SECONDS
                else "collecting_data",
                "needs_reauthentication": False,
            }
            for asset_type, ids in sorted(user.devices.items())
            for device in ids
        ]

    @staticmethod
    def _drop(user: LinkedUser, device: str) -> None:
        for asset_type, ids in list(user.devices.items()):
            if device in ids:
                ids.remove(device)
            if not ids:
                del user.devices[asset_type]

    def describe(self) -> dict[str, Any]:
        return {
            "users": [
                {
                    "supplier": u.supplier,
                    "supplier_user_id": u.supplier_user_id,
                    "nox_user_id": u.nox_user_id,
                    "devices": u.devices,
                }
                for u in self.users.values()
            ],
            "devices": {
                device: {"supplier": owner[0], "supplier_user_id": owner[1]}
                for device, owner in self.owners.items()
            },
            "sessions": [
                {**s.answer(), "asset_type": s.asset_type, "chosen_brand": s.chosen_brand}
                for s in self.sessions.values()
            ],
        }
