"""The audit log: admin changes and security events, filtered by kind, actor and days."""

from __future__ import annotations

import datetime as dt

from quart import Blueprint, Response, request

from idp.web.admin.pages import Console


def day(value: str | None, plus: int = 0) -> int | None:
    """A YYYY-MM-DD filter as Unix seconds at the start of that day (UTC), or None."""
    if not value:
        return None
    try:
        start = dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return int((start + dt.timedelta(days=plus)).timestamp())


def register(bp: Blueprint, console: Console) -> None:
    @bp.get("/audit")
    async def audit() -> Response:
        args = request.args
        events = await console.queries.audit_log(
            kind=args.get("kind") or None,
            actor=args.get("actor") or None,
            since=day(args.get("since")),
            until=day(args.get("until"), plus=1),
        )
        return await console.page("audit.html", events=events, filters=args)
