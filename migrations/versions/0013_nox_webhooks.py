"""device_status and nox_webhook_receipts: what NOX's webhooks say about each device (whether
NOX is steering it, whether the customer must sign in again at the maker), and the webhook ids
already received (NOX may send one twice)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_status",
        sa.Column("device_id", sa.String(255), primary_key=True),
        sa.Column("steerable_status", sa.String(64), nullable=True),
        sa.Column("steerable", sa.Boolean(), nullable=True),
        sa.Column("steerable_at", sa.BigInteger(), nullable=True),
        sa.Column("needs_reauthentication", sa.Boolean(), nullable=True),
        sa.Column("reauthentication_at", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "nox_webhook_receipts",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_nox_webhook_receipts_received_at", "nox_webhook_receipts", ["received_at"])


def downgrade() -> None:
    op.drop_table("nox_webhook_receipts")
    op.drop_table("device_status")
