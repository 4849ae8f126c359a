"""The authorization server: Authlib's engine wired to our grants, endpoints and storage."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientAuthentication,
    InvalidGrantError,
    InvalidScopeError,
    OAuth2Request,
)
from authlib.oauth2.rfc9207 import IssuerParameter

from idp.config import Settings
from idp.metrics import metrics
from idp.oauth.bridge import Runner
from idp.oauth.client_auth import refuse_two_methods
from idp.oauth.clients import ClientCache
from idp.oauth.endpoints import (
    IntrospectionEndpoint,
    RevocationEndpoint,
    UserInfo,
    resource_protector,
)
from idp.oauth.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    OpenIDCodeFlow,
    RefreshTokenGrant,
    S256CodeChallenge,
)
from idp.oauth.keys import KeyCache
from idp.oauth.logout import EndSession
from idp.oauth.models import SCOPES, Code, IssuedToken, OAuthClient, Subject
from idp.oauth.ports import EventDetail, Ports
from idp.oauth.requests import ProtocolRequest
from idp.records import User
from idp.security.clock import Clock
from idp.security.logs import FIELDS
from idp.security.secrets import digest, new_secret

log = logging.getLogger("idp")


@dataclass
class ProtocolResponse:
    status: int
    body: Any
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        for name, value in self.headers:
            if name.lower() == "location":
                return value
        return None

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(n, v) for n, v in self.headers if n.lower() != "location"]
        self.headers.append(("Location", value))


class Issuer(IssuerParameter):
    """RFC 9207: `iss` in every authorization response, errors included."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class Server(AuthorizationServer):
    """Runs under the bridge (bridge.run_sync); every storage call goes through `run`
    (bridge.await_store) to the ports."""

    def __init__(
        self, *, settings: Settings, ports: Ports, run: Runner, clock: Clock, keys: KeyCache
    ) -> None:
        super().__init__(scopes_supported=SCOPES)
        self.settings = settings
        self.ports = ports
        self.run = run
        self.clock = clock
        self.keys = keys
        self.clients = ClientCache(ports.clients)
        self.register_token_generator("default", self._generate_token)
        self.register_grant(
            AuthorizationCodeGrant, [S256CodeChallenge(required=True), OpenIDCodeFlow(self)]
        )
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(RevocationEndpoint(self))
        self.register_endpoint(IntrospectionEndpoint(self))
        self.resource_protector = resource_protector(self)
        self.register_endpoint(UserInfo(self))
        self.register_endpoint(EndSession(self))
        self.register_extension(Issuer(settings.issuer))

    # ---- storage hooks ---------------------------------------------------------------------
    def query_client(self, client_id: str) -> OAuthClient | None:
        record = self.run(self.clients.get(client_id))
        if record is None or record.disabled:
            return None
        return OAuthClient(record)

    def remembered_client(self, request: ProtocolRequest, client_id: str) -> OAuthClient | None:
        """The client as this process remembers it, its version left for the request's first
        write to confirm; read now when it is not remembered."""
        record = self.clients.remembered(client_id)
        if record is None:
            record = self.run(self.clients.get(client_id))
        elif request.unconfirmed_client_version is None:
            request.unconfirmed_client_version = record.version
        if record is None or record.disabled:
            return None
        return OAuthClient(record)

    def authenticate_client(
        self, request: OAuth2Request, methods: list[str], endpoint: str = "token"
    ) -> OAuthClient:
        """Authlib's client authentication (for /token, /revoke and /introspect alike), after
        refusing a request that uses two methods. The token endpoint may use the clients this
        process remembers (`OAuth.token`)."""
        refuse_two_methods(request)
        remember = isinstance(request, ProtocolRequest) and request.remember_clients
        if endpoint == "token" and remember:
            authenticate = ClientAuthentication(partial(self.remembered_client, request))
            client: OAuthClient = authenticate(request, methods, endpoint)
            return client
        return super().authenticate_client(request, methods, endpoint)

    def load_user(self, user_id: int) -> User | None:
        return self.run(self.ports.users.by_id(user_id))

    def save_token(self, token: dict[str, Any], request: ProtocolRequest) -> None:
        now = self.clock.now()
        # Authlib's request carries our objects untyped; name what they are.
        client: OAuthClient = request.client
        code: Code | None = request.authorization_code
        subject: Subject | None = request.user
        rotation = request.payload.grant_type == "refresh_token"
        presented: IssuedToken | None = request.refresh_token if rotation else None
        refresh = token.get("refresh_token")
        stored = self.run(
            self.ports.grants.add_token(
                client_id=client.client_id,
                user_id=subject.id if subject else None,
                scope=token.get("scope", ""),
                access_token_hash=digest(token["access_token"]),
                refresh_token_hash=digest(refresh) if refresh else None,
                issued_at=now,
                expires_at=now + token["expires_in"],
                refresh_seconds=self.settings.refresh_token_seconds,
                refresh_absolute_seconds=self.settings.refresh_token_absolute_seconds,
                family_id=presented.family_id if presented else new_secret(16),
                new_family=not rotation,
                code_id=code.id if code is not None else None,
                auth_time=subject.auth_time if subject else None,
                client_version=request.confirm_client_version(),
            )
        )
        if not stored:
            # The code was replayed, or the family revoked, while these tokens were made: they
            # were never stored, so they must not be handed out either.
            raise InvalidGrantError()
        metrics().tokens.labels(request.payload.grant_type or "").inc()

    def security_event(self, kind: str, actor: str | None, detail: EventDetail) -> None:
        """Record (and log) a security event seen by a grant: a replayed code, a reused refresh
        token."""
        written = self.run(
            self.ports.events.record(
                kind=kind, now=self.clock.now(), actor=actor, ip=None, detail=detail
            )
        )
        if written:
            log.warning(
                "security event %s actor=%s",
                kind,
                actor,
                extra={FIELDS: {"event": kind, "actor": actor}},
            )

    # ---- tokens ----------------------------------------------------------------------------
    def _generate_token(
        self,
        grant_type: str,
        client: OAuthClient,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        if not client.allows_scope(scope):
            # RFC 6749 §3.3, §5.2: whatever the grant, never more than the client registered.
            raise InvalidScopeError()
        scopes = (scope or "").split()
        if grant_type == "authorization_code":
            # A refresh token when the client may use them, and always for offline_access.
            include_refresh_token = (
                "refresh_token" in client.record.grant_types or "offline_access" in scopes
            )
        elif grant_type == "client_credentials":
            include_refresh_token = False  # RFC 6749 §4.4.3
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": new_secret(32),
            "expires_in": expires_in or self.settings.access_token_seconds,
            "scope": " ".join(scopes),
        }
        if include_refresh_token:
            token["refresh_token"] = new_secret(32)
        return token

    # ---- the framework half of Authlib's contract -------------------------------------------
    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> ProtocolResponse:
        return ProtocolResponse(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass
