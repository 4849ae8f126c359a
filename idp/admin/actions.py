"""Every change a supplier admin can make, from the console or the `idp` command alike.

Each action validates, changes, and writes its audit row (kind, actor, IP, what changed), so the
console and the command line leave the same trail.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pyotp

from idp.config import Settings
from idp.nox.handoff import handoff_url_problem
from idp.oauth.registration import (
    RegistrationError,
    validate_redirect_uri,
    validate_secret,
)
from idp.security import passwords
from idp.security.clock import Clock
from idp.security.secrets import digest, new_secret
from idp.store import Store
from idp.store.admins import DuplicateAdmin
from idp.store.clients import DuplicateClient
from idp.store.terms import DuplicateTerms
from idp.vocab import ADMIN_ROLES, CLIENT_AUTH_METHODS, HANDOFF_MODES, LANGUAGES

NOX_PRESET = "nox"


class ActionError(ValueError):
    """The change was refused; the message says why in plain words. Nothing was changed."""


@dataclass(frozen=True)
class Actor:
    name: str  # "admin:<email>" or "cli:<user>"
    ip: str | None = None


A = TypeVar("A", bound=Callable[..., Awaitable[Any]])


def transactional(action: A) -> A:
    """Run an action on one transaction: its change and its audit row commit together, and a
    refused action (ActionError) leaves nothing behind."""

    @functools.wraps(action)
    async def run(self: AdminActions, *args: Any, **kwargs: Any) -> Any:
        async with self.store.transaction() as store:
            return await action(AdminActions(store, self.clock, self.settings), *args, **kwargs)

    return run  # type: ignore[return-value]


def nox_post_login_url(settings: Settings) -> str:
    """Where NOX's POST /post-login-redirect lives unless the operator says otherwise."""
    return settings.nox_auth_base.rstrip("/") + "/post-login-redirect"


def role_allows(role: str, needed: str) -> bool:
    return ADMIN_ROLES.index(role) >= ADMIN_ROLES.index(needed)


class AdminActions:
    def __init__(self, store: Store, clock: Clock, settings: Settings) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings

    async def audit(self, kind: str, actor: Actor, **detail: Any) -> None:
        await self.store.events.record(
            kind=kind, now=self.clock.now(), actor=actor.name, ip=actor.ip, detail=detail
        )

    # ---- clients ---------------------------------------------------------------------------
    async def _client(self, client_id: str) -> Any:
        client = await self.store.clients.get(client_id)
        if client is None:
            raise ActionError(f"There is no client {client_id!r}.")
        return client

    @transactional
    async def create_client(
        self,
        actor: Actor,
        *,
        client_id: str = "",
        name: str = "",
        redirect_uris: list[str],
        auth_method: str = "client_secret_basic",
        grant_types: list[str] | None = None,
        scopes: list[str] | None = None,
        secret: str | None = None,
        handoff_mode: str | None = None,
        post_login_redirect_url: str | None = None,
        preset: str | None = None,
    ) -> str | None:
        """Register a client; returns the secret to show once (None for a public client).

        The NOX preset registers NOX as NOX expects it: id `nox`, the back-channel hand-off to
        {IDP_NOX_AUTH_BASE}/post-login-redirect, unless told otherwise."""
        if preset not in (None, NOX_PRESET):
            raise ActionError(f"There is no preset {preset!r}; the one preset is {NOX_PRESET!r}.")
        if preset == NOX_PRESET:
            client_id = client_id or "nox"
            name = name or "NOX Energy"
            handoff_mode = handoff_mode or "backchannel"
            post_login_redirect_url = post_login_redirect_url or nox_post_login_url(self.settings)
        handoff_mode = handoff_mode or "redirect"
        if not client_id.strip() or len(client_id) > 128 or not name.strip():
            raise ActionError("A client needs an id (up to 128 characters) and a name.")
        if auth_method not in CLIENT_AUTH_METHODS:
            raise ActionError(
                f"The authentication method must be one of {', '.join(CLIENT_AUTH_METHODS)}."
            )
        uris = [self._valid_uri(u) for u in redirect_uris]
        kinds = grant_types or (
            ["authorization_code", "refresh_token"] if uris else ["client_credentials"]
        )
        if "authorization_code" in kinds and not uris:
            raise ActionError("A client that signs customers in needs at least one redirect URI.")
        if auth_method == "none" and "client_credentials" in kinds:
            raise ActionError("A public client cannot use client_credentials.")
        self._valid_handoff(handoff_mode, post_login_redirect_url, preset)
        if auth_method == "none":
            if secret:
                raise ActionError("A public client has no secret.")
        else:
            try:
                secret = validate_secret(secret) if secret else new_secret(32)
            except RegistrationError as exc:
                raise ActionError(str(exc)) from None
        try:
            await self.store.clients.add(
                client_id=client_id,
                name=name,
                secret_hash=digest(secret) if secret else None,
                token_endpoint_auth_method=auth_method,
                grant_types=kinds,
                scopes=scopes or ["openid", "profile", "email", "offline_access"],
                redirect_uris=uris,
                now=self.clock.now(),
                handoff_mode=handoff_mode,
                post_login_redirect_url=post_login_redirect_url,
                preset=preset,
            )
        except DuplicateClient:
            raise ActionError(f"A client {client_id!r} exists already.") from None
        await self.audit(
            "admin.client.created",
            actor,
            client_id=client_id,
            name=name,
            redirect_uris=uris,
            preset=preset,
            handoff_mode=handoff_mode,
            post_login_redirect_url=post_login_redirect_url,
        )
        return secret

    @transactional
    async def update_client(self, actor: Actor, client_id: str, **changes: Any) -> None:
        client = await self._client(client_id)
        changes = {k: v for k, v in changes.items() if v is not None}
        if "name" in changes and not str(changes["name"]).strip():
            raise ActionError("The name must not be empty.")
        self._valid_handoff(
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
    async def rotate_secret(self, actor: Actor, client_id: str) -> str:
        client = await self._client(client_id)
        if client.is_public:
            raise ActionError("A public client has no secret to rotate.")
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
    async def add_redirect_uri(self, actor: Actor, client_id: str, uri: str) -> None:
        await self._client(client_id)
        uri = self._valid_uri(uri)
        if not await self.store.clients.add_redirect_uri(client_id, uri):
            raise ActionError("This redirect URI is registered already.")
        await self.audit("admin.redirect_uri.added", actor, client_id=client_id, uri=uri)

    @transactional
    async def remove_redirect_uri(self, actor: Actor, client_id: str, uri: str) -> None:
        await self._client(client_id)
        if not await self.store.clients.remove_redirect_uri(client_id, uri):
            raise ActionError("This redirect URI is not registered.")
        await self.audit("admin.redirect_uri.removed", actor, client_id=client_id, uri=uri)

    @staticmethod
    def _valid_uri(uri: str) -> str:
        try:
            return validate_redirect_uri(uri)
        except RegistrationError as exc:
            raise ActionError(str(exc)) from None

    def _valid_handoff(self, mode: str, url: str | None, preset: str | None = None) -> None:
        if mode not in HANDOFF_MODES:
            raise ActionError(f"The hand-off mode must be one of {', '.join(HANDOFF_MODES)}.")
        if mode == "backchannel" and not url:
            raise ActionError("The backchannel hand-off needs a post-login-redirect URL.")
        if preset == NOX_PRESET and mode != "backchannel":
            raise ActionError(
                "NOX needs the backchannel hand-off: without it NOX never receives the "
                "supplier_user_id."
            )
        if url:
            self._valid_uri(url)
            problem = handoff_url_problem(self.settings, url)
            if problem:
                raise ActionError(f"The post-login-redirect URL is refused: {problem}.")

    # ---- terms -----------------------------------------------------------------------------
    @transactional
    async def upload_terms(self, actor: Actor, version: str, language: str, body_md: str) -> None:
        if not version.strip() or len(version) > 64:
            raise ActionError("The version must be 1 to 64 characters.")
        if language not in LANGUAGES:
            raise ActionError("The language must be nl, en, fr or es.")
        if not body_md.strip():
            raise ActionError("The text is empty.")
        try:
            await self.store.terms.add_draft(
                version=version, language=language, body_md=body_md.strip(), now=self.clock.now()
            )
        except DuplicateTerms:
            raise ActionError(f"Version {version} already has a {language} text.") from None
        await self.audit("admin.terms.uploaded", actor, version=version, language=language)

    @transactional
    async def publish_terms(self, actor: Actor, version: str) -> None:
        published = await self.store.terms.publish_version(version, self.clock.now())
        if not published:
            raise ActionError(f"Version {version} has no unpublished text.")
        await self.audit("admin.terms.published", actor, version=version, texts=published)

    # ---- customers -------------------------------------------------------------------------
    @transactional
    async def set_customer_disabled(self, actor: Actor, user_id: int, disabled: bool) -> None:
        user = await self.store.users.by_id(user_id)
        if user is None:
            raise ActionError("There is no such customer.")
        now = self.clock.now()
        await self.store.users.set_disabled(user_id, disabled, now)
        if disabled:  # signed out everywhere; their refresh and access tokens stop working
            await self.store.login_sessions.remove_for_user(user_id)
            await self.store.grants.revoke_for_user(user_id, now)
        kind = "admin.customer.disabled" if disabled else "admin.customer.enabled"
        await self.audit(kind, actor, supplier_user_id=user.supplier_user_id)

    @transactional
    async def clear_throttle(self, actor: Actor, user_id: int) -> None:
        user = await self.store.users.by_id(user_id)
        if user is None:
            raise ActionError("There is no such customer.")
        await self.store.throttles.clear(f"account:{user.email}")
        await self.audit(
            "admin.customer.throttle_cleared", actor, supplier_user_id=user.supplier_user_id
        )

    # ---- outbox ----------------------------------------------------------------------------
    @transactional
    async def retry_handoff(self, actor: Actor, handoff_id: str) -> None:
        if not await self.store.outbox.retry_now(handoff_id, self.clock.now()):
            raise ActionError("There is no undelivered hand-off with this id.")
        await self.audit("admin.outbox.retried", actor, handoff_id=handoff_id)

    # ---- held device moves (flow 2) ---------------------------------------------------------
    @transactional
    async def decide_held_link(self, actor: Actor, held_id: str, approve: bool) -> None:
        """Approve a held link (NOX's rules apply now: the devices move) or reject it."""
        decided = await self.store.links.decide_held(
            held_id, approve=approve, now=self.clock.now(), decided_by=actor.name
        )
        if decided is None:
            raise ActionError("There is no held link with this id.")
        held, outcome = decided
        await self.audit(
            "admin.link.approved" if approve else "admin.link.rejected",
            actor,
            held_id=held_id,
            supplier_user_id=held.supplier_user_id,
            device_ids=held.device_ids,
            moved_from=outcome.moved_from if outcome else held.moved_from,
        )

    # ---- admins ----------------------------------------------------------------------------
    @transactional
    async def add_admin(
        self, actor: Actor, email: str, role: str, password: str, issuer_name: str
    ) -> str:
        """Create an admin; returns the TOTP enrolment URI (RFC 6238) to show once."""
        if role not in ADMIN_ROLES:
            raise ActionError(f"The role must be one of {', '.join(ADMIN_ROLES)}.")
        if "@" not in email or len(email) > 320:
            raise ActionError("That is not an email address.")
        if len(password) < 12:
            raise ActionError("An admin password must be at least 12 characters.")
        secret = pyotp.random_base32()
        try:
            await self.store.admins.add(
                email=email,
                password_hash=await passwords.hash_async(password),
                role=role,
                totp_secret=secret,
                now=self.clock.now(),
            )
        except DuplicateAdmin:
            raise ActionError(f"An admin {email} exists already.") from None
        await self.audit("admin.admin.created", actor, email=email.lower(), role=role)
        return str(pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer_name))

    @transactional
    async def reenrol_totp(
        self, actor: Actor, admin_id: int, keep_session_hash: str, issuer_name: str
    ) -> str:
        """A new TOTP secret for the signed-in admin themself (who proved their password and a
        current code); returns the enrolment URI to show them once. Their other console
        sessions end: whoever holds the old secret is signed out."""
        admin = await self.store.admins.by_id(admin_id)
        if admin is None or admin.disabled:
            raise ActionError("There is no such admin.")
        secret = pyotp.random_base32()
        await self.store.admins.set_totp_secret(admin.id, secret)
        await self.store.admins.end_other_sessions(admin.id, keep_session_hash)
        await self.audit("admin.admin.totp_reenrolled", actor, email=admin.email)
        return str(pyotp.TOTP(secret).provisioning_uri(name=admin.email, issuer_name=issuer_name))
