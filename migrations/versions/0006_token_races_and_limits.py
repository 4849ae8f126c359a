"""token families (revocation under a row lock, absolute refresh lifetime); codes marked replayed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "token_families",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("code_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_issued_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_families")),
    )
    with op.batch_alter_table("token_families") as batch:
        batch.create_index("ix_token_families_code_id", ["code_id"], unique=False)
    with op.batch_alter_table("authorization_codes") as batch:
        batch.add_column(sa.Column("exchanged_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("replayed_at", sa.BigInteger(), nullable=True))
    # Every family that has tokens gets its row: first issue, newest issue, and revoked when no
    # token of it is left alive (neither revoked nor rotated away).
    op.execute(
        """
        INSERT INTO token_families (id, client_id, code_id, created_at, last_issued_at, revoked_at)
        SELECT family_id, MIN(client_id), MAX(code_id), MIN(issued_at), MAX(issued_at),
               CASE WHEN SUM(CASE WHEN revoked_at IS NULL AND rotated_at IS NULL THEN 1 ELSE 0 END)
                         = 0
                    THEN COALESCE(MAX(revoked_at), MAX(issued_at)) END
        FROM tokens GROUP BY family_id
        """
    )
    op.execute(
        "UPDATE authorization_codes SET exchanged_at = used_at "
        "WHERE id IN (SELECT code_id FROM tokens WHERE code_id IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("authorization_codes") as batch:
        batch.drop_column("replayed_at")
        batch.drop_column("exchanged_at")
    with op.batch_alter_table("token_families") as batch:
        batch.drop_index("ix_token_families_code_id")
    op.drop_table("token_families")
