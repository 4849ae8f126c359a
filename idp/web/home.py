"""`/`: a small page that sends a visitor where they may want to go, not a 404."""

from __future__ import annotations

from quart import Blueprint, Response

from idp.web.account import pick_page_language
from idp.web.common import page

bp = Blueprint("home", __name__)


@bp.get("/")
async def home() -> Response:
    pick_page_language()
    return await page("home.html")
