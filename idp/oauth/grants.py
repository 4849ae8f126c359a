"""The grants this server offers, as Authlib subclasses whose storage goes through the bridge
(bridge.py)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError, grants
from authlib.oauth2.rfc7636 import CodeChallenge, create_s256_code_challenge
from authlib.oidc.core import OpenIDCode, UserInfo

from idp.oauth.models import Code, IssuedToken, OAuthClient, Subject
from idp.oauth.requests import ProtocolRequest
from idp.records import AuthorizationCode, User
from idp.security.secrets import digest
from idp.vocab import CLIENT_AUTH_METHODS, CONFIDENTIAL_AUTH_METHODS

if TYPE_CHECKING:
    from idp.oauth.server import Server


def user_info(user: User, scope: str) -> UserInfo:
    """OIDC Core §5.4: claims by scope. `sub` is the supplier_user_id NOX maps its users to."""
    info = UserInfo(sub=user.supplier_user_id)
    scopes = scope.split()
    if "profile" in scopes and user.name:
        info["name"] = user.name
    if "email" in scopes:
        info["email"] = user.email
    return info


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only, and required of every client (RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'")
        # RFC 7636 §4.3: an absent method means "plain", which this server refuses.
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    server: Server

    def save_authorization_code(self, code: str, request: ProtocolRequest) -> None:
        server = self.server
        now = server.clock.now()
        subject: Subject = request.user
        client: OAuthClient = request.client
        data = request.payload.data
        handoff = server.ports.handoff_for(
            client.record,
            subject.user.supplier_user_id,
            data.get("state"),
            subject.auth_time,
        )
        if handoff is not None:
            # NOX's window is the authentication session's: the hand-off ends with it.
            handoff["expires_at"] = request.session.expires_at if request.session else None
        request.handoff_id = handoff["id"] if handoff else None
        server.run(
            server.ports.grants.add_code(
                code_hash=digest(code),
                client_id=client.client_id,
                user_id=subject.id,
                redirect_uri=data.get("redirect_uri") or "",
                scope=request.scope,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                auth_time=subject.auth_time,
                auth_session_id=request.session.id if request.session else None,
                now=now,
                expires_at=now + server.settings.code_seconds,
                handoff=handoff,
            )
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> Code | None:
        server = self.server
        verifier = self.request.form.get("code_verifier")
        if not verifier:  # every code here was issued with PKCE (S256CodeChallenge)
            raise InvalidRequestError("Missing 'code_verifier'")

        def proves(record: AuthorizationCode) -> bool:
            # RFC 7636 §4.6, checked before the code is claimed (Authlib checks it again), so a
            # stolen code alone can neither burn the code nor revoke the tokens issued from it.
            challenge = record.code_challenge
            return challenge is None or secrets.compare_digest(
                create_s256_code_challenge(verifier), challenge
            )

        result = server.run(
            server.ports.grants.consume_code(
                digest(code),
                client.get_client_id(),
                server.clock.now(),
                proves,
                client_version=self.request.confirm_client_version(),
            )
        )
        if result.code is None:
            return None
        if result.replayed:
            server.security_event(
                "code_replay",
                actor=client.get_client_id(),
                detail={"code_id": result.code.id, "tokens_revoked": True},
            )
            return None
        return Code(result.code)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        """Nothing to do: the code was marked used when it was presented."""

    def authenticate_user(self, authorization_code: Code) -> Subject | None:
        user = self.server.load_user(authorization_code.record.user_id)
        if user is None or user.disabled:
            return None
        return Subject(user, authorization_code.get_auth_time())


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation, RFC 9700 §4.14.2
    server: Server

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        server = self.server
        now = server.clock.now()
        # Refuse a scope before the token is rotated, so a bad request does not burn it.
        presented = server.run(server.ports.grants.by_refresh_token(digest(refresh_token)))
        if presented is not None and presented.client_id == self.request.client.get_client_id():
            self._check_scope(presented.scope)
        # The client is checked inside the rotation's conditional update: another client's
        # request changes nothing.
        use = server.run(
            server.ports.grants.use_refresh_token(
                digest(refresh_token),
                self.request.client.get_client_id(),
                now,
                server.settings.refresh_token_absolute_seconds,
                client_version=self.request.confirm_client_version(),
            )
        )
        if use.token is None:
            return None
        if use.reused:
            server.security_event(
                "refresh_token_reuse",
                actor=use.token.client_id,
                detail={"family_id": use.token.family_id, "family_revoked": True},
            )
            return None
        if use.token.revoked_at is not None:
            return None
        return IssuedToken(use.token, now, server.load_user)

    def _check_scope(self, granted: str) -> None:
        """RFC 6749 §6: no scope beyond the one originally granted, nor beyond what the client
        has registered now."""
        scope = self.request.payload.scope or granted
        if not set(scope.split()) <= set(granted.split()):
            raise InvalidScopeError()
        if not self.request.client.allows_scope(scope):
            raise InvalidScopeError()

    def authenticate_user(self, refresh_token: IssuedToken) -> Subject | None:
        user = refresh_token.get_user()
        if user is None or user.disabled:
            return None
        return Subject(user, refresh_token.record.auth_time or 0)

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        """Nothing to do: the token was marked rotated when it was presented."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS


class OpenIDCodeFlow(OpenIDCode):
    """OIDC Core §3.1: the ID token of the code flow, signed with the current key."""

    def __init__(self, server: Server) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        client_id = request.payload.client_id
        return self.server.run(self.server.ports.grants.nonce_used(client_id, nonce))

    def resolve_client_private_key(self, client: OAuthClient) -> Any:
        return self.server.keys.ring.current.key

    def get_client_algorithm(self, client: OAuthClient) -> str:
        return self.server.keys.ring.current.alg

    def get_encode_header(self, client: OAuthClient) -> dict[str, str]:
        current = self.server.keys.ring.current
        return {"alg": current.alg, "kid": current.kid, "typ": "JWT"}

    def get_client_claims(self, client: OAuthClient) -> dict[str, Any]:
        now = self.server.clock.now()
        return {
            "iss": self.server.settings.issuer,
            "aud": [client.get_client_id()],
            "iat": now,
            "exp": now + self.server.settings.id_token_seconds,
        }

    def generate_user_info(self, user: Subject, scope: str) -> UserInfo:
        return user_info(user.user, scope)
