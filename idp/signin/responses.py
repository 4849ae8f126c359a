"""Authorization responses to the client: errors with `state` and `iss`, redirect or form_post."""

from __future__ import annotations

from urllib.parse import parse_qsl

from authlib.common.urls import add_params_to_uri

from idp.oauth.clients import ClientCache
from idp.oauth.redirect_uris import is_registered
from idp.records import AuthSession, Client
from idp.signin.decisions import ToClient


def uses_form_post(auth: AuthSession, client: Client | None) -> bool:
    """The client asked for form_post in this request (OAuth 2.0 Form Post Response Mode), or
    is registered for it."""
    if dict(parse_qsl(auth.query)).get("response_mode") == "form_post":
        return True
    return client is not None and client.handoff_mode == "form_post"


class ClientResponses:
    def __init__(self, clients: ClientCache, issuer: str) -> None:
        self.clients = clients
        self.issuer = issuer

    def error_url(self, auth: AuthSession, error: str, description: str) -> str:
        """An error response to the verified redirect URI (RFC 6749 §4.1.2.1, RFC 9207)."""
        params = [("error", error), ("error_description", description)]
        if auth.state is not None:
            params.append(("state", auth.state))
        params.append(("iss", self.issuer))
        return str(add_params_to_uri(auth.redirect_uri, params))

    async def deliver(self, auth: AuthSession, url: str) -> ToClient:
        """The response `url` as this client takes it: a redirect, or a form post."""
        client = await self.clients.get(auth.client_id)
        return ToClient(url, auth.redirect_uri if uses_form_post(auth, client) else None)

    async def way_back(
        self, auth: AuthSession, error: str, description: str
    ) -> tuple[str, ToClient | None]:
        """The client's name, and its error response if its redirect URI is still registered."""
        client = await self.clients.get(auth.client_id)
        if client is None or not is_registered(auth.redirect_uri, client.redirect_uris):
            return (client.name if client else auth.client_id), None
        url = self.error_url(auth, error, description)
        return client.name, ToClient(
            url, auth.redirect_uri if uses_form_post(auth, client) else None
        )
