"""Hand-offs that did not reach NOX yet (retry), and device moves held for an operator."""

from __future__ import annotations

from quart import Blueprint, Response

from idp.admin.actions import ActionError
from idp.i18n import gettext as _
from idp.web.admin.pages import Console, actor
from idp.web.common import go

DECISIONS = {"approve": True, "reject": False}


def register(bp: Blueprint, console: Console) -> None:
    actions, queries = console.actions, console.queries

    @bp.get("/outbox")
    async def outbox() -> Response:
        found = await queries.undelivered_handoffs()
        return await console.page(
            "outbox.html", pending=found.pending, failed=found.failed, expired=found.expired
        )

    @bp.post("/outbox/<handoff_id>/retry")
    @console.requires("operator")
    async def retry(handoff_id: str) -> Response:
        try:
            await actions.retry_handoff(actor(), handoff_id)
        except ActionError as exc:
            return await console.error(400, str(exc))
        return go("/admin/outbox")

    # ---- device moves held for an operator (flow 2) ------------------------------------------
    @bp.get("/links/held")
    async def held_links() -> Response:
        return await console.page("held_links.html", held=await queries.held_links())

    @bp.post("/links/held/<held_id>/<decision>")
    @console.requires("operator")
    async def decide_held_link(held_id: str, decision: str) -> Response:
        if decision not in DECISIONS:
            return await console.error(404, _("No such decision."))
        try:
            await actions.decide_held_link(actor(), held_id, DECISIONS[decision])
        except ActionError as exc:
            return await console.error(400, str(exc))
        return go("/admin/links/held")
