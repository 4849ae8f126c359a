"""Revocation (RFC 7009), introspection (RFC 7662) and userinfo (OIDC Core §5.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.core import UserInfoEndpoint

from idp.oauth.grants import user_info
from idp.oauth.models import IssuedToken, OAuthClient
from idp.security.secrets import digest
from idp.vocab import CLIENT_AUTH_METHODS, CONFIDENTIAL_AUTH_METHODS

if TYPE_CHECKING:
    from idp.oauth.server import Server

INTROSPECTION_SCOPE = "introspection"


def find_token(server: Server, token_string: str, hint: str | None) -> IssuedToken | None:
    """Look a token up by either kind; the hint only decides which kind is tried first."""
    grants = server.ports.grants
    lookups = [grants.by_access_token, grants.by_refresh_token]
    if hint == "refresh_token":
        lookups.reverse()
    now = server.clock.now()
    for lookup in lookups:
        record = server.run(lookup(digest(token_string)))
        if record is not None:
            token = IssuedToken(record, now, server.load_user)
            token.is_refresh = lookup == grants.by_refresh_token
            client = server.query_client(record.client_id)
            return token.with_client(client) if client else None
    return None


class RevocationEndpoint(_RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS
    server: Server

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return find_token(self.server, token_string, token_type_hint)

    def revoke_token(self, token: IssuedToken, request: Any) -> None:
        # RFC 7009 §2.1: revoking a refresh token also ends the access tokens of its grant.
        self.server.run(
            self.server.ports.grants.revoke(
                token.id, self.server.clock.now(), family=token.is_refresh
            )
        )


class IntrospectionEndpoint(_IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS
    server: Server

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return find_token(self.server, token_string, token_type_hint)

    def check_permission(self, token: IssuedToken, client: OAuthClient, request: Any) -> bool:
        """A client may introspect its own tokens; a resource server with the introspection
        scope may introspect any."""
        return token.client_id == client.client_id or INTROSPECTION_SCOPE in client.record.scopes

    def introspect_token(self, token: IssuedToken) -> dict[str, Any]:
        record = token.record
        is_refresh = token.is_refresh
        expires_at = record.refresh_expires_at if is_refresh else record.expires_at
        payload: dict[str, Any] = {
            "active": True,
            "scope": record.scope,
            "client_id": record.client_id,
            "token_type": "refresh_token" if is_refresh else "Bearer",
            "exp": expires_at,
            "iat": record.issued_at,
            "iss": self.server.settings.issuer,
        }
        user = token.get_user()
        if user is not None:
            payload["sub"] = user.supplier_user_id
            payload["aud"] = record.client_id
        return payload


class AccessTokenValidator(BearerTokenValidator):
    def __init__(self, server: Server) -> None:
        super().__init__()
        self.server = server

    def authenticate_token(self, token_string: str) -> IssuedToken | None:
        record = self.server.run(self.server.ports.grants.by_access_token(digest(token_string)))
        if record is None:
            return None
        token = IssuedToken(record, self.server.clock.now(), self.server.load_user)
        client = self.server.query_client(record.client_id)
        return token.with_client(client) if client else None


def resource_protector(server: Server) -> ResourceProtector:
    """Bearer access tokens (RFC 6750) for userinfo and the supplier API."""
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokenValidator(server))
    return protector


class UserInfo(UserInfoEndpoint):
    """Userinfo with Authlib's claims logic; the token comes from the request we are given,
    not from a framework's global request."""

    def __init__(self, server: Server) -> None:
        super().__init__(server=server, resource_protector=server.resource_protector)

    def __call__(self, request: Any) -> tuple[int, Any, list[tuple[str, str]]]:
        token = self.resource_protector.validate_request(["openid"], request)
        user = token.get_user()
        if user is None or user.disabled:
            raise InvalidTokenError()
        return 200, dict(user_info(user, token.scope)), [("Content-Type", "application/json")]

    def get_issuer(self) -> str:
        return str(self.server.settings.issuer)
