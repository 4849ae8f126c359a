"""The schema. Times are Unix seconds (integers) so that one injectable clock rules every expiry.

Secrets (passwords, client secrets, codes, tokens, session ids) are stored only as hashes.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Time = BigInteger

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("supplier_user_id", String(255), nullable=False, unique=True),
    Column("name", String(255), nullable=True),
    Column("password_hash", Text, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
)

clients = Table(
    "clients",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("secret_hash", String(128), nullable=True),
    Column("token_endpoint_auth_method", String(32), nullable=False),
    Column("grant_types", JSON, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    # How the customer is handed to the client after sign-in: backchannel, form_post, redirect.
    Column("handoff_mode", String(16), nullable=False, default="redirect"),
    Column("post_login_redirect_url", Text, nullable=True),
    # "nox" for NOX registered through the preset: it must have the back-channel hand-off.
    Column("preset", String(16), nullable=True),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    # Incremented by every change to the client or its redirect URIs (store/clients.py): a
    # cached client is current while its version is (oauth/clients.py).
    Column("version", Integer, nullable=False, default=1, server_default="1"),
    # Back-Channel Logout 1.0: where the client hears that a customer signed out.
    Column("backchannel_logout_uri", Text, nullable=True),
)

client_redirect_uris = Table(
    "client_redirect_uris",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "client_id",
        String(128),
        ForeignKey("clients.client_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("uri", Text, nullable=False),
    UniqueConstraint("client_id", "uri", name="uq_client_redirect_uris_client_uri"),
)

# Where the client may send a browser after signing the customer out (RP-Initiated Logout 1.0).
client_post_logout_redirect_uris = Table(
    "client_post_logout_redirect_uris",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "client_id",
        String(128),
        ForeignKey("clients.client_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("uri", Text, nullable=False),
    UniqueConstraint("client_id", "uri", name="uq_client_post_logout_redirect_uris_client_uri"),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("browser_id", String(64), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("query", Text, nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("state", Text, nullable=True),
    Column("language", String(8), nullable=False),
    Column("force_login", Boolean, nullable=False, default=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("auth_time", Time, nullable=True),
    Column("status", String(16), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
    # When the customer last acted in this session (signed in, accepted terms, confirmed).
    Column("interacted_at", Time, nullable=True),
)
Index("ix_auth_sessions_expires_at", auth_sessions.c.expires_at)

login_sessions = Table(
    "login_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("auth_time", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(512), nullable=True),
)
Index("ix_login_sessions_expires_at", login_sessions.c.expires_at)  # retention

# "Forgot your password?": single-use, short-lived reset links (only their SHA-256 is stored).
password_resets = Table(
    "password_resets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
    Column("used_at", Time, nullable=True),
    Column("ip", String(64), nullable=True),
)
Index("ix_password_resets_user_id", password_resets.c.user_id)
Index("ix_password_resets_expires_at", password_resets.c.expires_at)  # retention

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("client_id", String(128), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("nonce", Text, nullable=True),
    Column("code_challenge", String(128), nullable=True),
    Column("code_challenge_method", String(16), nullable=True),
    Column("auth_time", Time, nullable=False),
    Column("auth_session_id", String(64), nullable=True),
    Column("created_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
    Column("used_at", Time, nullable=True),
    # When tokens were stored for it, and when it was presented again (then none may be).
    Column("exchanged_at", Time, nullable=True),
    Column("replayed_at", Time, nullable=True),
)
Index(
    "ix_authorization_codes_client_nonce",
    authorization_codes.c.client_id,
    authorization_codes.c.nonce,
)
Index("ix_authorization_codes_expires_at", authorization_codes.c.expires_at)  # retention

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(128), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("scope", Text, nullable=False),
    Column("access_token_hash", String(64), nullable=False, unique=True),
    Column("refresh_token_hash", String(64), nullable=True, unique=True),
    Column("issued_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
    Column("refresh_expires_at", Time, nullable=True),
    Column("revoked_at", Time, nullable=True),
    Column("rotated_at", Time, nullable=True),
    Column("family_id", String(64), nullable=False),
    Column("code_id", Integer, nullable=True),
    Column("auth_time", Time, nullable=True),
)
Index("ix_tokens_family_id", tokens.c.family_id)

# A refresh-token family: the tokens issued from one code (or one client_credentials request)
# and their rotations. Revoking a family and adding a token to it both update this row first, so
# they serialise on it; `created_at` starts the absolute refresh lifetime.
token_families = Table(
    "token_families",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("client_id", String(128), nullable=False),
    Column("code_id", Integer, nullable=True),
    Column("created_at", Time, nullable=False),
    Column("last_issued_at", Time, nullable=False),
    Column("revoked_at", Time, nullable=True),
)
Index("ix_token_families_code_id", token_families.c.code_id)
Index("ix_tokens_code_id", tokens.c.code_id)
Index("ix_tokens_user_id", tokens.c.user_id)
Index("ix_tokens_expires_at", tokens.c.expires_at)  # retention

terms_versions = Table(
    "terms_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(64), nullable=False),
    Column("language", String(8), nullable=False),
    Column("body_md", Text, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("published_at", Time, nullable=True),
    UniqueConstraint("version", "language", name="uq_terms_versions_version_language"),
)

terms_acceptances = Table(
    "terms_acceptances",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("version", String(64), nullable=False),
    Column("language", String(8), nullable=False),
    Column("accepted_at", Time, nullable=False),
    Column("client_id", String(128), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(512), nullable=True),
    # SHA-256 (hex) of the text accepted, its Markdown as stored: evidence of what was shown.
    Column("text_sha256", String(64), nullable=True),
)
Index("ix_terms_acceptances_user_version", terms_acceptances.c.user_id, terms_acceptances.c.version)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(128), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_jwk", JSON, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("retired_at", Time, nullable=True),
)

throttles = Table(
    "throttles",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", Time, nullable=False),
)
Index("ix_throttles_last_failure_at", throttles.c.last_failure_at)  # retention

security_events = Table(
    "security_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Time, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("actor", String(320), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("detail", JSON, nullable=False),
)
Index("ix_security_events_kind_at", security_events.c.kind, security_events.c.at)
Index("ix_security_events_at", security_events.c.at)  # retention

# The outbox of hand-offs to NOX's POST /post-login-redirect: written with the code, delivered
# at least once (with an Idempotency-Key), never again once one attempt succeeded.
handoffs = Table(
    "handoffs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("client_id", String(128), nullable=False),
    Column("url", Text, nullable=False),
    Column("body", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", Time, nullable=False),
    Column("next_attempt_at", Time, nullable=False),
    Column("lease_until", Time, nullable=True),
    Column("finished_at", Time, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    # The end of the authentication session that produced it: NOX's window closes then too.
    Column("expires_at", Time, nullable=True),
)
Index("ix_handoffs_status_next", handoffs.c.status, handoffs.c.next_attempt_at)
Index("ix_handoffs_finished_at", handoffs.c.finished_at)  # retention

# Flow 2: link sessions we started at NOX, and the device registry with its history.
link_sessions = Table(
    "link_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("link_token", String(255), nullable=True, unique=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("supplier_user_id", String(255), nullable=False),
    Column("asset_type", String(8), nullable=False),
    Column("language", String(8), nullable=False),
    Column("brand", String(64), nullable=True),
    Column("link_url", Text, nullable=False),
    Column("client_id", String(128), nullable=True),
    Column("return_url", Text, nullable=True),
    Column("created_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
    Column("completed_at", Time, nullable=True),
)
Index("ix_link_sessions_user_open", link_sessions.c.user_id, link_sessions.c.completed_at)
Index("ix_link_sessions_expires_at", link_sessions.c.expires_at)  # retention

devices = Table(
    "devices",
    metadata,
    Column("device_id", String(255), primary_key=True),  # one owner per device (NOX's rule)
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("supplier_user_id", String(255), nullable=False),
    Column("nox_user_id", String(255), nullable=False),
    Column("brand", String(64), nullable=False),
    Column("asset_type", String(8), nullable=False),
    Column("connected_at", Time, nullable=False),
    Column("linked_at", Time, nullable=False),
    Column("link_session_id", String(64), nullable=True),
    # When the device first linked here, kept across re-links and owner moves (NOX needs ~30
    # days of data after a device first connects); copied from device_first_links.
    Column("first_linked_at", Time, nullable=True),
)
Index("ix_devices_user_id", devices.c.user_id)

# The first time each device was linked, whoever holds it now; never updated once written.
device_first_links = Table(
    "device_first_links",
    metadata,
    Column("device_id", String(255), primary_key=True),
    Column("first_linked_at", Time, nullable=False),
    Column("first_connected_at", Time, nullable=False),  # NOX's connected_at, as claimed
)

# Link callbacks that would move a device away from another customer and that NOX's data API
# could not confirm: held for an operator (approve applies them, reject drops them).
held_links = Table(
    "held_links",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("link_session_id", String(64), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("supplier_user_id", String(255), nullable=False),
    Column("nox_user_id", String(255), nullable=False),
    Column("brand", String(64), nullable=False),
    Column("asset_type", String(8), nullable=False),
    Column("device_ids", JSON, nullable=False),
    Column("connected_at", Time, nullable=False),
    Column("moved_from", JSON, nullable=False),  # device_id -> supplier_user_id holding it
    Column("reason", String(64), nullable=False),  # data_api_not_configured, data_api_failed
    Column("status", String(16), nullable=False),  # held, approved, rejected
    Column("created_at", Time, nullable=False),
    Column("decided_at", Time, nullable=True),
    Column("decided_by", String(320), nullable=True),
)
Index("ix_held_links_status", held_links.c.status, held_links.c.created_at)

device_history = Table(
    "device_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Time, nullable=False),
    Column("device_id", String(255), nullable=False),
    Column("action", String(16), nullable=False),  # linked, replaced, moved_away, disconnected
    Column("supplier_user_id", String(255), nullable=False),
    Column("nox_user_id", String(255), nullable=True),
    Column("brand", String(64), nullable=True),
    Column("link_session_id", String(64), nullable=True),
)
Index("ix_device_history_device_id", device_history.c.device_id)

# What NOX's webhooks last said about each device (each field with the time NOX gave it).
device_status = Table(
    "device_status",
    metadata,
    Column("device_id", String(255), primary_key=True),
    # NOX's sub-event (e.g. being_steered) and its value: whether the device is in that state.
    Column("steerable_status", String(64), nullable=True),
    Column("steerable", Boolean, nullable=True),
    Column("steerable_at", Time, nullable=True),
    Column("needs_reauthentication", Boolean, nullable=True),
    Column("reauthentication_at", Time, nullable=True),
)

# The X-Webhook-Id of every webhook received (kept a week): a repeated one changes nothing.
nox_webhook_receipts = Table(
    "nox_webhook_receipts",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("received_at", Time, nullable=False),
)
Index("ix_nox_webhook_receipts_received_at", nox_webhook_receipts.c.received_at)

# Supplier admins (separate from customers): password + TOTP, roles viewer < operator < owner.
admins = Table(
    "admins",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("totp_secret", String(64), nullable=False),
    Column("last_totp_step", BigInteger, nullable=True),  # a code is accepted once
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Time, nullable=False),
    # The IANA time zone the admin reads the console's times in; NULL: IDP_TIMEZONE.
    Column("timezone", String(64), nullable=True),
    # The language the admin reads the console in (nl, en, fr, es); NULL: the browser's.
    Column("language", String(8), nullable=True),
    # active, invited or totp_reset (idp/records.py): only an active admin signs in.
    Column("status", String(16), nullable=False, default="active", server_default="active"),
)

# One-time enrolment links (an invitation, or a new authenticator after an owner's reset): only
# the SHA-256 of the link's token is stored; the newest link of an admin replaces the older. The
# password chosen and the TOTP secret shown wait here until a current code confirms them.
admin_enrolments = Table(
    "admin_enrolments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("admin_id", Integer, ForeignKey("admins.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", String(16), nullable=False),  # invitation or totp_reset
    Column("created_at", Time, nullable=False),
    Column("created_by", String(400), nullable=False),
    Column("expires_at", Time, nullable=False),
    Column("used_at", Time, nullable=True),  # used, replaced or revoked: dead
    Column("password_hash", Text, nullable=True),
    Column("totp_secret", String(64), nullable=True),
)
Index("ix_admin_enrolments_admin_id", admin_enrolments.c.admin_id)

admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("admin_id", Integer, ForeignKey("admins.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("last_seen_at", Time, nullable=False),
    Column("ip", String(64), nullable=True),
)
Index("ix_admin_sessions_last_seen_at", admin_sessions.c.last_seen_at)  # retention
