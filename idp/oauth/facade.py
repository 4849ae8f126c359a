"""The one door into the protocol package: the async calls the web layer and the use cases make.

Authlib is synchronous. Every call here runs it in a greenlet on the event loop, whose storage
hooks await the store through the bridge (`bridge.run_sync`, `bridge.await_store`). Nothing
outside this package knows about that bridge. Requests come in and decisions go out as plain
data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from joserfc import jwt

from idp.config import Settings
from idp.metrics import metrics
from idp.oauth.bridge import await_store, run_sync
from idp.oauth.keys import KeyCache
from idp.oauth.metadata import PublicDocument, PublicDocuments, server_metadata
from idp.oauth.models import IssuedToken, Subject
from idp.oauth.ports import Ports
from idp.oauth.requests import CodeSession, ProtocolRequest
from idp.oauth.server import ProtocolResponse, Server
from idp.records import ClientChanged
from idp.security.clock import Clock
from idp.security.secrets import new_secret

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass(frozen=True)
class HttpCall:
    """What the protocol needs of an HTTP request: the path (the URL is built from the
    configured issuer, never from the Host header), headers and parameters, in order."""

    method: str
    path: str
    headers: dict[str, str]
    query: Sequence[tuple[str, str]] = ()
    form: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class VerifiedAuthorization:
    """An authorization request whose client and redirect URI Authlib has verified."""

    client_id: str
    redirect_uri: str


@dataclass(frozen=True)
class RefusedAuthorization:
    """An authorization request refused. `redirect_url` carries the error to the client only
    when its redirect URI was verified (RFC 6749 §4.1.2.1); otherwise the customer is shown a
    page and nothing is redirected."""

    error: str
    description: str
    redirect_url: str | None


@dataclass(frozen=True)
class IssuedCode:
    """A code issued: where to send the browser, and the hand-off made with it, if any."""

    redirect_url: str
    handoff_id: str | None


@dataclass(frozen=True)
class BearerRefusal:
    """RFC 6750 §3.1: why a bearer token does not open a resource."""

    status: int
    error: str
    description: str


@dataclass(frozen=True)
class LogoutRequest:
    """An RP-Initiated Logout request as Authlib validated it: the client it names (if any),
    where to send the browser afterwards (None: nowhere; the registered URI with `state`
    otherwise), and the `sub` of a valid id_token_hint (None when there was none)."""

    client_id: str | None
    client_name: str | None
    redirect_url: str | None
    hinted_sub: str | None


@dataclass(frozen=True)
class RefusedLogout:
    """RP-Initiated Logout §4: an error in the request; nothing is redirected."""

    description: str


class OAuth:
    """Authorization, token, revocation, introspection, userinfo, bearer checks, and the
    server's metadata and keys."""

    def __init__(self, server: Server, keys: KeyCache) -> None:
        self.server = server
        self.keys = keys
        # The clients as stored now, through this process's cache (a version check a read).
        self.clients = server.clients
        self.authorize_url = server.settings.url("/authorize")
        self._documents: tuple[tuple[tuple[str, str], ...], PublicDocuments] | None = None

    @classmethod
    def build(cls, settings: Settings, ports: Ports, clock: Clock) -> OAuth:
        """The protocol server over `ports`, built before the app serves (no I/O yet)."""
        keys = KeyCache(ports.keys, clock, settings.id_token_seconds)
        server = Server(settings=settings, ports=ports, run=await_store, clock=clock, keys=keys)
        return cls(server, keys)

    async def start(self) -> None:
        """Load (or make) the signing keys."""
        await self.keys.refresh(force=True)

    async def public_documents(self) -> PublicDocuments:
        """OIDC Discovery / RFC 8414 metadata naming the algorithms of the published keys, and
        those keys (RFC 7517 §5, retired ones still verifying included), as prepared bytes made
        again only when the published key set changed (a rotation, a retired key dropped)."""
        ring = await self.keys.refresh()
        key_set = ring.key_set()
        if self._documents is None or self._documents[0] != key_set:
            metadata = server_metadata(self.server.settings, ring.algorithms())
            documents = PublicDocuments(PublicDocument.of(metadata), PublicDocument.of(ring.jwks()))
            self._documents = (key_set, documents)
        return self._documents[1]

    def _request(self, call: HttpCall) -> ProtocolRequest:
        return ProtocolRequest(
            call.method,
            self.server.settings.url(call.path),
            call.headers,
            query=call.query,
            form=call.form,
        )

    def _refusal(self, error: OAuth2Error) -> RefusedAuthorization:
        description = error.get_error_description() or ""
        if not error.redirect_uri:
            return RefusedAuthorization(error.error or "invalid_request", description, None)
        # Authlib's own error parameters (error, error_description, state) and RFC 9207 `iss`.
        params = [*error.get_body(), ("iss", self.server.settings.issuer)]
        url = add_params_to_uri(error.redirect_uri, params, error.redirect_fragment)
        return RefusedAuthorization(error.error or "invalid_request", description, url)

    async def check_authorization(
        self, call: HttpCall, subject: Subject | None
    ) -> VerifiedAuthorization | RefusedAuthorization:
        """RFC 6749 §4.1.1 and OIDC Core §3.1.2.2, as Authlib checks them (client, exact
        redirect URI, response type, scope, PKCE)."""
        request = self._request(call)
        try:
            grant = await run_sync(self.server.get_consent_grant, request, end_user=subject)
        except OAuth2Error as error:
            return self._refusal(error)
        return VerifiedAuthorization(grant.client.get_client_id(), grant.redirect_uri)

    async def issue_code(
        self, query: str, subject: Subject, session: CodeSession
    ) -> IssuedCode | RefusedAuthorization:
        """Validate the stored authorization request again (a redirect URI removed meanwhile no
        longer works) and issue its code, bound to the authentication session `session`."""
        request = ProtocolRequest(
            "GET", f"{self.authorize_url}?{query}", {}, query=parse_qsl(query), session=session
        )
        server = self.server

        def issue() -> ProtocolResponse:
            grant = server.get_consent_grant(request, end_user=subject)
            return server.create_authorization_response(request, grant_user=subject, grant=grant)

        try:
            result = await run_sync(issue)
        except OAuth2Error as error:
            return self._refusal(error)
        location = result.location
        if location is None:  # Authlib answered with an error it did not raise
            return RefusedAuthorization("server_error", "No redirect was produced", None)
        metrics().codes.inc()
        return IssuedCode(location, request.handoff_id)

    async def _form_endpoint(
        self, request: ProtocolRequest, respond: Callable[[ProtocolRequest], ProtocolResponse]
    ) -> ProtocolResponse:
        repeated = request.repeated_form_params()
        if repeated:
            # RFC 6749 §3.2: parameters MUST NOT be included more than once.
            return ProtocolResponse(
                400,
                {
                    "error": "invalid_request",
                    "error_description": f"Repeated parameter: {repeated[0]}",
                },
                [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
            )
        return await run_sync(respond, request)

    async def token(self, call: HttpCall) -> ProtocolResponse:
        """RFC 6749 §3.2: the token endpoint.

        The client is authenticated as this process remembers it, without reading it first;
        the grant's first write checks, in its own transaction, that the client has not changed
        since, and stores nothing when it has (ClientChanged). Then, and for any answer given
        before a write confirmed the client (an error), the request is answered again from the
        client as stored now: a change made anywhere takes effect on the next request, at no
        cost to the requests that find the client unchanged."""
        await self.keys.refresh()
        request = self._request(call)
        request.remember_clients = True
        try:
            response = await self._form_endpoint(request, self.server.create_token_response)
        except ClientChanged as changed:
            self.server.clients.forget(changed.client_id)
        else:
            if request.unconfirmed_client_version is None:
                return response
        return await self._form_endpoint(self._request(call), self.server.create_token_response)

    async def revoke(self, call: HttpCall) -> ProtocolResponse:
        """RFC 7009."""
        return await self._form_endpoint(
            self._request(call), lambda r: self.server.create_endpoint_response("revocation", r)
        )

    async def introspect(self, call: HttpCall) -> ProtocolResponse:
        """RFC 7662."""
        return await self._form_endpoint(
            self._request(call), lambda r: self.server.create_endpoint_response("introspection", r)
        )

    async def check_logout(self, call: HttpCall) -> LogoutRequest | RefusedLogout:
        """OpenID Connect RP-Initiated Logout 1.0 §2-§4, as Authlib validates it."""
        await self.keys.refresh()
        request = self._request(call)
        try:
            checked = await run_sync(self.server.validate_endpoint_request, "end_session", request)
        except OAuth2Error as error:
            return RefusedLogout(error.get_error_description() or error.error or "")
        claims = checked.id_token_claims
        if claims is not None and claims.get("iss") != self.server.settings.issuer:
            return RefusedLogout("The ID token was not issued here.")
        client = checked.client
        return LogoutRequest(
            client_id=client.get_client_id() if client else None,
            client_name=client.record.name if client else None,
            redirect_url=checked.redirect_uri,
            hinted_sub=None if claims is None else str(claims.get("sub")),
        )

    async def logout_token(self, client_id: str, sub: str) -> str:
        """Back-Channel Logout 1.0 §2.4: a logout token for the client, signed with the current
        ID token key: iss, aud, iat, exp (two minutes), jti, sub and the logout event; never a
        nonce."""
        ring = await self.keys.refresh()
        key, now = ring.current, self.server.clock.now()
        claims = {
            "iss": self.server.settings.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + 120,
            "jti": new_secret(16),
            "sub": sub,
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        header = {"alg": key.alg, "kid": key.kid, "typ": "logout+jwt"}
        return jwt.encode(header, claims, key.key)

    async def userinfo(self, call: HttpCall) -> ProtocolResponse:
        """OIDC Core §5.3."""
        request = self._request(call)
        return await run_sync(self.server.create_endpoint_response, "userinfo", request)

    async def bearer(self, call: HttpCall, scope: str) -> IssuedToken | BearerRefusal:
        """The valid bearer token of `call` if it carries `scope` (RFC 6750), else why not."""
        request = self._request(call)
        try:
            token: IssuedToken = await run_sync(
                self.server.resource_protector.validate_request, [scope], request
            )
        except OAuth2Error as error:
            return BearerRefusal(
                error.status_code or 401,
                error.error or "invalid_token",
                error.get_error_description() or "",
            )
        return token
