"""NOX as the OAuth client of a supplier's identity provider (flow 1), without the web: start a
transaction (PKCE S256, state, nonce, language), accept a callback only for a state this browser
was sent with, exchange the code and verify the ID token, and settle the transaction's outcome.

The routes in idp.sandbox.flow1 and idp.sandbox.handoff_api turn these into responses; the rules
of the outcome are in idp.sandbox.transactions.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.sandbox.transactions import Outcome, Transaction, outcome
from idp.security.clock import Clock

with warnings.catch_warnings():
    # Authlib 1.9 prefers the httpx2 fork and warns when it finds plain httpx, which we use.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

if TYPE_CHECKING:
    from idp.sandbox.app import SandboxSettings, SandboxState

CALLBACK_FAILED = "Supplier authentication failed"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class CallbackRefused(Exception):
    """A callback NOX does not look at: unknown state, another browser's, or one already used.
    The message is what the customer's error page says."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SupplierAuthentication:
    """NOX's OAuth client for the one configured supplier, and the outcome of its transactions.

    Every step is recorded on the sandbox's event list, as NOX's log of what it received."""

    def __init__(self, settings: SandboxSettings, state: SandboxState, clock: Clock) -> None:
        self.settings = settings
        self.state = state
        self.clock = clock
        # The identity provider's discovery document, fetched once; tests fill it in instead.
        self.discovered: dict[str, Any] | None = None

    async def metadata(self) -> dict[str, Any]:
        """The identity provider's OpenID configuration (fetched on first use)."""
        if self.discovered is None:
            url = self.settings.idp_url.rstrip("/") + "/.well-known/openid-configuration"
            async with httpx.AsyncClient(timeout=10) as http:
                self.discovered = (await http.get(url)).raise_for_status().json()
        return self.discovered

    def oauth_client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            self.settings.client_id,
            self.settings.client_secret,
            scope="openid profile email",
            redirect_uri=self.settings.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106
            timeout=10,
        )

    async def start(
        self, supplier: str, language: str, maker: str | None
    ) -> tuple[Transaction, str]:
        """A new, saved transaction (its 15 minutes start now) and the authorization URL that
        sends the customer to the identity provider with its state, nonce and PKCE challenge."""
        meta = await self.metadata()
        txn = Transaction(
            state=secrets.token_urlsafe(16),
            nonce=secrets.token_urlsafe(16),
            code_verifier=secrets.token_urlsafe(48),
            selected_at=self.clock.now(),
            language=language,
            result_id=secrets.token_urlsafe(16),
            supplier=supplier,
            maker=maker,
        )
        self.state.transactions.add(txn)
        await self.state.transactions.save()
        async with self.oauth_client() as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"],
                state=txn.state,
                nonce=txn.nonce,
                code_verifier=txn.code_verifier,
                language=language,
            )
        self.state.record(
            "supplier_selected", state=txn.state, language=language, supplier=supplier, maker=maker
        )
        return txn, url

    def transaction_for_callback(self, state: str, browser_states: list[str]) -> Transaction:
        """The transaction a callback's state names, if NOX issued it to this browser and it
        has not come back before; else CallbackRefused (recorded as `callback_rejected`)."""
        txn = self.state.transactions.by_state.get(state)
        if txn is None:
            self.state.record("callback_rejected", reason="unknown state")
            raise CallbackRefused("Unknown state.")
        if txn.state not in browser_states:
            self.state.record(
                "callback_rejected", reason="state issued to another browser", state=txn.state
            )
            raise CallbackRefused(
                "This sign-in was started in another browser: NOX does not link it here."
            )
        if txn.callback_at is not None:
            self.state.record("callback_rejected", reason="state already used", state=txn.state)
            raise CallbackRefused("This state was already used.")
        return txn

    async def complete_callback(self, txn: Transaction, params: Mapping[str, str]) -> Outcome:
        """Record the code redirect (verified, or why not) on its transaction; its outcome."""
        txn.callback_at = self.clock.now()
        txn.code_error = await self.code_redirect_error(txn, params)
        await self.state.transactions.save()
        return await self.settle(txn)

    async def code_redirect_error(self, txn: Transaction, params: Mapping[str, str]) -> str | None:
        """None when the code was exchanged and the ID token verified, else why not."""
        record = self.state.record
        if params.get("iss") != self.settings.idp_url:  # RFC 9207 §2.4
            record(
                "callback_rejected", reason="iss mismatch", state=txn.state, iss=params.get("iss")
            )
            return "The response did not come from the expected issuer."
        if "error" in params:
            record(
                "authentication_failed",
                state=txn.state,
                error=params["error"],
                error_description=params.get("error_description"),
            )
            return f"{params['error']}: {params.get('error_description', '')}"
        if self.clock.now() > txn.deadline(self.settings.window_seconds):
            record("authentication_failed", state=txn.state, error="nox_window_expired")
            return "The 15-minute authentication window has passed."
        try:
            txn.id_token, claims = await self.id_token_claims(txn, params.get("code", ""))
        except (httpx.HTTPError, JoseError, ValueError, KeyError) as exc:
            record("token_exchange_failed", state=txn.state, error=str(exc))
            return f"Token exchange failed: {exc}"
        txn.id_token_sub = str(claims["sub"])
        record(
            "code_redirect_verified",
            state=txn.state,
            id_token_sub=txn.id_token_sub,
            handoff_received=txn.handoff is not None,
        )
        return None

    async def id_token_claims(self, txn: Transaction, code: str) -> tuple[str, dict[str, Any]]:
        """Exchange the code (with the PKCE verifier) and return the ID token and its claims,
        once its signature (the JWKS), issuer, audience, nonce, subject and expiry check out."""
        meta = await self.metadata()
        async with self.oauth_client() as client:
            token = await client.fetch_token(
                meta["token_endpoint"], code=code, code_verifier=txn.code_verifier
            )
            jwks = (await client.get(meta["jwks_uri"])).raise_for_status().json()
        decoded = jwt.decode(token["id_token"], KeySet.import_key_set(jwks))
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.settings.idp_url},
            aud={"essential": True, "value": self.settings.client_id},
            nonce={"essential": True, "value": txn.nonce},
            sub={"essential": True},
            exp={"essential": True},
        ).validate(decoded.claims)
        return token["id_token"], dict(decoded.claims)

    async def sign_out_url(self, txn: Transaction, logout_state: str) -> str:
        """Where NOX sends the browser to sign the customer out at the supplier (OpenID Connect
        RP-Initiated Logout 1.0 §2): the end_session_endpoint with the ID token as hint."""
        meta = await self.metadata()
        params = {
            "id_token_hint": txn.id_token or "",
            "post_logout_redirect_uri": self.settings.post_logout_redirect_uri,
            "state": logout_state,
            "ui_locales": txn.language,
        }
        self.state.record("supplier_sign_out_started", state=txn.state)
        return f"{meta['end_session_endpoint']}?{urlencode(params)}"

    async def backchannel_logout(self, logout_token: str) -> str:
        """Back-Channel Logout 1.0 §2.6, as an RP checks a logout token: our key set, issuer,
        audience, fresh, the logout event, a sub, and no nonce. Returns the sub; raises
        ValueError (or JoseError) for a token to refuse."""
        meta = await self.metadata()
        async with httpx.AsyncClient(timeout=10) as http:
            jwks = (await http.get(meta["jwks_uri"])).raise_for_status().json()
        decoded = jwt.decode(logout_token, KeySet.import_key_set(jwks))
        if decoded.header.get("typ") != "logout+jwt":
            raise ValueError("not a logout token")
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.settings.idp_url},
            aud={"essential": True, "value": self.settings.client_id},
            iat={"essential": True},
            exp={"essential": True},
            jti={"essential": True},
            sub={"essential": True},
        ).validate(decoded.claims)
        events = decoded.claims.get("events")
        if not isinstance(events, dict) or BACKCHANNEL_EVENT not in events:
            raise ValueError("no logout event")
        if "nonce" in decoded.claims:
            raise ValueError("a logout token has no nonce")
        return str(decoded.claims["sub"])

    async def settle(self, txn: Transaction) -> Outcome:
        """The transaction's outcome now; a final one is recorded once as an event."""
        settings = self.settings
        found = outcome(txn, self.clock.now(), settings.handoff_mode, settings.window_seconds)
        if found.final and txn.settled is None:
            txn.settled = found.status
            if found.status == "succeeded":
                self.state.record(
                    "supplier_linked",
                    state=txn.state,
                    supplier_user_id=found.supplier_user_id,
                    id_token_sub=txn.id_token_sub,
                    handoff_mode=settings.handoff_mode,
                    handoff_received=txn.handoff is not None,
                    maker=txn.maker,
                )
            else:
                self.state.record(
                    "supplier_authentication_failed",
                    state=txn.state,
                    reason=found.reason,
                    handoff_received=txn.handoff is not None,
                    maker=txn.maker,
                )
            await self.state.transactions.save()
        return found
