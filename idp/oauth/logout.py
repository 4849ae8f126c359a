"""OpenID Connect RP-Initiated Logout 1.0: the end_session_endpoint, as Authlib checks it.

Authlib validates the request (the id_token_hint was signed by our keys, an expired one
accepted as §2 allows; client_id matches its `aud`; the post_logout_redirect_uri is one the
client registered, compared exactly, §3). We only tell it our keys and when a redirect without
an ID token is legitimate, and end the sign-in session ourselves (idp/signin/logout.py), after
asking the customer when §6 says to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest

if TYPE_CHECKING:
    from idp.oauth.server import Server


class EndSession(EndSessionEndpoint):
    server: Server

    def get_server_jwks(self) -> dict[str, Any]:
        # The current key and the retired ones still published: an ID token this server
        # issued verifies as long as it could be live.
        return self.server.keys.ring.jwks()

    def get_algorithms(self) -> list[str]:
        return self.server.keys.ring.algorithms()

    def resolve_client_from_id_token_claims(self, id_token_claims: dict[str, Any]) -> Any:
        """Our ID tokens name their one client as `aud: [client_id]` (Authlib writes a list);
        a token for several audiences names no client."""
        aud = id_token_claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        return self.server.query_client(aud) if isinstance(aud, str) else None

    def is_post_logout_redirect_uri_legitimate(self, *args: Any) -> bool:
        """§3 lets the OP redirect without an id_token_hint when it has other means of
        confirming the target: Authlib asks this only for a URI the client named by client_id
        registered, character for character, and such a request is always confirmed by the
        customer first (EndSessionRequest.needs_confirmation)."""
        return True

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        raise NotImplementedError("the sign-in session is ended by idp.signin.logout")
