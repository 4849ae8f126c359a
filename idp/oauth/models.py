"""Authlib's model mixins over the store's plain records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oidc.core import AuthorizationCodeMixin

from idp.oauth.redirect_uris import is_registered
from idp.records import AuthorizationCode, Client, Token, User
from idp.security.secrets import digest, same

# The scopes this server knows. `links:*` are for the supplier's own back-ends.
SCOPES = ["openid", "profile", "email", "offline_access", "links:read", "links:write"]


class OAuthClient(ClientMixin):
    """A registered client, as Authlib asks about it."""

    def __init__(self, record: Client) -> None:
        self.record = record
        self.client_id: str = record.client_id
        # What Authlib's RP-Initiated Logout endpoint reads (oauth/logout.py).
        self.client_metadata: dict[str, Any] = {
            "post_logout_redirect_uris": record.post_logout_redirect_uris
        }

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # RFC 6749 §3.1.2.3: the parameter may be omitted only when exactly one is registered.
        uris = self.record.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """RFC 6749 §3.3: the registered scopes when none is asked for; the asked ones when the
        client registered every one of them; else None, which Authlib answers `invalid_scope`."""
        allowed = self.record.scopes
        if not scope:
            return " ".join(s for s in allowed if s not in ("offline_access",))
        if not self.allows_scope(scope):
            return None
        return " ".join(dict.fromkeys(scope.split()))

    def allows_scope(self, scope: str | None) -> bool:
        """Whether every scope in `scope` is one this client registered (any grant, any time)."""
        return all(s in self.record.scopes for s in (scope or "").split())

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return is_registered(redirect_uri, self.record.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.record.secret_hash
        if not stored:  # a public client has no secret to match
            return False
        return same(digest(client_secret), stored)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "introspection" and self.record.is_public:
            return False
        return bool(method == self.record.token_endpoint_auth_method)

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.record.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "client_credentials" and self.record.is_public:
            return False
        if grant_type == "refresh_token" and "offline_access" in self.record.scopes:
            return True
        return grant_type in self.record.grant_types


class Subject:
    """The signed-in customer, as Authlib's grants see them: the user plus when they signed in."""

    def __init__(self, user: User, auth_time: int) -> None:
        self.user = user
        self.id: int = user.id
        self.auth_time = auth_time

    def get_user_id(self) -> int:
        return self.id


class Code(AuthorizationCodeMixin):
    """A stored authorization code that was just claimed (RFC 6749 §4.1.2)."""

    def __init__(self, record: AuthorizationCode) -> None:
        self.record = record
        self.id: int = record.id
        self.code_challenge = record.code_challenge
        self.code_challenge_method = record.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope

    def get_nonce(self) -> str | None:
        return self.record.nonce

    def get_auth_time(self) -> int:
        return self.record.auth_time


class IssuedToken(TokenMixin):
    """A stored token row; the user is loaded lazily through the bridge when asked for."""

    def __init__(self, record: Token, now: int, load_user: Callable[[int], User | None]) -> None:
        self.record = record
        self.id: int = record.id
        self.family_id: str = record.family_id
        self.scope: str = record.scope
        self.client_id: str = record.client_id
        self._now = now
        self._load_user = load_user
        self._client: OAuthClient | None = None
        self.is_refresh = False  # set when the token was found by its refresh token

    def check_client(self, client: OAuthClient) -> bool:
        return self.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.record.expires_at - self.record.issued_at

    def is_expired(self) -> bool:
        if self.is_refresh:
            expires_at = self.record.refresh_expires_at
            return expires_at is not None and self._now >= expires_at
        return self._now >= self.record.expires_at

    def is_revoked(self) -> bool:
        """Revoked outright, or (for a refresh token) already rotated away."""
        if self.is_refresh and self.record.rotated_at is not None:
            return True
        return self.record.revoked_at is not None

    def get_user(self) -> User | None:
        return self._load_user(self.record.user_id) if self.record.user_id is not None else None

    def get_client(self) -> OAuthClient:
        assert self._client is not None
        return self._client

    def with_client(self, client: OAuthClient) -> IssuedToken:
        self._client = client
        return self
