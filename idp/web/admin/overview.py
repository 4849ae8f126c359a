"""The console's front page (counts, charts of the last 24 hours, NOX readiness) and the
settings overview."""

from __future__ import annotations

from quart import Blueprint, Response

from idp.web.admin.pages import Console


def register(bp: Blueprint, console: Console) -> None:
    @bp.get("")
    async def index() -> Response:
        found = await console.queries.overview(console.actions.clock.now())
        return await console.page(
            "index.html",
            clients=found.clients,
            customers=found.customers,
            pending=found.pending,
            failed=found.failed,
            terms=found.terms,
            signins=found.signins,
            handoffs=found.handoffs,
            readiness=found.readiness,
        )

    @bp.get("/settings")
    async def settings_page() -> Response:
        return await console.page("settings.html", rows=console.queries.settings_overview())
