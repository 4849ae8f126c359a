"""Plain records the repositories hand out: no SQL, no behaviour beyond small derived facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class User:
    id: int
    email: str
    supplier_user_id: str
    name: str | None
    password_hash: str
    disabled: bool
    created_at: int | None = None  # when added here (import, command or console)


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    secret_hash: str | None
    token_endpoint_auth_method: str
    grant_types: list[str]
    scopes: list[str]
    disabled: bool
    handoff_mode: str = "redirect"
    post_login_redirect_url: str | None = None
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    preset: str | None = None
    version: int = 1  # see store/tables.py clients.version
    backchannel_logout_uri: str | None = None
    created_at: int | None = None
    updated_at: int | None = None

    @property
    def is_nox(self) -> bool:
        return self.preset == "nox"

    @property
    def needs_fresh_step(self) -> bool:
        """A code for this client hands the customer to NOX (behind the browser's back, or to
        NOX, which may match the code to its user by `state` alone), so it needs a step the
        customer took in this very authentication session: otherwise a lured browser links
        the wrong NOX account to this customer."""
        return self.handoff_mode == "backchannel" or self.is_nox

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105


@dataclass(frozen=True)
class AuthSession:
    id: str
    browser_id: str
    client_id: str
    query: str
    redirect_uri: str
    state: str | None
    language: str
    force_login: bool
    user_id: int | None
    auth_time: int | None
    status: str
    created_at: int
    expires_at: int
    interacted_at: int | None = None

    def expired(self, now: int) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class LoginSession:
    user_id: int
    auth_time: int
    expires_at: int


@dataclass(frozen=True)
class AuthorizationCode:
    id: int
    client_id: str
    user_id: int
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    expires_at: int
    used_at: int | None


@dataclass(frozen=True)
class Token:
    id: int
    client_id: str
    user_id: int | None
    scope: str
    issued_at: int
    expires_at: int
    refresh_expires_at: int | None
    revoked_at: int | None
    rotated_at: int | None
    family_id: str
    code_id: int | None
    auth_time: int | None


class ClientChanged(Exception):
    """A client changed (a redirect URI, its secret, disabled...) since this process read it:
    raised, with nothing stored, by a token write that was given the version it was read at."""

    def __init__(self, client_id: str) -> None:
        super().__init__(client_id)
        self.client_id = client_id


@dataclass(frozen=True)
class CodeConsumption:
    """What happened when a code was presented: the code when it was fresh, `replayed` when not
    (then `code` is the code presented again)."""

    code: AuthorizationCode | None
    replayed: bool = False


@dataclass(frozen=True)
class RefreshUse:
    """What happened when a refresh token was presented: the token when this rotation won;
    `reused` when it had been rotated already (then `token` is the one presented again)."""

    token: Token | None
    reused: bool = False


@dataclass(frozen=True)
class Handoff:
    id: str
    client_id: str
    url: str
    body: dict[str, Any]
    status: str
    attempts: int
    created_at: int
    next_attempt_at: int
    lease_until: int | None
    finished_at: int | None
    last_status: int | None
    last_error: str | None
    expires_at: int | None = None


@dataclass(frozen=True)
class TermsVersion:
    id: int
    version: str
    language: str
    body_md: str
    created_at: int
    published_at: int | None


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_jwk: dict[str, Any]
    created_at: int
    retired_at: int | None


@dataclass(frozen=True)
class LinkSession:
    id: str
    link_token: str | None
    user_id: int
    supplier_user_id: str
    asset_type: str
    language: str
    brand: str | None
    link_url: str
    client_id: str | None
    return_url: str | None
    created_at: int
    expires_at: int
    completed_at: int | None


@dataclass(frozen=True)
class Device:
    device_id: str
    user_id: int
    supplier_user_id: str
    nox_user_id: str
    brand: str
    asset_type: str
    connected_at: int
    linked_at: int
    link_session_id: str | None
    first_linked_at: int | None = None  # the device's first link here, by anyone


@dataclass(frozen=True)
class HeldLink:
    """A link callback that would move devices away from other customers, which NOX's data API
    could not confirm: it waits for an operator."""

    id: str
    link_session_id: str
    user_id: int
    supplier_user_id: str
    nox_user_id: str
    brand: str
    asset_type: str
    device_ids: list[str]
    connected_at: int
    moved_from: dict[str, str]
    reason: str
    status: str
    created_at: int
    decided_at: int | None
    decided_by: str | None


# An admin's state: active (signs in), invited (has not enrolled yet), or totp_reset (an owner
# cleared their authenticator; they enrol again through a link). Only an active admin signs in.
ADMIN_ACTIVE = "active"
ADMIN_INVITED = "invited"
ADMIN_TOTP_RESET = "totp_reset"


@dataclass(frozen=True)
class Admin:
    id: int
    email: str
    password_hash: str
    role: str
    totp_secret: str
    last_totp_step: int | None
    disabled: bool
    timezone: str | None = None  # the console's times in this zone; None: IDP_TIMEZONE
    language: str | None = None  # the console in this language; None: the browser's
    status: str = ADMIN_ACTIVE

    @property
    def active(self) -> bool:
        return self.status == ADMIN_ACTIVE and not self.disabled
