"""Transition shim for web/account.py (moved to the sign-in use cases; removed at merge)."""

from __future__ import annotations

from quart import Response

from idp.oauth.models import Subject
from idp.web import signin_pages
from idp.web.common import services


async def signed_in_subject() -> Subject | None:
    return await signin_pages.current_subject(services().signin.customers)


async def sign_out(response: Response) -> None:
    await signin_pages.sign_out(services().signin.customers, response)
