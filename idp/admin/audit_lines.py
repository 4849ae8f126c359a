"""The audit log as an operator reads it: one plain sentence per row ("changed role of x@y from
operator to owner"). Known kinds say what happened; any other kind lists its details as
"key: value". Plain text: the page escapes it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Detail = Mapping[str, Any]


def value(v: Any) -> str:
    """One detail as text: lists joined, nested mappings as key=value, None as "none"."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list | tuple):
        return ", ".join(value(x) for x in v) or "none"
    if isinstance(v, Mapping):
        return ", ".join(f"{k}={value(x)}" for k, x in v.items()) or "none"
    return str(v)


def pairs(detail: Detail) -> str:
    """The generic line: every detail as "key: value", in the order recorded."""
    return "; ".join(f"{k}: {value(v)}" for k, v in detail.items())


def said(template: str) -> Callable[[Detail], str]:
    """A line from a template of detail names ("{email}"); a missing detail reads "?"."""

    def line(detail: Detail) -> str:
        return template.format_map(_Missing({k: value(v) for k, v in detail.items()}))

    return line


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def client_updated(detail: Detail) -> str:
    before, after = detail.get("before") or {}, detail.get("after") or {}
    changes = [
        f"{name.replace('_', ' ')} from {value(before.get(name))} to {value(after[name])}"
        for name in after
    ]
    return f"changed client {value(detail.get('client_id'))}: " + ("; ".join(changes) or "nothing")


def admin_timezone(detail: Detail) -> str:
    zone = detail.get("timezone") or "the supplier's (IDP_TIMEZONE)"
    return f"{value(detail.get('email'))} reads times in {zone} now"


def held_link(decision: str) -> Callable[[Detail], str]:
    def line(detail: Detail) -> str:
        moved = detail.get("moved_from") or {}
        froms = "; ".join(f"{device} from {owner}" for device, owner in moved.items())
        return (
            f"{decision} the held link of {value(detail.get('supplier_user_id'))} "
            f"(devices {value(detail.get('device_ids'))}{'; ' + froms if froms else ''})"
        )

    return line


LINES: dict[str, Callable[[Detail], str]] = {
    # admins
    "admin.admin.created": said("added admin {email} as {role}"),
    "admin.admin.removed": said("removed admin {email} ({role})"),
    "admin.admin.role_changed": said("changed role of {email} from {was} to {role}"),
    "admin.admin.totp_reenrolled": said("{email} enrolled a new authenticator"),
    "admin.admin.timezone_changed": admin_timezone,
    "admin.forbidden": said("was refused {path}: it needs the {needed} role"),
    "admin.signed_in": said("signed in to the console"),
    "admin_signin_failed": said("failed to sign in to the console"),
    "admin_signin_throttled": said("console sign-in throttled for {wait} s"),
    "admin_totp_reused": said("offered a console code that was used already"),
    "admin_totp_reenrol_failed": said("failed to confirm a new authenticator"),
    # clients
    "admin.client.created": said("registered client {client_id} ({name}), hand-off {handoff_mode}"),
    "admin.client.updated": client_updated,
    "admin.client.disabled": said("disabled client {client_id}"),
    "admin.client.enabled": said("enabled client {client_id}"),
    "admin.client.secret_rotated": said("rotated the secret of client {client_id}"),
    "admin.redirect_uri.added": said("added redirect URI {uri} to client {client_id}"),
    "admin.redirect_uri.removed": said("removed redirect URI {uri} from client {client_id}"),
    "admin.post_logout_redirect_uri.added": said(
        "added post-logout redirect URI {uri} to client {client_id}"
    ),
    "admin.post_logout_redirect_uri.removed": said(
        "removed post-logout redirect URI {uri} from client {client_id}"
    ),
    "admin.keys.rotated": said("made a new {alg} signing key current ({kid})"),
    # customers
    "admin.customer.added": said("added customer {supplier_user_id}"),
    "admin.customer.imported": said(
        "imported customers: {imported} added, {already_present} already present, "
        "{rejected} lines refused"
    ),
    "admin.customer.disabled": said("disabled customer {supplier_user_id}"),
    "admin.customer.enabled": said("enabled customer {supplier_user_id}"),
    "admin.customer.throttle_cleared": said("cleared the sign-in throttle of {supplier_user_id}"),
    "admin.customer.exported": said("exported the data of customer {supplier_user_id}"),
    "admin.customer.erased": said("erased a customer, kept as {pseudonym}"),
    # terms, outbox, held links
    "admin.terms.uploaded": said("uploaded the {language} text of terms {version}"),
    "admin.terms.published": said("published terms {version} ({texts} texts)"),
    "admin.terms.made_current": said("made terms {version} current again (was {was})"),
    "admin.terms.unpublished": said("unpublished terms {version} ({texts} texts)"),
    "admin.outbox.retried": said("retried hand-off {handoff_id}"),
    "admin.link.approved": held_link("approved"),
    "admin.link.rejected": held_link("rejected"),
    # customers' own events
    "signin_failed": said("failed to sign in"),
    "signin_throttled": said("sign-in throttled for {wait} s"),
    "password_reset": said("set a new password with a reset link"),
    "access_withdrawn": said("withdrew the access of client {client_id}"),
    "nox_webhook_bad_signature": said("NOX webhook {webhook_id} had a wrong signature"),
}


def audit_line(kind: str, detail: Detail | None) -> str:
    """What an audit row says, in a line."""
    if not isinstance(detail, Mapping):
        return value(detail) if detail else ""
    line = LINES.get(kind)
    return line(detail) if line is not None else pairs(detail)
