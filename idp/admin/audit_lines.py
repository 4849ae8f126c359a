"""The audit log as an operator reads it: one plain sentence per row ("changed role of x@y from
operator to owner"), in the reader's language (the recorded values stay as recorded). Known
kinds say what happened; any other kind lists its details as "key: value". Plain text: the page
escapes it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from idp.i18n import N_
from idp.i18n import gettext as _

Detail = Mapping[str, Any]


def value(v: Any) -> str:
    """One detail as text: lists joined, nested mappings as key=value, None as "none"."""
    if v is None:
        return _("none")
    if isinstance(v, bool):
        return _("yes") if v else _("no")
    if isinstance(v, list | tuple):
        return ", ".join(value(x) for x in v) or _("none")
    if isinstance(v, Mapping):
        return ", ".join(f"{k}={value(x)}" for k, x in v.items()) or _("none")
    return str(v)


def pairs(detail: Detail) -> str:
    """The generic line: every detail as "key: value", in the order recorded."""
    return "; ".join(f"{k}: {value(v)}" for k, v in detail.items())


def said(template: str) -> Callable[[Detail], str]:
    """A line from a template of detail names ("%(email)s"), translated when the line is made;
    a missing detail reads "?"."""

    def line(detail: Detail) -> str:
        return _(template) % _Missing({k: value(v) for k, v in detail.items()})

    return line


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def client_updated(detail: Detail) -> str:
    before, after = detail.get("before") or {}, detail.get("after") or {}
    changes = [
        _("%(setting)s from %(was)s to %(now)s")
        % {
            "setting": name.replace("_", " "),
            "was": value(before.get(name)),
            "now": value(after[name]),
        }
        for name in after
    ]
    return _("changed client %(client_id)s: %(changes)s") % {
        "client_id": value(detail.get("client_id")),
        "changes": "; ".join(changes) or _("nothing"),
    }


def admin_timezone(detail: Detail) -> str:
    zone = detail.get("timezone") or _("the supplier's (IDP_TIMEZONE)")
    return _("%(email)s reads times in %(zone)s now") % {
        "email": value(detail.get("email")),
        "zone": zone,
    }


def admin_language(detail: Detail) -> str:
    language = detail.get("language") or _("the browser's")
    return _("%(email)s reads the console in %(language)s now") % {
        "email": value(detail.get("email")),
        "language": language,
    }


def held_link(template: str) -> Callable[[Detail], str]:
    def line(detail: Detail) -> str:
        moved = detail.get("moved_from") or {}
        froms = "; ".join(
            _("%(device)s from %(owner)s") % {"device": device, "owner": owner}
            for device, owner in moved.items()
        )
        return _(template) % {
            "customer": value(detail.get("supplier_user_id")),
            "devices": value(detail.get("device_ids")) + ("; " + froms if froms else ""),
        }

    return line


LINES: dict[str, Callable[[Detail], str]] = {
    # admins
    "admin.admin.created": said(N_("added admin %(email)s as %(role)s")),
    "admin.admin.removed": said(N_("removed admin %(email)s (%(role)s)")),
    "admin.admin.role_changed": said(N_("changed role of %(email)s from %(was)s to %(role)s")),
    "admin.admin.totp_reenrolled": said(N_("%(email)s enrolled a new authenticator")),
    "admin.admin.timezone_changed": admin_timezone,
    "admin.admin.language_changed": admin_language,
    "admin.forbidden": said(N_("was refused %(path)s: it needs the %(needed)s role")),
    "admin.signed_in": said(N_("signed in to the console")),
    "admin_signin_failed": said(N_("failed to sign in to the console")),
    "admin_signin_throttled": said(N_("console sign-in throttled for %(wait)s s")),
    "admin_totp_reused": said(N_("offered a console code that was used already")),
    "admin_totp_reenrol_failed": said(N_("failed to confirm a new authenticator")),
    # clients
    "admin.client.created": said(
        N_("registered client %(client_id)s (%(name)s), hand-off %(handoff_mode)s")
    ),
    "admin.client.updated": client_updated,
    "admin.client.disabled": said(N_("disabled client %(client_id)s")),
    "admin.client.enabled": said(N_("enabled client %(client_id)s")),
    "admin.client.secret_rotated": said(N_("rotated the secret of client %(client_id)s")),
    "admin.redirect_uri.added": said(N_("added redirect URI %(uri)s to client %(client_id)s")),
    "admin.redirect_uri.removed": said(
        N_("removed redirect URI %(uri)s from client %(client_id)s")
    ),
    "admin.post_logout_redirect_uri.added": said(
        N_("added post-logout redirect URI %(uri)s to client %(client_id)s")
    ),
    "admin.post_logout_redirect_uri.removed": said(
        N_("removed post-logout redirect URI %(uri)s from client %(client_id)s")
    ),
    "admin.keys.rotated": said(
        N_("published a new %(alg)s signing key (%(kid)s), which signs minutes later")
    ),
    # customers
    "admin.customer.added": said(N_("added customer %(supplier_user_id)s")),
    "admin.customer.imported": said(
        N_(
            "imported customers: %(imported)s added, %(already_present)s already present, "
            "%(rejected)s lines refused"
        )
    ),
    "admin.customer.disabled": said(N_("disabled customer %(supplier_user_id)s")),
    "admin.customer.enabled": said(N_("enabled customer %(supplier_user_id)s")),
    "admin.customer.throttle_cleared": said(
        N_("cleared the sign-in throttle of %(supplier_user_id)s")
    ),
    "admin.customer.exported": said(N_("exported the data of customer %(supplier_user_id)s")),
    "admin.customer.erased": said(N_("erased a customer, kept as %(pseudonym)s")),
    # terms, outbox, held links
    "admin.terms.uploaded": said(N_("uploaded the %(language)s text of terms %(version)s")),
    "admin.terms.published": said(N_("published terms %(version)s (%(texts)s texts)")),
    "admin.terms.made_current": said(N_("made terms %(version)s current again (was %(was)s)")),
    "admin.terms.unpublished": said(N_("unpublished terms %(version)s (%(texts)s texts)")),
    "admin.outbox.retried": said(N_("retried hand-off %(handoff_id)s")),
    "admin.link.approved": held_link(
        N_("approved the held link of %(customer)s (devices %(devices)s)")
    ),
    "admin.link.rejected": held_link(
        N_("rejected the held link of %(customer)s (devices %(devices)s)")
    ),
    # customers' own events
    "signin_failed": said(N_("failed to sign in")),
    "signin_throttled": said(N_("sign-in throttled for %(wait)s s")),
    "password_reset": said(N_("set a new password with a reset link")),
    "access_withdrawn": said(N_("withdrew the access of client %(client_id)s")),
    "nox_webhook_bad_signature": said(N_("NOX webhook %(webhook_id)s had a wrong signature")),
}


def audit_line(kind: str, detail: Detail | None) -> str:
    """What an audit row says, in a line."""
    if not isinstance(detail, Mapping):
        return value(detail) if detail else ""
    line = LINES.get(kind)
    return line(detail) if line is not None else pairs(detail)
