"""flow 2: first link per device, and device moves held for an operator

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_first_links",
        sa.Column("device_id", sa.String(length=255), nullable=False),
        sa.Column("first_linked_at", sa.BigInteger(), nullable=False),
        sa.Column("first_connected_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_first_links")),
    )
    op.create_table(
        "held_links",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("link_session_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("supplier_user_id", sa.String(length=255), nullable=False),
        sa.Column("nox_user_id", sa.String(length=255), nullable=False),
        sa.Column("brand", sa.String(length=64), nullable=False),
        sa.Column("asset_type", sa.String(length=8), nullable=False),
        sa.Column("device_ids", sa.JSON(), nullable=False),
        sa.Column("connected_at", sa.BigInteger(), nullable=False),
        sa.Column("moved_from", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_held_links_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_links")),
    )
    with op.batch_alter_table("held_links", schema=None) as batch_op:
        batch_op.create_index("ix_held_links_status", ["status", "created_at"], unique=False)
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_linked_at", sa.BigInteger(), nullable=True))
    # What is known today: the earliest "linked" in the history, else the current link.
    op.execute(
        "INSERT INTO device_first_links (device_id, first_linked_at, first_connected_at) "
        "SELECT d.device_id, COALESCE((SELECT MIN(h.at) FROM device_history h "
        "WHERE h.device_id = d.device_id AND h.action = 'linked'), d.linked_at), d.connected_at "
        "FROM devices d"
    )
    op.execute(
        "UPDATE devices SET first_linked_at = (SELECT f.first_linked_at FROM device_first_links f "
        "WHERE f.device_id = devices.device_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("first_linked_at")
    with op.batch_alter_table("held_links", schema=None) as batch_op:
        batch_op.drop_index("ix_held_links_status")
    op.drop_table("held_links")
    op.drop_table("device_first_links")
