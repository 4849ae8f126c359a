"""A TOTP enrolment URI as a QR code, drawn on the server (segno): an SVG in a data: URI, which
the pages' Content-Security-Policy allows (`img-src 'self' data:`), no script needed."""

from __future__ import annotations

import segno


def qr_data_uri(text: str) -> str:
    """`text` as a QR code (error correction M), 4 pixels a module, a 4-module quiet zone."""
    return str(segno.make(text, error="m").svg_data_uri(scale=4, border=4))
