"""One typed settings object, read from IDP_* environment variables and an optional TOML file."""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from email.utils import formataddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# argon2id bounds (KiB, and KiB x passes): OWASP's weakest recommended row is 7 MiB, t=5.
ARGON2_MIN_MEMORY_KIB = 7168
ARGON2_MAX_MEMORY_KIB = 1024 * 1024
ARGON2_MIN_WORK = 7168 * 5
MIN_METRICS_TOKEN = 16  # a bearer token for /metrics: long enough not to be guessed


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it): the
    password pool's default size."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    # The issuer URL every URL handed out is built from; http:// only on a loopback host.
    issuer: str = "http://127.0.0.1:8000"
    # sqlite+aiosqlite:///... or postgresql+asyncpg://...; empty: idp.sqlite3 in IDP_VAR_DIR.
    database_url: str = ""
    # Signs the browser cookie; unset: generated once and kept in the database.
    secret_key: str | None = None
    auth_session_seconds: int = 900  # the whole authentication session, from /authorize on
    code_seconds: int = 60  # authorization code lifetime
    access_token_seconds: int = 3600  # access token lifetime
    id_token_seconds: int = 3600  # ID token lifetime
    refresh_token_seconds: int = 30 * 24 * 3600  # refresh token lifetime, renewed at rotation
    # On top of the sliding lifetime: a refresh-token family ends this long after its first issue.
    refresh_token_absolute_seconds: int = 90 * 24 * 3600
    login_session_seconds: int = 8 * 3600  # how long a sign-in is remembered in the browser
    supplier_name: str = "Energieleverancier"  # shown on every page and in mail
    # The IANA time zone the customer's pages show times in (NOX's customers are in CET).
    timezone: str = "Europe/Amsterdam"
    logo_path: str | None = None  # an image file shown on every page (served at /logo)
    # Without SMTP: where "Forgot your password?" links to (the supplier's own page).
    password_reset_url: str | None = None
    # Mail to customers (the built-in "Forgot your password?"): SMTP server, how to secure the
    # connection (starttls, tls, or none: loopback only) and the sender; no host, no mail.
    smtp_host: str = ""
    smtp_port: int = 587  # the SMTP server's port
    smtp_security: str = "starttls"  # starttls, tls (implicit, port 465) or none (loopback only)
    smtp_username: str | None = None  # SMTP AUTH, when the server wants it
    smtp_password: str | None = None  # SMTP AUTH's password
    mail_from: str = ""  # default: "<supplier name>" <no-reply@<issuer host>>
    password_reset_seconds: int = 30 * 60  # how long a reset link works
    # One line per record: json (one object a line, for a log pipeline) or text (for a person).
    # `idp dev` (behind `make run`) logs text unless this is set.
    log_format: str = "json"
    # OpenTelemetry: the OTLP/HTTP collector's base URL (spans go to <this>/v1/traces), e.g.
    # http://127.0.0.1:4318; needs the otel extra (`make otel`). Empty: no traces, and nothing of
    # OpenTelemetry is imported.
    otel_endpoint: str = ""
    max_body_bytes: int = 64 * 1024  # a request body beyond this is a 413
    # /metrics answers only a request with `Authorization: Bearer <this>`; unset, it is a 404.
    metrics_token: str | None = None
    # Failed sign-ins allowed before each next attempt waits longer: per account, per network.
    signin_free_failures: int = 5
    signin_ip_free_failures: int = 20  # failed sign-ins per client network before it waits
    # New authentication sessions per client network (IPv4 address or IPv6 /64) within a minute.
    authorize_per_minute: int = 60
    admin_idle_seconds: int = 15 * 60  # an idle admin console session ends after this
    # An admin session ends this long after sign-in, however active (the idle timeout aside).
    admin_session_seconds: int = 8 * 3600
    # How long an admin's enrolment link (an invitation, or a new authenticator) works.
    admin_invitation_seconds: int = 72 * 3600
    # Password hashing runs on a pool of its own: this many threads (default: one per usable
    # core, each at a lower priority) and at most this many waiting checks; beyond that a
    # sign-in is answered 503.
    password_workers: int = field(default_factory=usable_cores)
    password_queue: int = 8  # checks that may wait for the pool; beyond them a 503
    # argon2id for new hashes: OWASP's row of 12 MiB, 3 passes, 1 lane (as strong as its 19 MiB
    # x 2 by OWASP's table; here the same CPU and 7 MiB less memory per hash). A stored hash
    # with other parameters is re-hashed with these at the customer's next sign-in.
    argon2_memory_kib: int = 12288
    argon2_time_cost: int = 3  # argon2id passes of new hashes
    argon2_parallelism: int = 1  # argon2id lanes of new hashes
    # `Server-Timing` tells how long a request took, and so whether an email is known: only
    # for development.
    server_timing: bool = False
    var_dir: str = str(PROJECT_ROOT / "var")  # the database's default place, metrics files
    # NOX: the API key NOX gave the supplier, and the hand-off to POST /post-login-redirect.
    nox_api_key: str | None = None
    nox_auth_base: str = "https://auth.nox.energy"  # NOX's auth API (the sandbox in idp dev)
    nox_timeout_seconds: float = 10.0  # how long a request to NOX may take
    # NOX's data API (GET /v1/devices), production https://api.nox.energy; empty = not
    # configured, so device moves away from another customer are held for an operator.
    nox_api_base: str = "https://api.nox.energy"
    # Where NOX sends the browser after a link session; must equal what is registered at NOX.
    link_callback_url: str = ""
    # NOX does not publish whether its allow-list accepts a query string on redirect_url. When
    # this names a parameter (e.g. "link_session"), redirect_url carries ?<name>=<our session id>
    # and the callback completes exactly that session; empty: the browser's signed cookie alone.
    link_callback_session_param: str = ""
    # NOX's webhooks (POST /nox/webhooks): NOX does not publish the exact string it signs; this
    # says how it is built from {timestamp}, {id} and {body}. Older timestamps are refused.
    nox_webhook_signed: str = "{timestamp}.{body}"
    nox_webhook_tolerance_seconds: int = 300  # how far a webhook's timestamp may be from ours
    handoff_timeout_seconds: float = 3.0  # how long one hand-off attempt may take
    # When the outbox gives up a hand-off that has no authentication session's end (older rows).
    handoff_max_age_seconds: int = 24 * 3600
    handoff_retry_base_seconds: float = 5.0  # the hand-off retries' backoff base
    handoff_poll_seconds: float = 2.0  # how often the hand-off worker looks at the outbox
    handoff_extra: str = ""  # a JSON object of static fields added to every hand-off body
    # Hand-off URLs outside NOX's origin that an operator allows (space-separated, exact); they
    # never receive the NOX API key.
    handoff_allowed_urls: str = ""
    # Retention (idp/retention.py, `idp purge`): how long rows are kept after they ended.
    # Expired auth sessions, codes, tokens, link sessions, admin sessions and throttles: a day
    # (long enough to read a fresh incident from them, useless after that).
    retention_protocol_seconds: int = 24 * 3600
    retention_signin_seconds: int = 30 * 24 * 3600  # expired sign-ins: the console lists them
    retention_handoff_seconds: int = 30 * 24 * 3600  # delivered, failed or expired hand-offs
    # Security events and the audit log: 400 days, a year of history plus a month's margin.
    retention_event_seconds: int = 400 * 24 * 3600
    # IP addresses and browsers (user agents) kept with terms acceptances and security events:
    # forgotten after 90 days (the rows themselves stay as long as their own period says).
    retention_network_seconds: int = 90 * 24 * 3600
    retention_interval_seconds: int = 3600  # how often the background worker purges
    retention_batch: int = 1000  # rows per DELETE; at most 50 batches per table per run
    # Reverse proxies (IPs or CIDRs, space- or comma-separated) whose X-Forwarded-For is
    # believed; empty: the direct peer is the client (idp/web/proxies.py).
    trusted_proxies: str = ""
    templates_dir: str = str(PROJECT_ROOT / "templates")  # the page and mail templates
    static_dir: str = str(PROJECT_ROOT / "static")  # the files served at /static
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.link_callback_url:
            object.__setattr__(
                self, "link_callback_url", self.issuer.rstrip("/") + "/link/callback"
            )
        if not self.database_url:
            path = Path(self.var_dir) / "idp.sqlite3"
            object.__setattr__(self, "database_url", f"sqlite+aiosqlite:///{path}")
        self.validate()

    # ---- derived -------------------------------------------------------------------------
    @property
    def issuer_is_insecure(self) -> bool:
        """True for an http:// issuer, which is only accepted on a loopback host."""
        return urlsplit(self.issuer).scheme == "http"

    @property
    def cookie_secure(self) -> bool:
        return not self.issuer_is_insecure

    @property
    def handoff_extra_fields(self) -> dict[str, Any]:
        if not self.handoff_extra:
            return {}
        try:
            value = json.loads(self.handoff_extra)
        except json.JSONDecodeError:
            raise ConfigError("IDP_HANDOFF_EXTRA must be a JSON object") from None
        if not isinstance(value, dict):
            raise ConfigError("IDP_HANDOFF_EXTRA must be a JSON object")
        return value

    @property
    def nox_origin(self) -> str:
        """scheme://host[:port] of IDP_NOX_AUTH_BASE: the only place the NOX API key goes."""
        parts = urlsplit(self.nox_auth_base)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def handoff_allowed_url_list(self) -> tuple[str, ...]:
        return tuple(self.handoff_allowed_urls.split())

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        try:
            return tuple(
                ipaddress.ip_network(item, strict=False)
                for item in self.trusted_proxies.replace(",", " ").split()
            )
        except ValueError as exc:
            raise ConfigError(f"IDP_TRUSTED_PROXIES: {exc}") from None

    @property
    def mail_domain(self) -> str:
        return urlsplit(self.issuer).hostname or "localhost"

    @property
    def mail_sender(self) -> str:
        if self.mail_from:
            return self.mail_from
        return formataddr((self.supplier_name, f"no-reply@{self.mail_domain}"))

    def url(self, path: str) -> str:
        return self.issuer.rstrip("/") + path

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def validate(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"IDP_TIMEZONE must be an IANA time zone, got {self.timezone!r}"
            ) from None
        if self.smtp_security not in ("starttls", "tls", "none"):
            raise ConfigError("IDP_SMTP_SECURITY must be starttls, tls or none")
        if self.smtp_host and self.smtp_security == "none" and not is_loopback_host(self.smtp_host):
            raise ConfigError("IDP_SMTP_SECURITY=none is allowed only for a loopback IDP_SMTP_HOST")
        parts = urlsplit(self.issuer)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError(f"IDP_ISSUER must be an absolute https URL, got {self.issuer!r}")
        if parts.query or parts.fragment:
            raise ConfigError("IDP_ISSUER must not have a query or fragment (RFC 8414 §2)")
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise ConfigError("IDP_ISSUER may use http:// only on a loopback host")
        try:
            backend = make_url(self.database_url).get_backend_name()
        except ArgumentError:
            raise ConfigError("IDP_DATABASE_URL is not a database URL") from None
        if backend not in ("sqlite", "postgresql"):
            raise ConfigError(
                "IDP_DATABASE_URL must be an sqlite+aiosqlite or postgresql+asyncpg URL"
            )
        for name in (
            "auth_session_seconds",
            "code_seconds",
            "access_token_seconds",
            "id_token_seconds",
            "refresh_token_seconds",
            "refresh_token_absolute_seconds",
            "login_session_seconds",
            "password_reset_seconds",
            "max_body_bytes",
            "authorize_per_minute",
            "admin_idle_seconds",
            "admin_session_seconds",
            "admin_invitation_seconds",
            "password_workers",
            "nox_timeout_seconds",
            "nox_webhook_tolerance_seconds",
            "handoff_timeout_seconds",
            "handoff_retry_base_seconds",
            "handoff_poll_seconds",
            "retention_protocol_seconds",
            "retention_signin_seconds",
            "retention_handoff_seconds",
            "retention_event_seconds",
            "retention_network_seconds",
            "retention_interval_seconds",
            "retention_batch",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"IDP_{name.upper()} must be a positive number")
        if self.password_queue < 0:
            raise ConfigError("IDP_PASSWORD_QUEUE must not be negative")
        self._validate_argon2()
        self.handoff_extra_fields  # noqa: B018 - parse it now, so a bad value fails at start-up
        self.trusted_proxy_networks  # noqa: B018 - likewise
        # The NOX API key travels to both: never in clear text beyond this machine.
        for name, url in (
            ("NOX_AUTH_BASE", self.nox_auth_base),
            ("NOX_API_BASE", self.nox_api_base),
        ):
            if name == "NOX_API_BASE" and not url:
                continue  # no data API: moves between customers wait for an operator
            nox = urlsplit(url)
            if nox.scheme not in ("https", "http") or not nox.hostname:
                raise ConfigError(f"IDP_{name} must be an absolute https URL")
            if nox.scheme == "http" and not is_loopback_host(nox.hostname):
                raise ConfigError(f"IDP_{name} may use http:// only on a loopback host")
        if self.otel_endpoint:
            collector = urlsplit(self.otel_endpoint)
            if collector.scheme not in ("https", "http") or not collector.hostname:
                raise ConfigError("IDP_OTEL_ENDPOINT must be an absolute http(s) URL")
            if collector.query or collector.fragment:
                raise ConfigError("IDP_OTEL_ENDPOINT must not have a query or fragment")
        if self.log_format not in ("text", "json"):
            raise ConfigError("IDP_LOG_FORMAT must be 'text' or 'json'")
        if self.password_reset_url and urlsplit(self.password_reset_url).scheme not in (
            "https",
            "http",
        ):
            raise ConfigError("IDP_PASSWORD_RESET_URL must be an absolute http(s) URL")
        if self.metrics_token is not None and len(self.metrics_token) < MIN_METRICS_TOKEN:
            raise ConfigError(f"IDP_METRICS_TOKEN must be at least {MIN_METRICS_TOKEN} characters")

    def _validate_argon2(self) -> None:
        """Bounds from OWASP's table: no weaker than its cheapest row (7 MiB x 5 passes), no
        more than 1 GiB per hash; parallelism 1 suits a pool with one thread per core."""
        for name, low, high in (
            ("argon2_memory_kib", ARGON2_MIN_MEMORY_KIB, ARGON2_MAX_MEMORY_KIB),
            ("argon2_time_cost", 1, 20),
            ("argon2_parallelism", 1, 16),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"IDP_{name.upper()} must be a whole number from {low} to {high}")
        if self.argon2_memory_kib * self.argon2_time_cost < ARGON2_MIN_WORK:
            raise ConfigError(
                "IDP_ARGON2_MEMORY_KIB x IDP_ARGON2_TIME_COST must be at least "
                f"{ARGON2_MIN_WORK} (OWASP: e.g. 19456 x 2, 12288 x 3, 7168 x 5)"
            )

    def with_overrides(self, **values: Any) -> Settings:
        return replace(self, **values)


def _coerce(name: str, kind: Any, raw: str) -> Any:
    kind_name = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    if kind_name.startswith("int"):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"IDP_{name.upper()} must be a whole number, got {raw!r}") from None
    if kind_name.startswith("bool"):
        if raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if raw.strip().lower() in ("", "0", "false", "no", "off"):
            return False
        raise ConfigError(f"IDP_{name.upper()} must be true or false, got {raw!r}")
    if kind_name.startswith("float"):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"IDP_{name.upper()} must be a number, got {raw!r}") from None
    return raw or None if "None" in kind_name else raw


def load_settings(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from IDP_CONFIG (a TOML file), then IDP_* variables, then explicit overrides."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    config_file = env.get("IDP_CONFIG")
    if config_file:
        try:
            with open(config_file, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read IDP_CONFIG {config_file}: {exc}") from None
        known = {f.name for f in fields(Settings)}
        for key, value in data.items():
            if key not in known:
                raise ConfigError(f"unknown setting {key!r} in {config_file}")
            values[key] = value
    for f in fields(Settings):
        if f.name == "extra":
            continue
        raw = env.get(f"IDP_{f.name.upper()}")
        if raw is not None:
            values[f.name] = _coerce(f.name, f.type, raw)
    values.update(overrides)
    return Settings(**values)
