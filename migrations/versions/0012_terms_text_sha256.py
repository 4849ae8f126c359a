"""terms_acceptances.text_sha256: the SHA-256 of the exact text the customer accepted (its
Markdown as stored), so that an acceptance is evidence of what was shown (GDPR Art. 7(1))

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("terms_acceptances") as batch:
        batch.add_column(sa.Column("text_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("terms_acceptances") as batch:
        batch.drop_column("text_sha256")
