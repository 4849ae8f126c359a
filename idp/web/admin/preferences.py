"""The admin's own console preferences: the time zone the console's times are shown in and the
language it speaks; and the `when` filter that shows the times so."""

from __future__ import annotations

from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from quart import Blueprint, Response, request

from idp.admin.actions import ActionError
from idp.admin.timezones import local_time, readable, zone_names
from idp.web.admin.pages import Console, actor, admin, forget_chosen_language
from idp.web.common import go


def register(bp: Blueprint, console: Console) -> None:
    default_zone = console.settings.zone

    @pass_context
    def when(context: Context, timestamp: Any) -> Markup | str:
        """A Unix time as `<time datetime="ISO 8601">2026-12-02 19:05 CET</time>` in the zone
        the page was rendered for (Console.page passes `zone`); "" for no time."""
        if timestamp is None or timestamp == "":
            return ""
        zone = context.get("zone") or default_zone
        seconds = int(timestamp)
        iso = local_time(seconds, zone).isoformat()
        return Markup('<time datetime="{}">{}</time>').format(iso, readable(seconds, zone))

    @pass_context
    def hour(context: Context, timestamp: int) -> str:
        """ "19:00": an hour of a chart, as plain text (SVG titles take no markup)."""
        return local_time(int(timestamp), context.get("zone") or default_zone).strftime("%H:%M")

    bp.add_app_template_filter(when, "when")
    bp.add_app_template_filter(hour, "hour")

    async def preferences_page(status: int = 200, **extra: Any) -> Response:
        return await console.page(
            "preferences.html",
            status,
            zones=zone_names(),
            chosen=admin().timezone or "",
            chosen_language=admin().language or "",
            default_zone=console.settings.timezone,
            now=console.actions.clock.now(),
            **extra,
        )

    @bp.get("/preferences")
    async def preferences() -> Response:
        return await preferences_page()

    @bp.post("/preferences")
    async def save_preferences() -> Response:
        form = await request.form
        timezone = form.get("timezone", "")[:128]
        language = form.get("language")  # None (a form without it): left as it is
        try:
            await console.actions.set_admin_preferences(
                actor(), admin().id, timezone, None if language is None else language[:16]
            )
        except ActionError as exc:
            return await preferences_page(400, error=str(exc))
        if language is not None:
            forget_chosen_language()
        return go("/admin/preferences")
