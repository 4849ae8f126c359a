"""Starting flow 2: a link session is validated, created at NOX (POST /v2/supplier/link-sessions)
and stored, for the signed-in customer (account page) or for a supplier's app (API).

A link session lives at most 10 minutes (NOX-CONTRACT, flow 2), counted from our own creation
time as well as NOX's `expires_at`, whichever ends first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.common.urls import add_params_to_uri

from idp.config import Settings
from idp.nox.client import NoxLinkClient, NoxUnavailable
from idp.nox.registry import ASSET_TYPES, SLUG
from idp.records import LinkSession, User
from idp.security.clock import Clock
from idp.security.secrets import new_secret
from idp.store.clients import Clients
from idp.store.links import Links
from idp.store.users import Users
from idp.vocab import DEFAULT_LANGUAGE, LANGUAGES

LINK_SESSION_SECONDS = 600  # NOX-CONTRACT, flow 2: a link session expires 10 minutes on


def session_expiry(nox_expires_at: int, now: int) -> int:
    """The earlier of NOX's `expires_at` and our own creation time + 600 s."""
    return min(nox_expires_at, now + LINK_SESSION_SECONDS)


def link_request_problem(asset_type: str, language: str, brand: str | None) -> str | None:
    """Why this link request cannot be sent to NOX, or None when it can."""
    if asset_type not in ASSET_TYPES:
        return "asset_type must be hp or pv"
    if language not in LANGUAGES:
        return "language must be one of nl, en, fr, es"
    if brand and not SLUG.match(brand):
        return "brand must be a lowercase slug"
    return None


class StartRefused(Exception):
    """No link session was started; `error` is the API's machine-readable code (400
    invalid_request or invalid_return_url, 404 unknown_customer, 502 nox_unavailable)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


class LinkNotFound(Exception):
    """No link session of this customer has this id."""


class LinkExpired(Exception):
    """The link session was completed or has expired; `language` is the session's."""

    def __init__(self, language: str) -> None:
        super().__init__(language)
        self.language = language


@dataclass(frozen=True)
class SupplierLinkRequest:
    """The API's request body, checked: strings where strings belong."""

    supplier_user_id: str
    asset_type: str
    language: str
    brand: str | None
    return_url: Any


def supplier_link_request(body: Any) -> SupplierLinkRequest:
    """The body of POST /api/v1/link-sessions, or StartRefused(400, invalid_request)."""
    if not isinstance(body, dict):
        raise StartRefused(400, "invalid_request", "The body must be a JSON object")
    supplier_user_id = body.get("supplier_user_id")
    asset_type: Any = body.get("asset_type")
    language: Any = body.get("language", DEFAULT_LANGUAGE)
    brand = body.get("brand")
    if not isinstance(supplier_user_id, str) or not supplier_user_id:
        raise StartRefused(400, "invalid_request", "supplier_user_id is required")
    if not all(isinstance(v, str) for v in (asset_type, language)) or not (
        brand is None or isinstance(brand, str)
    ):
        raise StartRefused(400, "invalid_request", "asset_type, language and brand must be strings")
    problem = link_request_problem(asset_type, language, brand)
    if problem:
        raise StartRefused(400, "invalid_request", problem)
    return SupplierLinkRequest(
        supplier_user_id, asset_type, language, brand, body.get("return_url")
    )


class LinkSessions:
    """Starts link sessions at NOX and finds them again for /link/start/<id>."""

    def __init__(
        self,
        links: Links,
        users: Users,
        clients: Clients,
        nox: NoxLinkClient,
        clock: Clock,
        settings: Settings,
    ) -> None:
        self.links = links
        self.users = users
        self.clients = clients
        self.nox = nox
        self.clock = clock
        self.settings = settings

    async def start_for_customer(
        self, user: User, asset_type: str, language: str, brand: str | None
    ) -> LinkSession:
        """The signed-in customer's own request from the account page; StartRefused when the
        request is not one NOX takes (400) or NOX did not create the session (502)."""
        problem = link_request_problem(asset_type, language, brand)
        if problem:
            raise StartRefused(400, "invalid_request", problem)
        return await self._start(user, asset_type, language, brand, None, None)

    async def start_for_supplier(self, client_id: str, request: SupplierLinkRequest) -> LinkSession:
        """A supplier's app starts one for a customer; the customer's browser then signs in
        with us before going to NOX, since the callback only accepts a signed-in customer."""
        return_url = request.return_url
        client = await self.clients.get(client_id)
        if return_url is not None and (
            not isinstance(return_url, str)
            or client is None
            or return_url not in client.redirect_uris
        ):
            raise StartRefused(
                400,
                "invalid_return_url",
                "return_url must be one of the client's registered redirect URIs",
            )
        user = await self.users.by_supplier_user_id(request.supplier_user_id)
        if user is None or user.disabled:
            raise StartRefused(404, "unknown_customer", "No customer has this supplier_user_id")
        return await self._start(
            user, request.asset_type, request.language, request.brand, client_id, return_url
        )

    async def _start(
        self,
        user: User,
        asset_type: str,
        language: str,
        brand: str | None,
        client_id: str | None,
        return_url: str | None,
    ) -> LinkSession:
        session_id = new_secret(24)
        redirect_url = None
        if self.settings.link_callback_session_param:  # the callback URL names the session
            redirect_url = add_params_to_uri(
                self.settings.link_callback_url,
                [(self.settings.link_callback_session_param, session_id)],
            )
        try:
            created = await self.nox.create(
                user_id=user.supplier_user_id,
                asset_type=asset_type,
                language=language,
                brand=brand,
                redirect_url=redirect_url,
            )
        except NoxUnavailable:
            raise StartRefused(
                502, "nox_unavailable", "NOX did not create the link session"
            ) from None
        now = self.clock.now()
        session = LinkSession(
            id=session_id,
            link_token=created.link_token,
            user_id=user.id,
            supplier_user_id=user.supplier_user_id,
            asset_type=asset_type,
            language=language,
            brand=brand,
            link_url=created.link_url,
            client_id=client_id,
            return_url=return_url,
            created_at=now,
            expires_at=session_expiry(created.expires_at, now),
            completed_at=None,
        )
        await self.links.add_session(session)
        return session

    async def reopen(self, user_id: int, session_id: str) -> LinkSession:
        """The open link session `session_id` of this customer, to send the browser on to NOX;
        LinkNotFound (also for another customer's) or LinkExpired."""
        session = await self.links.get_session(session_id)
        if session is None or session.user_id != user_id:
            raise LinkNotFound(session_id)
        if session.completed_at is not None or session.expires_at <= self.clock.now():
            raise LinkExpired(session.language)
        return session
