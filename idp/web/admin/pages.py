"""What every console view shares: its dependencies, the signed-in admin, the console's language,
role checks and the page frame (CSRF token, roles, configuration warnings)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from quart import Response, g, request
from quart import session as session_cookie

from idp.admin.actions import Actor, AdminActions, role_allows
from idp.admin.console import ConsoleQueries
from idp.admin.signin import AdminSignIn
from idp.admin.timezones import zone_of
from idp.config import Settings
from idp.i18n import LANGUAGE_NAMES, N_, pick_language, set_language
from idp.i18n import gettext as _
from idp.records import Admin
from idp.security.browser import csrf_token
from idp.vocab import ADMIN_ROLES
from idp.web.common import client_ip, page

ADMIN_COOKIE = "idp_admin"
# In the signed session cookie: the language chosen on the sign-in page (its switcher).
CHOSEN_LANGUAGE = "admin_language"
# The roles as the console names them; the values (ADMIN_ROLES) stay as they are in forms.
ROLE_LABELS = {"viewer": N_("viewer"), "operator": N_("operator"), "owner": N_("owner")}
F = TypeVar("F", bound=Callable[..., Awaitable[Response]])


def admin() -> Admin:
    """The admin of this request's console session (the gate lets no one else through)."""
    found: Admin = g.admin
    return found


def actor() -> Actor:
    return Actor(f"admin:{admin().email}", client_ip())


def choose_language(signed_in: Admin | None) -> None:
    """The console's language for this request: the admin's own preference, else the one
    chosen with the sign-in page's switcher (?language=, kept in this browser), else the
    browser's Accept-Language among nl, en, fr and es, else nl."""
    asked = request.args.get("language")
    if asked in LANGUAGE_NAMES and session_cookie.get(CHOSEN_LANGUAGE) != asked:
        session_cookie[CHOSEN_LANGUAGE] = asked
    set_language(
        pick_language(
            signed_in.language if signed_in else None,
            asked if asked in LANGUAGE_NAMES else None,
            session_cookie.get(CHOSEN_LANGUAGE),
            request.headers.get("Accept-Language"),
        )
    )


def forget_chosen_language() -> None:
    """The admin chose in their preferences: the sign-in page's choice no longer counts."""
    session_cookie.pop(CHOSEN_LANGUAGE, None)


def role_label(role: str) -> str:
    return _(ROLE_LABELS.get(role, role))


@dataclass(frozen=True)
class Console:
    """The console's dependencies: changes, reads, sign-in, and the settings it shows."""

    actions: AdminActions
    queries: ConsoleQueries
    signin: AdminSignIn
    settings: Settings

    async def page(self, template: str, status: int = 200, **context: Any) -> Response:
        """An admin page in the console's language (choose_language), with the warnings every
        signed-in admin should see, its times in the admin's zone (the `when` filter,
        web/admin/preferences.py)."""
        template = template if template == "error.html" else f"admin/{template}"
        signed_in = g.get("admin")
        warnings = await self.queries.configuration_warnings() if signed_in else []
        return await page(
            template,
            status,
            admin=signed_in,
            csrf_token=csrf_token(),
            roles=ADMIN_ROLES,
            role_label=role_label,
            languages=LANGUAGE_NAMES,
            config_warnings=warnings,
            zone=zone_of(signed_in.timezone if signed_in else None, self.settings.zone),
            **context,
        )

    async def error(self, status: int, message: str) -> Response:
        return await self.page(
            "error.html", status, message=message, back_url="/admin", back_label=_("Console")
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
                    needs = _("This needs the %(role)s role.") % {"role": role_label(role)}
                    return await self.error(403, needs)
                return await view(*args, **kwargs)

            return guarded  # type: ignore[return-value]

        return decorate
