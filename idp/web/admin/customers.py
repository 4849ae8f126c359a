"""Customers: listed newest first (paged) or searched, one customer's record, disable or enable,
clear a sign-in throttle, export their data or erase it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from quart import Blueprint, Response, request

from idp.admin.actions import ActionError
from idp.i18n import gettext as _
from idp.web.admin.pages import Console, actor
from idp.web.common import go


def page_key(value: str) -> int:
    """A paging id from the query string (ValueError: ignored, the first page is shown)."""
    key = int(value)
    if not 0 <= key < 2**63:
        raise ValueError(value)
    return key


def register(bp: Blueprint, console: Console) -> None:
    actions, queries = console.actions, console.queries

    async def customer_page(user_id: int, status: int = 200, **extra: Any) -> Response:
        found = await queries.customer(user_id)
        if found is None:
            return await console.error(404, _("There is no such customer."))
        return await console.page(
            "customer.html",
            status,
            user=found.user,
            devices=found.devices,
            history=found.history,
            acceptances=found.acceptances,
            signins=found.signins,
            throttled=found.throttled,
            **extra,
        )

    async def customer_action(user_id: int, action: Callable[[], Awaitable[Any]]) -> Response:
        """Run the change; back to the customer's page, or that page with why it was refused."""
        try:
            await action()
        except ActionError as exc:
            return await customer_page(user_id, 400, error=str(exc))
        return go(f"/admin/customers/{user_id}")

    @bp.get("/customers")
    async def customers() -> Response:
        """The search when there is one, else every customer, newest first, a page at a time."""
        query = request.args.get("q", "").strip()[:320]
        if query:
            found = await queries.search_customers(query)
            return await console.page("customers.html", query=query, customers=found)
        listed = await queries.customers_page(
            before=request.args.get("before", type=page_key),
            after=request.args.get("after", type=page_key),
        )
        return await console.page(
            "customers.html",
            query="",
            customers=listed.customers,
            newer=listed.newer,
            older=listed.older,
        )

    @bp.get("/customers/<int:user_id>")
    async def customer(user_id: int) -> Response:
        return await customer_page(user_id)

    @bp.post("/customers/<int:user_id>/disable")
    @console.requires("operator")
    async def disable_customer(user_id: int) -> Response:
        form = await request.form
        disabled = form.get("disabled") == "yes"
        if disabled and form.get("confirm") != "yes":
            error = _("Tick the box to confirm disabling the customer; nothing was changed.")
            return await customer_page(user_id, 400, error=error)
        return await customer_action(
            user_id, lambda: actions.set_customer_disabled(actor(), user_id, disabled)
        )

    @bp.post("/customers/<int:user_id>/clear-throttle")
    @console.requires("operator")
    async def clear_throttle(user_id: int) -> Response:
        return await customer_action(user_id, lambda: actions.clear_throttle(actor(), user_id))

    @bp.post("/customers/<int:user_id>/export")
    @console.requires("operator")
    async def export_customer(user_id: int) -> Response:
        """Everything stored about the customer, as a JSON file to hand them (Art. 15, 20)."""
        try:
            document = await actions.export_customer(actor(), user_id)
        except ActionError as exc:
            return await customer_page(user_id, 400, error=str(exc))
        body = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        name = f"customer-{user_id}.json"
        return Response(
            body,
            content_type="application/json; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @bp.post("/customers/<int:user_id>/erase")
    @console.requires("owner")
    async def erase_customer(user_id: int) -> Response:
        if (await request.form).get("confirm") != "yes":
            return await customer_page(
                user_id, 400, error=_("Tick the box to confirm the erasure; nothing was erased.")
            )
        try:
            pseudonym = await actions.erase_customer(actor(), user_id)
        except ActionError as exc:
            return await customer_page(user_id, 400, error=str(exc))
        return await console.page("customer_erased.html", pseudonym=pseudonym)
