"""indexes the retention job deletes by (expiry, last use, time)

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, column): what idp/store/retention.py selects expired rows by.
INDEXES = (
    ("ix_authorization_codes_expires_at", "authorization_codes", "expires_at"),
    ("ix_tokens_expires_at", "tokens", "expires_at"),
    ("ix_link_sessions_expires_at", "link_sessions", "expires_at"),
    ("ix_login_sessions_expires_at", "login_sessions", "expires_at"),
    ("ix_admin_sessions_last_seen_at", "admin_sessions", "last_seen_at"),
    ("ix_throttles_last_failure_at", "throttles", "last_failure_at"),
    ("ix_handoffs_finished_at", "handoffs", "finished_at"),
    ("ix_security_events_at", "security_events", "at"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
