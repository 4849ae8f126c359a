"""What we know of NOX's registry: the asset types and makers it offers, which maker fits which
asset type, and when a linked device becomes steerable (NOX-CONTRACT, flow 2)."""

from __future__ import annotations

import datetime as dt
import re

ASSET_TYPES = ("hp", "pv")
# Makers NOX lists per asset type (the contract's examples; NOX may know more).
BRANDS = {
    "hp": (
        "daikin",
        "nibe",
        "vaillant",
        "viessmann",
        "mitsubishi",
        "saunier-duval",
        "alpha-innotec",
    ),
    "pv": ("sma", "fronius", "solaredge", "enphase", "huawei"),
}
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")  # how NOX spells a maker
STEERING_AFTER = dt.timedelta(days=30)  # NOX needs about 30 days of data before steering well


def brand_fits(asset_type: str, brand: str) -> bool:
    """False when `brand` is a maker NOX lists only for the other asset type."""
    return brand in BRANDS.get(asset_type, ()) or not any(
        brand in makers for kind, makers in BRANDS.items() if kind != asset_type
    )


def steerable_from(first_linked_at: int) -> dt.date:
    """The day from which NOX can steer a device that first linked at `first_linked_at` (Unix
    seconds): re-links and owner moves do not restart NOX's 30 days."""
    return dt.datetime.fromtimestamp(first_linked_at, dt.UTC).date() + STEERING_AFTER
