"""NOX's side of flow 1 in the sandbox, the pages the customer's browser walks through: the NOX
app or a heat-pump maker's app starts it, the supplier selector, the OAuth callback, and the
result that keeps the code redirect and the hand-off apart (NOX's own page, or the maker's).

NOX as OAuth client (the code exchange, the ID token, the outcome) is in
idp.sandbox.supplier_authentication, the hand-off API in idp.sandbox.handoff_api, the rules in
idp.sandbox.transactions.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx
from joserfc.errors import JoseError
from quart import Quart, Response, jsonify, render_template, request

from idp.sandbox.handoff_api import register_handoff_api
from idp.sandbox.links import BRANDS
from idp.sandbox.supplier_authentication import (
    CALLBACK_FAILED,
    CallbackRefused,
    SupplierAuthentication,
)
from idp.sandbox.transactions import Outcome, Transaction
from idp.security.clock import Clock
from idp.vocab import LANGUAGES

if TYPE_CHECKING:
    from idp.sandbox.app import SandboxSettings, SandboxState

HEAT_PUMP_MAKERS = BRANDS["hp"]
REFRESH_SECONDS = 2

BROWSER_STATES = "nox_states"  # the cookie: the states this browser was sent to the supplier with
LOGOUT_STATE = "nox_logout_state"  # the cookie: the state of this browser's sign-out request
MAX_STATES = 5


def browser_states(cookie: str) -> list[str]:
    """The states a browser's BROWSER_STATES cookie lists."""
    return cookie.split(".")


def browser_states_with(cookie: str, state: str) -> str:
    """The cookie's value once `state` is added: the newest MAX_STATES states, oldest dropped."""
    kept = cookie.split(".")[-(MAX_STATES - 1) :]
    return ".".join([s for s in kept if s] + [state])


def chosen_language(value: str) -> str:
    """The language picked on the selector; Dutch for one we do not offer."""
    return value if value in LANGUAGES else "nl"


async def error_page(status: int, title: str, message: str) -> tuple[str, int]:
    body = await render_template("ui_error.html", title=title, message=message, http_status=status)
    return body, status


async def unknown_maker_page(status: int, maker: str) -> tuple[str, int]:
    return await error_page(status, "Unknown maker", f"No heat-pump maker {maker!r}.")


def see_other(location: str) -> Response:
    return Response("", status=303, headers={"Location": location})


def register_flow1(
    app: Quart, settings: SandboxSettings, state: SandboxState, clock: Clock
) -> None:
    """Flow 1's pages and POST /post-login-redirect, over one SupplierAuthentication (kept in
    app.extensions["supplier_authentication"], where tests give it the discovery document)."""
    authentication = SupplierAuthentication(settings, state, clock)
    app.extensions["supplier_authentication"] = authentication
    register_flow1_pages(app, settings, state, authentication)
    register_handoff_api(app, settings, state, clock, authentication)


def register_flow1_pages(
    app: Quart,
    settings: SandboxSettings,
    state: SandboxState,
    authentication: SupplierAuthentication,
) -> None:
    transactions = state.transactions
    suppliers = {
        settings.supplier_slug: settings.supplier_name,
        settings.second_supplier_slug: settings.second_supplier_name,
    }

    # -- where the customer starts: the NOX app, or a heat-pump maker's app --
    @app.get("/")
    async def start() -> str:
        return await render_template("start.html", makers=HEAT_PUMP_MAKERS)

    @app.get("/maker/<brand>")
    async def maker_app(brand: str) -> str | tuple[str, int]:
        if brand not in HEAT_PUMP_MAKERS:
            return await unknown_maker_page(404, brand)
        state.record("maker_app_opened", maker=brand)
        return await render_template(
            "maker_app.html", brand=brand, brand_name=HEAT_PUMP_MAKERS[brand]
        )

    @app.get("/enable")
    async def supplier_selector() -> str | tuple[str, int]:
        maker = request.args.get("maker")
        if maker is not None and maker not in HEAT_PUMP_MAKERS:
            return await unknown_maker_page(400, maker)
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
        language = chosen_language(form.get("language", "nl"))
        maker = form.get("maker") or None
        if maker is not None and maker not in HEAT_PUMP_MAKERS:
            return await unknown_maker_page(400, maker)
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
        txn, url = await authentication.start(supplier, language, maker)
        response = Response("", status=302, headers={"Location": url})
        # Like any careful OAuth client, NOX accepts a callback only in the browser it sent to
        # the supplier: a code that arrives with a state issued to another browser is refused.
        response.set_cookie(
            BROWSER_STATES,
            browser_states_with(request.cookies.get(BROWSER_STATES, ""), txn.state),
            httponly=True,
            samesite="Lax",
        )
        return response

    # -- the OAuth callback: the code redirect (or form_post) --
    @app.route("/callback", methods=["GET", "POST"])
    async def callback() -> Response | tuple[str, int]:
        params = dict(request.args) if request.method == "GET" else dict(await request.form)
        try:
            txn = authentication.transaction_for_callback(
                params.get("state", ""), browser_states(request.cookies.get(BROWSER_STATES, ""))
            )
        except CallbackRefused as exc:
            return await error_page(400, CALLBACK_FAILED, exc.message)
        await authentication.complete_callback(txn, params)
        return see_other(f"/result/{txn.result_id}")

    # -- where NOX returns the customer: its own result page, or the maker's app --
    @app.get("/result/<result_id>")
    async def result(result_id: str) -> Response | tuple[str, int]:
        txn = transactions.by_result(result_id)
        if txn is None:
            return await error_page(404, "Not found", "No such authentication.")
        found = await authentication.settle(txn)
        if found.final and txn.maker is not None:
            return see_other(f"/maker/{txn.maker}/return?{urlencode({'result': result_id})}")
        return await outcome_page("result.html", txn, found, settings)

    # -- signing out at the supplier (RP-Initiated Logout), and coming back --
    @app.post("/result/<result_id>/sign-out")
    async def sign_out(result_id: str) -> Response | tuple[str, int]:
        txn = transactions.by_result(result_id)
        if txn is None or txn.id_token is None:
            return await error_page(404, "Not found", "No signed-in supplier authentication.")
        logout_state = secrets.token_urlsafe(16)
        response = see_other(await authentication.sign_out_url(txn, logout_state))
        response.set_cookie(LOGOUT_STATE, logout_state, httponly=True, samesite="Lax")
        return response

    @app.post("/backchannel-logout")
    async def backchannel_logout() -> tuple[Response, int]:
        """Back-Channel Logout 1.0 §2.8: 200 for a valid logout token, else 400."""
        token = (await request.form).get("logout_token", "")
        try:
            sub = await authentication.backchannel_logout(token)
        except (ValueError, JoseError, httpx.HTTPError) as exc:
            state.record("backchannel_logout_rejected", error=str(exc)[:200])
            return jsonify({"error": "invalid_request"}), 400
        state.record("backchannel_logout_received", sub=sub)
        return jsonify({}), 200

    @app.get("/signed-out")
    async def signed_out() -> Response | tuple[str, int]:
        expected = request.cookies.get(LOGOUT_STATE)
        if not expected or not secrets.compare_digest(request.args.get("state", ""), expected):
            state.record("sign_out_return_rejected", reason="state mismatch")
            return await error_page(400, "Sign-out not confirmed", "The state does not match.")
        state.record("supplier_signed_out")
        response = Response(await render_template("signed_out.html"), status=200)
        response.delete_cookie(LOGOUT_STATE)
        return response

    @app.get("/maker/<brand>/return")
    async def maker_return(brand: str) -> Response | tuple[str, int]:
        txn = transactions.by_result(request.args.get("result", ""))
        if txn is None or txn.maker != brand:
            return await error_page(404, "Not found", "No such authentication.")
        found = await authentication.settle(txn)
        if not found.final:
            return see_other(f"/result/{txn.result_id}")
        return await outcome_page("maker_return.html", txn, found, settings)


async def outcome_page(
    template: str, txn: Transaction, found: Outcome, settings: SandboxSettings
) -> tuple[str, int]:
    """A page showing the outcome: 400 once it failed, else 200 (it refreshes while waiting)."""
    body = await render_template(
        template,
        txn=txn,
        outcome=found,
        settings=settings,
        refresh=REFRESH_SECONDS,
        brand_name=HEAT_PUMP_MAKERS.get(txn.maker or ""),
    )
    return body, 400 if found.status == "failed" else 200
