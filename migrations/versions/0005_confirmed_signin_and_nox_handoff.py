"""a step the customer took in this authentication session; hand-offs end with it; NOX preset

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auth_sessions") as batch:
        batch.add_column(sa.Column("interacted_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("expires_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("preset", sa.String(length=16), nullable=True))
    # The README told operators to register NOX as client `nox`: that client is NOX, so it gets
    # NOX's rules (a step in every authentication session; a warning without the hand-off).
    op.execute("UPDATE clients SET preset = 'nox' WHERE client_id = 'nox'")


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("preset")
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("auth_sessions") as batch:
        batch.drop_column("interacted_at")
