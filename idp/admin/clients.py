"""What a client registration is: the defaults (auth method, grant types, scopes, hand-off
mode), the NOX preset, and the checks a registration or a hand-off change must pass.

The one home of these rules: the console and the `idp` command both reach them through
AdminActions, so a client registered either way is the same client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idp.admin.actor import ActionError, Actor
from idp.admin.audited import AuditedActions, transactional
from idp.config import Settings
from idp.i18n import N_
from idp.i18n import gettext as _
from idp.nox.handoff import handoff_url_problem
from idp.oauth.endpoints import INTROSPECTION_SCOPE
from idp.oauth.models import SCOPES
from idp.oauth.redirect_uris import validate_redirect_uri
from idp.oauth.registration import RegistrationError, validate_secret
from idp.records import Client
from idp.security.secrets import digest, new_secret
from idp.store.clients import DuplicateClient
from idp.vocab import CLIENT_AUTH_METHODS, GRANT_TYPES, HANDOFF_MODES, UriKind

NOX_PRESET = "nox"
PRESETS = (NOX_PRESET,)
NOX_CLIENT_ID = "nox"  # what the NOX preset registers NOX as, unless told otherwise
NOX_CLIENT_NAME = "NOX Energy"
DEFAULT_AUTH_METHOD = "client_secret_basic"
DEFAULT_HANDOFF_MODE = "redirect"
DEFAULT_SCOPES = ("openid", "profile", "email", "offline_access")
# A client with redirect URIs signs customers in; one without is a machine (RFC 6749 §4.4).
SIGN_IN_GRANT_TYPES = ("authorization_code", "refresh_token")
MACHINE_GRANT_TYPES = ("client_credentials",)
MAX_CLIENT_ID = 128
# What the console offers as a client's scopes (RFC 6749 §3.3): the ones this server grants.
REGISTRABLE_SCOPES = (*SCOPES, INTROSPECTION_SCOPE)
# Why adding or removing each kind of URI was refused.
URI_TAKEN: dict[UriKind, str] = {
    "redirect": N_("This redirect URI is registered already."),
    "post_logout": N_("This post-logout redirect URI is registered already."),
}
URI_GONE: dict[UriKind, str] = {
    "redirect": N_("This redirect URI is not registered."),
    "post_logout": N_("This post-logout redirect URI is not registered."),
}
# The audit row's kind for a change to each kind of URI.
URI_AUDIT: dict[UriKind, str] = {
    "redirect": "admin.redirect_uri",
    "post_logout": "admin.post_logout_redirect_uri",
}


@dataclass(frozen=True)
class ClientRegistration:
    """A registration that passed every check, defaults filled in; `secret` is the plain secret
    to show once (None for a public client)."""

    client_id: str
    name: str
    redirect_uris: list[str]
    auth_method: str
    grant_types: list[str]
    scopes: list[str]
    secret: str | None
    handoff_mode: str
    post_login_redirect_url: str | None
    preset: str | None


def nox_post_login_url(settings: Settings) -> str:
    """Where NOX's POST /post-login-redirect lives unless the operator says otherwise."""
    return settings.nox_auth_base.rstrip("/") + "/post-login-redirect"


def valid_redirect_uri(uri: str) -> str:
    """`uri` if it may be registered (exact match, https, no fragment: RFC 6749 §3.1.2)."""
    try:
        return validate_redirect_uri(uri)
    except RegistrationError as exc:
        raise ActionError(str(exc)) from None


def check_handoff(settings: Settings, mode: str, url: str | None, preset: str | None) -> None:
    """Refuse a hand-off that cannot reach NOX: an unknown mode, a back-channel without a URL,
    NOX without the back-channel, or a URL the operator has not allowed."""
    if mode not in HANDOFF_MODES:
        raise ActionError(
            _("The hand-off mode must be one of %(modes)s.") % {"modes": ", ".join(HANDOFF_MODES)}
        )
    if mode == "backchannel" and not url:
        raise ActionError(_("The backchannel hand-off needs a post-login-redirect URL."))
    if preset == NOX_PRESET and mode != "backchannel":
        raise ActionError(
            _(
                "NOX needs the backchannel hand-off: without it NOX never receives the "
                "supplier_user_id."
            )
        )
    if url:
        valid_redirect_uri(url)
        problem = handoff_url_problem(settings, url)
        if problem:
            raise ActionError(
                _("The post-login-redirect URL is refused: %(problem)s.") % {"problem": problem}
            )


def checked_grant_types(kinds: list[str], auth_method: str, redirect_uris: list[str]) -> list[str]:
    """The grant types (each once, in GRANT_TYPES' order) a client with this authentication
    method and these redirect URIs may have, or ActionError saying why not."""
    if not kinds:
        raise ActionError(_("A client needs at least one grant type."))
    if any(kind not in GRANT_TYPES for kind in kinds):
        raise ActionError(
            _("The grant types must be among %(kinds)s.") % {"kinds": ", ".join(GRANT_TYPES)}
        )
    if "authorization_code" in kinds and not redirect_uris:
        raise ActionError(_("A client that signs customers in needs at least one redirect URI."))
    if auth_method == "none" and "client_credentials" in kinds:
        # RFC 6749 §4.4: client_credentials is for confidential clients only.
        raise ActionError(_("A public client cannot use client_credentials."))
    return [kind for kind in GRANT_TYPES if kind in kinds]


def checked_scopes(scopes: list[str], registered: list[str]) -> list[str]:
    """The scopes a client may be changed to: those this server knows (SCOPES, plus
    `introspection`) and those it registered already (a scope given at the command line stays
    possible); each once, in the order given."""
    allowed = {*REGISTRABLE_SCOPES, *registered}
    chosen = list(dict.fromkeys(s.strip() for s in scopes if s.strip()))
    if not chosen:
        raise ActionError(_("A client needs at least one scope."))
    unknown = [s for s in chosen if s not in allowed]
    if unknown:
        known = ", ".join(REGISTRABLE_SCOPES)
        raise ActionError(
            _("Unknown scope %(scope)s: the scopes must be among %(known)s.")
            % {"scope": repr(unknown[0]), "known": known}
        )
    return chosen


def client_registration(
    settings: Settings,
    *,
    client_id: str = "",
    name: str = "",
    redirect_uris: list[str],
    auth_method: str = DEFAULT_AUTH_METHOD,
    grant_types: list[str] | None = None,
    scopes: list[str] | None = None,
    secret: str | None = None,
    handoff_mode: str | None = None,
    post_login_redirect_url: str | None = None,
    preset: str | None = None,
) -> ClientRegistration:
    """The registration these choices make, or ActionError saying what is wrong.

    The NOX preset registers NOX as NOX expects it: id `nox`, the back-channel hand-off to
    {IDP_NOX_AUTH_BASE}/post-login-redirect, unless told otherwise."""
    if preset not in (None, *PRESETS):
        raise ActionError(
            _("There is no preset %(preset)s; the one preset is %(nox)s.")
            % {"preset": repr(preset), "nox": repr(NOX_PRESET)}
        )
    if preset == NOX_PRESET:
        client_id = client_id or NOX_CLIENT_ID
        name = name or NOX_CLIENT_NAME
        handoff_mode = handoff_mode or "backchannel"
        post_login_redirect_url = post_login_redirect_url or nox_post_login_url(settings)
    handoff_mode = handoff_mode or DEFAULT_HANDOFF_MODE
    if not client_id.strip() or len(client_id) > MAX_CLIENT_ID or not name.strip():
        raise ActionError(
            _("A client needs an id (up to %(max)s characters) and a name.")
            % {"max": MAX_CLIENT_ID}
        )
    if auth_method not in CLIENT_AUTH_METHODS:
        raise ActionError(
            _("The authentication method must be one of %(methods)s.")
            % {"methods": ", ".join(CLIENT_AUTH_METHODS)}
        )
    uris = [valid_redirect_uri(u) for u in redirect_uris]
    kinds = checked_grant_types(
        list(grant_types or (SIGN_IN_GRANT_TYPES if uris else MACHINE_GRANT_TYPES)),
        auth_method,
        uris,
    )
    check_handoff(settings, handoff_mode, post_login_redirect_url, preset)
    if auth_method == "none":
        if secret:
            raise ActionError(_("A public client has no secret."))
    else:
        try:
            secret = validate_secret(secret) if secret else new_secret(32)
        except RegistrationError as exc:
            raise ActionError(str(exc)) from None
    return ClientRegistration(
        client_id=client_id,
        name=name,
        redirect_uris=uris,
        auth_method=auth_method,
        grant_types=kinds,
        scopes=list(scopes or DEFAULT_SCOPES),
        secret=secret,
        handoff_mode=handoff_mode,
        post_login_redirect_url=post_login_redirect_url,
        preset=preset,
    )


class ClientActions(AuditedActions):
    """Registering and changing OAuth clients."""

    async def _client(self, client_id: str) -> Client:
        client = await self.store.clients.get(client_id)
        if client is None:
            raise ActionError(_("There is no client %(client)s.") % {"client": repr(client_id)})
        return client

    @transactional
    async def create_client(
        self,
        actor: Actor,
        *,
        client_id: str = "",
        name: str = "",
        redirect_uris: list[str],
        auth_method: str = DEFAULT_AUTH_METHOD,
        grant_types: list[str] | None = None,
        scopes: list[str] | None = None,
        secret: str | None = None,
        handoff_mode: str | None = None,
        post_login_redirect_url: str | None = None,
        preset: str | None = None,
    ) -> str | None:
        """Register a client (defaults and rules: idp/admin/clients.py); returns the secret to
        show once (None for a public client)."""
        new = client_registration(
            self.settings,
            client_id=client_id,
            name=name,
            redirect_uris=redirect_uris,
            auth_method=auth_method,
            grant_types=grant_types,
            scopes=scopes,
            secret=secret,
            handoff_mode=handoff_mode,
            post_login_redirect_url=post_login_redirect_url,
            preset=preset,
        )
        try:
            await self.store.clients.add(
                client_id=new.client_id,
                name=new.name,
                secret_hash=digest(new.secret) if new.secret else None,
                token_endpoint_auth_method=new.auth_method,
                grant_types=new.grant_types,
                scopes=new.scopes,
                redirect_uris=new.redirect_uris,
                now=self.clock.now(),
                handoff_mode=new.handoff_mode,
                post_login_redirect_url=new.post_login_redirect_url,
                preset=new.preset,
            )
        except DuplicateClient:
            raise ActionError(
                _("A client %(client)s exists already.") % {"client": repr(new.client_id)}
            ) from None
        await self.audit(
            "admin.client.created",
            actor,
            client_id=new.client_id,
            name=new.name,
            redirect_uris=new.redirect_uris,
            preset=new.preset,
            handoff_mode=new.handoff_mode,
            post_login_redirect_url=new.post_login_redirect_url,
        )
        return new.secret

    @transactional
    async def update_client(self, actor: Actor, client_id: str, **changes: Any) -> None:
        client = await self._client(client_id)
        changes = {k: v for k, v in changes.items() if v is not None}
        if "name" in changes and not str(changes["name"]).strip():
            raise ActionError(_("The name must not be empty."))
        if "backchannel_logout_uri" in changes:  # "" clears it
            uri = str(changes["backchannel_logout_uri"]).strip()
            changes["backchannel_logout_uri"] = valid_redirect_uri(uri) if uri else None
        check_handoff(
            self.settings,
            changes.get("handoff_mode", client.handoff_mode),
            changes.get("post_login_redirect_url", client.post_login_redirect_url),
            client.preset,
        )
        before = {k: getattr(client, k) for k in changes}
        await self.store.clients.update(client_id, self.clock.now(), **changes)
        await self.audit(
            "admin.client.updated", actor, client_id=client_id, before=before, after=changes
        )

    @transactional
    async def set_client_grants(
        self, actor: Actor, client_id: str, *, grant_types: list[str], scopes: list[str]
    ) -> None:
        """Change what the client may ask for: its grant types (same rules as a registration)
        and its scopes. It counts at once: the client cache sees the client's new version, so a
        scope taken away is `invalid_scope` from the next request on."""
        client = await self._client(client_id)
        after = {
            "grant_types": checked_grant_types(
                grant_types, client.token_endpoint_auth_method, client.redirect_uris
            ),
            "scopes": checked_scopes(scopes, client.scopes),
        }
        changes = {k: v for k, v in after.items() if v != getattr(client, k)}
        if not changes:
            return
        before = {k: getattr(client, k) for k in changes}
        await self.store.clients.update(client_id, self.clock.now(), **changes)
        await self.audit(
            "admin.client.updated", actor, client_id=client_id, before=before, after=changes
        )

    @transactional
    async def rotate_secret(self, actor: Actor, client_id: str) -> str:
        client = await self._client(client_id)
        if client.is_public:
            raise ActionError(_("A public client has no secret to rotate."))
        secret = new_secret(32)
        await self.store.clients.set_secret_hash(client_id, digest(secret), self.clock.now())
        await self.audit("admin.client.secret_rotated", actor, client_id=client_id)
        return secret

    @transactional
    async def set_client_disabled(self, actor: Actor, client_id: str, disabled: bool) -> None:
        await self._client(client_id)
        await self.store.clients.update(client_id, self.clock.now(), disabled=disabled)
        kind = "admin.client.disabled" if disabled else "admin.client.enabled"
        await self.audit(kind, actor, client_id=client_id)

    @transactional
    async def add_redirect_uri(
        self, actor: Actor, client_id: str, uri: str, kind: UriKind = "redirect"
    ) -> None:
        """Register a redirect URI, or with kind "post_logout" a post-logout redirect URI (the
        same rules: RP-Initiated Logout 1.0 §3.1 matches it exactly too)."""
        await self._client(client_id)
        uri = valid_redirect_uri(uri)
        if not await self.store.clients.add_redirect_uri(client_id, uri, kind):
            raise ActionError(_(URI_TAKEN[kind]))
        await self.audit(f"{URI_AUDIT[kind]}.added", actor, client_id=client_id, uri=uri)

    @transactional
    async def remove_redirect_uri(
        self, actor: Actor, client_id: str, uri: str, kind: UriKind = "redirect"
    ) -> None:
        await self._client(client_id)
        if not await self.store.clients.remove_redirect_uri(client_id, uri, kind):
            raise ActionError(_(URI_GONE[kind]))
        await self.audit(f"{URI_AUDIT[kind]}.removed", actor, client_id=client_id, uri=uri)
