"""What every console view shares: its dependencies, the signed-in admin, role checks and the
page frame (CSRF token, roles, configuration warnings)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from quart import Response, g, request

from idp.admin.actions import Actor, AdminActions, role_allows
from idp.admin.console import ConsoleQueries
from idp.admin.signin import AdminSignIn
from idp.admin.timezones import zone_of
from idp.config import Settings
from idp.records import Admin
from idp.security.browser import csrf_token
from idp.vocab import ADMIN_ROLES
from idp.web.common import client_ip, page

ADMIN_COOKIE = "idp_admin"
F = TypeVar("F", bound=Callable[..., Awaitable[Response]])


def admin() -> Admin:
    """The admin of this request's console session (the gate lets no one else through)."""
    found: Admin = g.admin
    return found


def actor() -> Actor:
    return Actor(f"admin:{admin().email}", client_ip())


@dataclass(frozen=True)
class Console:
    """The console's dependencies: changes, reads, sign-in, and the settings it shows."""

    actions: AdminActions
    queries: ConsoleQueries
    signin: AdminSignIn
    settings: Settings

    async def page(self, template: str, status: int = 200, **context: Any) -> Response:
        """An admin page (English), with the warnings every signed-in admin should see, its
        times in the admin's zone (the `when` filter, web/admin/preferences.py)."""
        template = template if template == "error.html" else f"admin/{template}"
        signed_in = g.get("admin")
        warnings = await self.queries.configuration_warnings() if signed_in else []
        return await page(
            template,
            status,
            admin=signed_in,
            csrf_token=csrf_token(),
            roles=ADMIN_ROLES,
            config_warnings=warnings,
            zone=zone_of(signed_in.timezone if signed_in else None, self.settings.zone),
            **context,
        )

    async def error(self, status: int, message: str) -> Response:
        return await self.page(
            "error.html", status, message=message, back_url="/admin", back_label="Console"
        )

    def requires(self, role: str) -> Callable[[F], F]:
        """Refuse (403, nothing changed, audited) an admin whose role is below `role`."""

        def decorate(view: F) -> F:
            @functools.wraps(view)
            async def guarded(*args: Any, **kwargs: Any) -> Response:
                if not role_allows(admin().role, role):
                    await self.actions.audit(
                        "admin.forbidden", actor(), path=request.path, needed=role
                    )
                    return await self.error(403, f"This needs the {role} role.")
                return await view(*args, **kwargs)

            return guarded  # type: ignore[return-value]

        return decorate
