"""NOX's side of flow 1 in the sandbox: the NOX app (or a heat-pump maker's app) starts it, the
supplier selector, the OAuth client (PKCE S256, state, nonce, language), the callback, the
hand-off on POST /post-login-redirect, and the result that keeps the two apart.

The answers of POST /post-login-redirect are our assumption (NOX does not publish them): 2xx
JSON on acceptance, 4xx JSON `{"error": ..., "error_description": ...}` on refusal.
"""

from __future__ import annotations

import asyncio
import secrets
import warnings
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from quart import Quart, Response, jsonify, render_template, request

from idp.sandbox.links import BRANDS
from idp.sandbox.transactions import (
    HandoffRefused,
    Outcome,
    Transaction,
    check_handoff,
    outcome,
)
from idp.security.clock import Clock
from idp.vocab import LANGUAGES

with warnings.catch_warnings():
    # Authlib 1.9 prefers the httpx2 fork and warns when it finds plain httpx, which we use.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

if TYPE_CHECKING:
    from idp.sandbox.app import SandboxSettings, SandboxState

HEAT_PUMP_MAKERS = BRANDS["hp"]
REFRESH_SECONDS = 2


BROWSER_STATES = "nox_states"  # the states this browser was sent to the supplier with
MAX_STATES = 5


def register_flow1(
    app: Quart, settings: SandboxSettings, state: SandboxState, clock: Clock
) -> None:
    transactions = state.transactions
    suppliers = {
        settings.supplier_slug: settings.supplier_name,
        settings.second_supplier_slug: settings.second_supplier_name,
    }

    async def metadata() -> dict[str, Any]:
        if "metadata" not in app.extensions:
            url = settings.idp_url.rstrip("/") + "/.well-known/openid-configuration"
            async with httpx.AsyncClient(timeout=10) as http:
                app.extensions["metadata"] = (await http.get(url)).raise_for_status().json()
        return app.extensions["metadata"]

    def oauth_client() -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            settings.client_id,
            settings.client_secret,
            scope="openid profile email",
            redirect_uri=settings.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106
            timeout=10,
        )

    async def error_page(status: int, title: str, message: str) -> tuple[str, int]:
        body = await render_template(
            "ui_error.html", title=title, message=message, http_status=status
        )
        return body, status

    def see_other(location: str) -> Response:
        return Response("", status=303, headers={"Location": location})

    # -- where the customer starts: the NOX app, or a heat-pump maker's app --
    @app.get("/")
    async def start() -> str:
        return await render_template("start.html", makers=HEAT_PUMP_MAKERS)

    @app.get("/maker/<brand>")
    async def maker_app(brand: str) -> str | tuple[str, int]:
        if brand not in HEAT_PUMP_MAKERS:
            return await error_page(404, "Unknown maker", f"No heat-pump maker {brand!r}.")
        state.record("maker_app_opened", maker=brand)
        return await render_template(
            "maker_app.html", brand=brand, brand_name=HEAT_PUMP_MAKERS[brand]
        )

    @app.get("/enable")
    async def supplier_selector() -> str | tuple[str, int]:
        maker = request.args.get("maker")
        if maker is not None and maker not in HEAT_PUMP_MAKERS:
            return await error_page(400, "Unknown maker", f"No heat-pump maker {maker!r}.")
        return await render_template(
            "suppliers.html",
            suppliers=suppliers,
            configured=settings.supplier_slug,
            languages=LANGUAGES,
            maker=maker,
            maker_name=HEAT_PUMP_MAKERS.get(maker or ""),
        )

    @app.post("/select")
    async def select_supplier() -> Response | tuple[str, int]:
        form = await request.form
        language = form.get("language", "nl")
        if language not in LANGUAGES:
            language = "nl"
        maker = form.get("maker") or None
        if maker is not None and maker not in HEAT_PUMP_MAKERS:
            return await error_page(400, "Unknown maker", f"No heat-pump maker {maker!r}.")
        supplier = form.get("supplier", "")
        if supplier not in suppliers:
            return await error_page(400, "Choose your supplier", "Choose your energy supplier.")
        if supplier != settings.supplier_slug:
            state.record("supplier_not_configured", supplier=supplier)
            return await error_page(
                400,
                "Supplier not configured",
                f"{suppliers[supplier]} is listed to make the selector realistic, but is not "
                "configured in this sandbox: NOX has no OAuth client for it here.",
            )
        meta = await metadata()
        txn = Transaction(
            state=secrets.token_urlsafe(16),
            nonce=secrets.token_urlsafe(16),
            code_verifier=secrets.token_urlsafe(48),
            selected_at=clock.now(),
            language=language,
            result_id=secrets.token_urlsafe(16),
            supplier=supplier,
            maker=maker,
        )
        transactions.add(txn)
        await transactions.save()
        async with oauth_client() as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"],
                state=txn.state,
                nonce=txn.nonce,
                code_verifier=txn.code_verifier,
                language=language,
            )
        state.record(
            "supplier_selected", state=txn.state, language=language, supplier=supplier, maker=maker
        )
        response = Response("", status=302, headers={"Location": url})
        # Like any careful OAuth client, NOX accepts a callback only in the browser it sent to
        # the supplier: a code that arrives with a state issued to another browser is refused.
        started = [*request.cookies.get(BROWSER_STATES, "").split(".")[-(MAX_STATES - 1) :]]
        response.set_cookie(
            BROWSER_STATES,
            ".".join([s for s in started if s] + [txn.state]),
            httponly=True,
            samesite="Lax",
        )
        return response

    # -- the OAuth callback: the code redirect (or form_post) --
    @app.route("/callback", methods=["GET", "POST"])
    async def callback() -> Response | tuple[str, int]:
        params = dict(request.args) if request.method == "GET" else dict(await request.form)
        txn = transactions.by_state.get(params.get("state", ""))
        if txn is None:
            state.record("callback_rejected", reason="unknown state")
            return await error_page(400, "Supplier authentication failed", "Unknown state.")
        if txn.state not in request.cookies.get(BROWSER_STATES, "").split("."):
            state.record(
                "callback_rejected", reason="state issued to another browser", state=txn.state
            )
            return await error_page(
                400,
                "Supplier authentication failed",
                "This sign-in was started in another browser: NOX does not link it here.",
            )
        if txn.callback_at is not None:
            state.record("callback_rejected", reason="state already used", state=txn.state)
            return await error_page(
                400, "Supplier authentication failed", "This state was already used."
            )
        txn.callback_at = clock.now()
        txn.code_error = await verify_code_redirect(txn, params)
        await transactions.save()
        await settle(txn)
        return see_other(f"/result/{txn.result_id}")

    async def verify_code_redirect(txn: Transaction, params: dict[str, str]) -> str | None:
        """None when the code was exchanged and the ID token verified, else why not."""
        if params.get("iss") != settings.idp_url:  # RFC 9207 §2.4
            state.record(
                "callback_rejected", reason="iss mismatch", state=txn.state, iss=params.get("iss")
            )
            return "The response did not come from the expected issuer."
        if "error" in params:
            state.record(
                "authentication_failed",
                state=txn.state,
                error=params["error"],
                error_description=params.get("error_description"),
            )
            return f"{params['error']}: {params.get('error_description', '')}"
        if clock.now() > txn.deadline(settings.window_seconds):
            state.record("authentication_failed", state=txn.state, error="nox_window_expired")
            return "The 15-minute authentication window has passed."
        try:
            claims = await exchange(txn, params.get("code", ""))
        except (httpx.HTTPError, JoseError, ValueError, KeyError) as exc:
            state.record("token_exchange_failed", state=txn.state, error=str(exc))
            return f"Token exchange failed: {exc}"
        txn.id_token_sub = str(claims["sub"])
        state.record(
            "code_redirect_verified",
            state=txn.state,
            id_token_sub=txn.id_token_sub,
            handoff_received=txn.handoff is not None,
        )
        return None

    async def exchange(txn: Transaction, code: str) -> dict[str, Any]:
        meta = await metadata()
        async with oauth_client() as client:
            token = await client.fetch_token(
                meta["token_endpoint"], code=code, code_verifier=txn.code_verifier
            )
            jwks = (await client.get(meta["jwks_uri"])).raise_for_status().json()
        decoded = jwt.decode(token["id_token"], KeySet.import_key_set(jwks))
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": settings.idp_url},
            aud={"essential": True, "value": settings.client_id},
            nonce={"essential": True, "value": txn.nonce},
            sub={"essential": True},
            exp={"essential": True},
        ).validate(decoded.claims)
        return dict(decoded.claims)

    async def settle(txn: Transaction) -> Outcome:
        """The transaction's outcome now; a final one is recorded once as an event."""
        found = outcome(txn, clock.now(), settings.handoff_mode, settings.window_seconds)
        if found.final and txn.settled is None:
            txn.settled = found.status
            if found.status == "succeeded":
                state.record(
                    "supplier_linked",
                    state=txn.state,
                    supplier_user_id=found.supplier_user_id,
                    id_token_sub=txn.id_token_sub,
                    handoff_mode=settings.handoff_mode,
                    handoff_received=txn.handoff is not None,
                    maker=txn.maker,
                )
            else:
                state.record(
                    "supplier_authentication_failed",
                    state=txn.state,
                    reason=found.reason,
                    handoff_received=txn.handoff is not None,
                    maker=txn.maker,
                )
            await transactions.save()
        return found

    # -- where NOX returns the customer: its own result page, or the maker's app --
    @app.get("/result/<result_id>")
    async def result(result_id: str) -> Response | tuple[str, int]:
        txn = transactions.by_result(result_id)
        if txn is None:
            return await error_page(404, "Not found", "No such authentication.")
        found = await settle(txn)
        if found.final and txn.maker is not None:
            return see_other(f"/maker/{txn.maker}/return?{urlencode({'result': result_id})}")
        return await outcome_page("result.html", txn, found)

    @app.get("/maker/<brand>/return")
    async def maker_return(brand: str) -> Response | tuple[str, int]:
        txn = transactions.by_result(request.args.get("result", ""))
        if txn is None or txn.maker != brand:
            return await error_page(404, "Not found", "No such authentication.")
        found = await settle(txn)
        if not found.final:
            return see_other(f"/result/{txn.result_id}")
        return await outcome_page("maker_return.html", txn, found)

    async def outcome_page(template: str, txn: Transaction, found: Outcome) -> tuple[str, int]:
        body = await render_template(
            template,
            txn=txn,
            outcome=found,
            settings=settings,
            refresh=REFRESH_SECONDS,
            brand_name=HEAT_PUMP_MAKERS.get(txn.maker or ""),
        )
        return body, 400 if found.status == "failed" else 200

    # -- the hand-off --
    def refused(status: int, error: str, description: str, **event: Any) -> tuple[Response, int]:
        state.record(
            "post_login_redirect_rejected", status=status, error=error, reason=description, **event
        )
        return jsonify({"error": error, "error_description": description}), status

    @app.post("/post-login-redirect")
    async def post_login_redirect() -> tuple[Response, int]:
        given = request.headers.get("x-api-key", "").encode()
        if not secrets.compare_digest(given, settings.api_key.encode()):
            return refused(401, "invalid_api_key", "Missing or wrong x-api-key.")
        body = await request.get_json(force=True, silent=True)
        try:
            accepted = check_handoff(
                body, transactions.by_state, clock.now(), settings.window_seconds
            )
        except HandoffRefused as exc:
            return refused(exc.status, exc.error, exc.description, body=body)
        behaviour = state.misbehaviour.current()
        state.record(
            "post_login_redirect",
            body=body,
            idempotency_key=request.headers.get("Idempotency-Key"),
            answered=behaviour.mode,
            repeated=accepted.repeated,
        )
        if behaviour.mode == "slow":
            await asyncio.sleep(behaviour.delay)
        if behaviour.mode in ("503", "400"):
            return jsonify(
                {
                    "error": "sandbox_misbehaving",
                    "error_description": f"sandbox told to answer {behaviour.mode}",
                }
            ), int(behaviour.mode)
        txn = accepted.txn
        if txn.handoff is None:
            txn.handoff, txn.handoff_at = body, clock.now()
            await transactions.save()
            if txn.callback_at is not None:
                await settle(txn)
        return jsonify({"status": "accepted", "state": txn.state}), 200
