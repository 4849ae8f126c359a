"""The NOX sandbox: a small Quart app that plays NOX's part of both flows over real HTTP.

This module composes it: settings, the in-memory state, the misbehaviour control and the event
list (GET /_sandbox/events lists everything it received and did). NOX's side of flow 1 lives in
idp.sandbox.flow1 (the NOX and maker apps, the supplier selector, the callback, the result),
supplier_authentication (the OAuth client, the outcome) and handoff_api, with its rules in
idp.sandbox.transactions; flow 2 in idp.sandbox.links (the registry), link_api (NOX's APIs) and
link_ui (the authenticator).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quart import Quart, Response, jsonify, render_template, request

from idp.config import PROJECT_ROOT
from idp.demo_credentials import credentials_file, load_credentials
from idp.nox.webhook_signature import DEFAULT_TEMPLATE
from idp.sandbox.flow1 import register_flow1
from idp.sandbox.link_api import register_link_api
from idp.sandbox.link_ui import register_link_ui
from idp.sandbox.links import LinkState
from idp.sandbox.mail import MailCatcher
from idp.sandbox.transactions import Transactions
from idp.sandbox.webhooks import register_webhooks
from idp.security.clock import Clock, SystemClock
from idp.vocab import HANDOFF_MODES

NOX_WINDOW_SECONDS = 900


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
    # How this supplier hands the customer to NOX (as registered on its identity provider):
    # `backchannel` needs POST /post-login-redirect for the state; the others the code alone.
    handoff_mode: str = "backchannel"
    # A second supplier in the selector, listed but not configured (no OAuth client here).
    second_supplier_slug: str = "groene-stroom"
    second_supplier_name: str = "Groene Stroom BV (not configured in this sandbox)"
    # Where flow 1's transactions are kept across restarts (None: in memory only).
    state_file: Path | None = None
    # The mail catcher's SMTP port on 127.0.0.1 (None: no catcher).
    smtp_port: int | None = None
    # Where NOX's webhooks go (empty: the identity provider's /nox/webhooks), and the string
    # they sign (the identity provider's IDP_NOX_WEBHOOK_SIGNED must say the same).
    webhook_url: str = ""
    webhook_signed: str = DEFAULT_TEMPLATE

    def __post_init__(self) -> None:
        if self.handoff_mode not in HANDOFF_MODES:
            raise ValueError(f"handoff_mode must be one of {', '.join(HANDOFF_MODES)}")
        urls = tuple(self.link_redirect_urls) or (self.idp_url.rstrip("/") + "/link/callback",)
        object.__setattr__(self, "link_redirect_urls", urls)
        if not self.webhook_url:
            object.__setattr__(self, "webhook_url", self.idp_url.rstrip("/") + "/nox/webhooks")

    @property
    def redirect_uri(self) -> str:
        return self.public_url.rstrip("/") + "/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        """Where the supplier sends the browser back after signing the customer out."""
        return self.public_url.rstrip("/") + "/signed-out"


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
    transactions: Transactions = field(default_factory=Transactions)
    misbehaviour: Misbehaviour = field(default_factory=Misbehaviour)
    links: LinkState = field(default_factory=LinkState)

    def record(self, kind: str, **data: Any) -> None:
        self.events.append({"seq": len(self.events) + 1, "at": time.time(), "type": kind, **data})


# The events that answer "did NOX get what it needs?", named as a person would.
ACTIVITY_TITLES = {
    "post_login_redirect": "Hand-off received: POST /post-login-redirect",
    "post_login_redirect_rejected": "Hand-off refused: POST /post-login-redirect",
    "supplier_linked": "Supplier authentication succeeded",
    "supplier_authentication_failed": "Supplier authentication failed",
    "supplier_sign_out_started": "Sent the customer to the supplier to sign out",
    "supplier_signed_out": "Customer signed out at the supplier and sent back",
    "webhook_sent": "Webhook sent to the supplier",
    "backchannel_logout_received": "Back-channel logout from the supplier: the customer signed out",
    "link_session_created": "Link session created: POST /v2/supplier/link-sessions",
    "link_completed": "Devices linked; browser sent back with ?data=",
    "devices_listed": "Data API asked to confirm devices: GET /v1/devices",
    "devices_rejected": "Data API request refused: GET /v1/devices",
}


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
    state = SandboxState(transactions=Transactions(settings.state_file))
    state.transactions.load(clock.now())
    if misbehave:
        state.misbehaviour = parse_misbehaviour({"post_login_redirect": misbehave})
    app.extensions["sandbox"] = state
    register_flow1(app, settings, state, clock)
    register_link_api(app, settings, state, clock)
    register_link_ui(app, settings, state, clock)
    register_webhooks(app, settings, state)
    if settings.smtp_port is not None:
        register_mail_catcher(app, MailCatcher(settings.smtp_port))

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

    @app.get("/_sandbox/activity")
    async def activity() -> str:
        """What NOX received and did, newest first, for a person rehearsing the flows."""
        rows = [
            {
                "at": time.strftime("%H:%M:%S", time.gmtime(event["at"])),
                "title": ACTIVITY_TITLES.get(event["type"], event["type"].replace("_", " ")),
                "key": event["type"] in ACTIVITY_TITLES,
                "detail": {k: v for k, v in event.items() if k not in ("seq", "at", "type")},
            }
            for event in reversed(state.events)
        ]
        return await render_template("activity.html", rows=rows)

    @app.get("/healthz")
    async def healthz() -> Response:
        return jsonify({"status": "ok"})

    return app


def register_mail_catcher(app: Quart, catcher: MailCatcher) -> None:
    """The mail catcher runs while the sandbox serves: /mail for a person, /_sandbox/mail for
    tests."""
    app.extensions["mail"] = catcher
    app.before_serving(catcher.start)
    app.after_serving(catcher.stop)

    @app.get("/mail")
    async def mail() -> str:
        messages = list(reversed(catcher.messages))
        return await render_template("mail.html", messages=messages, port=catcher.port)

    @app.get("/_sandbox/mail")
    async def mail_json() -> Response:
        return jsonify(catcher.messages)


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
    handoff_mode: str = "backchannel",
    smtp_port: int | None = None,
) -> SandboxSettings:
    """Fill in the client secret and API key from ./var/demo.json when not given; flow 1's
    transactions are kept in {var_dir}/sandbox-transactions.json."""
    demo = load_credentials(var_dir) or {}
    secret = secret or demo.get("client_secret")
    api_key = api_key or demo.get("nox_api_key")
    if not secret or not api_key:
        missing = "client secret" if not secret else "API key"
        raise ValueError(
            f"no {missing}: pass it, or run `make run` once to create {credentials_file(var_dir)}"
        )
    return SandboxSettings(
        idp_url.rstrip("/"),
        public_url,
        client_id,
        secret,
        api_key,
        link_redirect_urls=tuple(link_redirect_urls),
        handoff_mode=handoff_mode,
        state_file=Path(var_dir) / "sandbox-transactions.json",
        smtp_port=smtp_port,
    )
