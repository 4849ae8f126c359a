"""The NOX sandbox: a small Quart app that plays NOX's part of flow 1 over real HTTP.

It behaves like the NOX app ("Enable NOX optimisation" → supplier selector → the supplier's OAuth
login, as a confidential client with PKCE S256, state and nonce), receives the hand-off on
POST /post-login-redirect, and finishes the OAuth callback the way NOX would (code exchange, ID
token verified against the JWKS, NOX's own 15-minute window). Everything it receives or does is
listed at GET /_sandbox/events. NOX's side of flow 2 (link sessions and the authenticator at
/ui) lives in idp.sandbox.links.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from quart import Quart, Response, jsonify, render_template, request

from idp.config import LANGUAGES, PROJECT_ROOT
from idp.sandbox.links import LinkState, register_links
from idp.security.clock import Clock, SystemClock

with warnings.catch_warnings():
    # Authlib 1.9 prefers the httpx2 fork and warns when it finds plain httpx, which we use.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

NOX_WINDOW_SECONDS = 900
HANDOFF_FIELDS = {"supplier_user_id": str, "state": str, "client_id": str, "authenticated_at": int}


@dataclass(frozen=True)
class SandboxSettings:
    idp_url: str
    public_url: str
    client_id: str
    client_secret: str
    api_key: str
    supplier_name: str = "Your energy supplier (local identity provider)"
    window_seconds: int = NOX_WINDOW_SECONDS
    # Flow 2: the redirect_urls on this supplier's allow-list at NOX (empty: the identity
    # provider's {idp_url}/link/callback), and the supplier NOX resolves the API key to.
    link_redirect_urls: tuple[str, ...] = ()
    supplier_slug: str = "local-supplier"

    def __post_init__(self) -> None:
        urls = tuple(self.link_redirect_urls) or (self.idp_url.rstrip("/") + "/link/callback",)
        object.__setattr__(self, "link_redirect_urls", urls)

    @property
    def redirect_uri(self) -> str:
        return self.public_url.rstrip("/") + "/callback"


@dataclass
class Misbehaviour:
    """How POST /post-login-redirect answers: ok, 503, 400 or slow (for a while)."""

    mode: str = "ok"
    delay: float = 0.0
    until: float | None = None

    def current(self) -> Misbehaviour:
        if self.until is not None and time.time() >= self.until:
            self.mode, self.delay, self.until = "ok", 0.0, None
        return self


@dataclass
class SandboxState:
    events: list[dict[str, Any]] = field(default_factory=list)
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    handoffs: dict[str, dict[str, Any]] = field(default_factory=dict)
    misbehaviour: Misbehaviour = field(default_factory=Misbehaviour)
    links: LinkState = field(default_factory=LinkState)

    def record(self, kind: str, **data: Any) -> None:
        self.events.append({"seq": len(self.events) + 1, "at": time.time(), "type": kind, **data})


def create_sandbox_app(
    settings: SandboxSettings, clock: Clock | None = None, misbehave: str | None = None
) -> Quart:
    clock = clock or SystemClock()
    app = Quart(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates" / "sandbox"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.jinja_env.filters["utc"] = lambda ts: time.strftime(
        "%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)
    )
    state = SandboxState()
    if misbehave:
        state.misbehaviour = parse_misbehaviour({"post_login_redirect": misbehave})
    app.extensions["sandbox"] = state
    register_links(app, settings, state, clock)

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

    @app.get("/")
    async def start() -> str:
        return await render_template("start.html")

    @app.get("/enable")
    async def supplier_selector() -> str:
        return await render_template(
            "suppliers.html", supplier_name=settings.supplier_name, languages=LANGUAGES
        )

    @app.post("/select")
    async def select_supplier() -> Response:
        form = await request.form
        language = form.get("language", "nl")
        if language not in LANGUAGES:
            language = "nl"
        meta = await metadata()
        txn = {
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_verifier": secrets.token_urlsafe(48),
            "selected_at": clock.now(),
            "language": language,
        }
        state.transactions[txn["state"]] = txn
        async with oauth_client() as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"],
                state=txn["state"],
                nonce=txn["nonce"],
                code_verifier=txn["code_verifier"],
                language=language,
            )
        state.record("supplier_selected", state=txn["state"], language=language)
        return Response("", status=302, headers={"Location": url})

    @app.route("/callback", methods=["GET", "POST"])
    async def callback() -> tuple[str, int]:
        params = dict(request.args) if request.method == "GET" else dict(await request.form)
        txn = state.transactions.pop(params.get("state", ""), None)
        if txn is None:
            state.record("callback_rejected", reason="unknown state")
            return await result_page(False, "Unknown or already used state."), 400
        if params.get("iss") != settings.idp_url:  # RFC 9207 §2.4
            state.record("callback_rejected", reason="iss mismatch", iss=params.get("iss"))
            return await result_page(
                False, "The response did not come from the expected issuer."
            ), 400
        if "error" in params:
            state.record(
                "authentication_failed",
                state=txn["state"],
                error=params["error"],
                error_description=params.get("error_description"),
            )
            return await result_page(
                False, f"{params['error']}: {params.get('error_description', '')}"
            ), 400
        if clock.now() - txn["selected_at"] > settings.window_seconds:
            state.record("authentication_failed", state=txn["state"], error="nox_window_expired")
            return await result_page(False, "The 15-minute authentication window has passed."), 400
        try:
            claims = await exchange(txn, params.get("code", ""))
        except (httpx.HTTPError, JoseError, ValueError, KeyError) as exc:
            state.record("token_exchange_failed", state=txn["state"], error=str(exc))
            return await result_page(False, f"Token exchange failed: {exc}"), 400
        handoff = state.handoffs.get(txn["state"])
        state.record(
            "supplier_linked",
            state=txn["state"],
            supplier_user_id=claims["sub"],
            handoff_received=handoff is not None,
        )
        return await result_page(True, None, claims["sub"], handoff), 200

    async def exchange(txn: dict[str, Any], code: str) -> dict[str, Any]:
        meta = await metadata()
        async with oauth_client() as client:
            token = await client.fetch_token(
                meta["token_endpoint"], code=code, code_verifier=txn["code_verifier"]
            )
            jwks = (await client.get(meta["jwks_uri"])).raise_for_status().json()
        decoded = jwt.decode(token["id_token"], KeySet.import_key_set(jwks))
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": settings.idp_url},
            aud={"essential": True, "value": settings.client_id},
            nonce={"essential": True, "value": txn["nonce"]},
            sub={"essential": True},
            exp={"essential": True},
        ).validate(decoded.claims)
        return dict(decoded.claims)

    async def result_page(
        ok: bool,
        error: str | None,
        supplier_user_id: str | None = None,
        handoff: dict[str, Any] | None = None,
    ) -> str:
        return await render_template(
            "result.html",
            ok=ok,
            error=error,
            supplier_user_id=supplier_user_id,
            handoff=handoff,
        )

    @app.post("/post-login-redirect")
    async def post_login_redirect() -> tuple[Response, int]:
        if not secrets.compare_digest(request.headers.get("x-api-key", ""), settings.api_key):
            state.record("post_login_redirect_rejected", reason="bad x-api-key")
            return jsonify({"message": "Forbidden"}), 401
        body = await request.get_json(force=True, silent=True)
        problem = validate_handoff(body)
        behaviour = state.misbehaviour.current()
        state.record(
            "post_login_redirect",
            body=body,
            idempotency_key=request.headers.get("Idempotency-Key"),
            answered=behaviour.mode if not problem else "400",
        )
        if behaviour.mode == "slow":
            await asyncio.sleep(behaviour.delay)
        if problem:
            return jsonify({"message": problem}), 400
        if behaviour.mode in ("503", "400"):
            return jsonify({"message": f"sandbox told to answer {behaviour.mode}"}), int(
                behaviour.mode
            )
        state.handoffs.setdefault(body["state"], body)
        return jsonify({"success": True}), 200

    @app.route("/_sandbox/control", methods=["GET", "POST"])
    async def control() -> tuple[Response, int]:
        if request.method == "POST":
            try:
                state.misbehaviour = parse_misbehaviour(await request.get_json(force=True))
            except (TypeError, ValueError, AttributeError) as exc:
                return jsonify({"error": str(exc)}), 400
            state.record("control", mode=state.misbehaviour.mode, delay=state.misbehaviour.delay)
        current = state.misbehaviour.current()
        return jsonify(
            {"post_login_redirect": current.mode, "delay": current.delay, "until": current.until}
        ), 200

    @app.get("/_sandbox/events")
    async def events() -> Response:
        return jsonify(state.events)

    @app.get("/healthz")
    async def healthz() -> Response:
        return jsonify({"status": "ok"})

    return app


def validate_handoff(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for name, kind in HANDOFF_FIELDS.items():
        value = body.get(name)
        if not isinstance(value, kind) or isinstance(value, bool) or value == "":
            return f"'{name}' must be a non-empty {kind.__name__}"
    return None


def parse_misbehaviour(data: Any) -> Misbehaviour:
    """{"post_login_redirect": "ok"|"503"|"400"|"slow", "delay": s, "for_seconds": s}"""
    mode = str(data.get("post_login_redirect", "ok"))
    if mode not in ("ok", "503", "400", "slow"):
        raise ValueError("post_login_redirect must be ok, 503, 400 or slow")
    delay = float(data.get("delay", 10 if mode == "slow" else 0))
    for_seconds = data.get("for_seconds")
    until = time.time() + float(for_seconds) if for_seconds else None
    return Misbehaviour(mode, delay, until)


def sandbox_settings_from(
    idp_url: str,
    public_url: str,
    var_dir: str,
    client_id: str,
    secret: str | None,
    api_key: str | None,
    link_redirect_urls: Sequence[str] = (),
) -> SandboxSettings:
    """Fill in the client secret and API key from ./var/demo.json when not given."""
    from idp.demo import load_credentials

    demo = load_credentials(var_dir) or {}
    secret = secret or demo.get("client_secret")
    api_key = api_key or demo.get("nox_api_key")
    if not secret or not api_key:
        missing = "client secret" if not secret else "API key"
        raise ValueError(
            f"no {missing}: pass it, or run `make run` once to create {Path(var_dir) / 'demo.json'}"
        )
    return SandboxSettings(
        idp_url.rstrip("/"),
        public_url,
        client_id,
        secret,
        api_key,
        link_redirect_urls=tuple(link_redirect_urls),
    )
