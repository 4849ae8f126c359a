"""client_post_logout_redirect_uris: where a client may send a browser back after signing the
customer out (OpenID Connect RP-Initiated Logout 1.0 §3.1, matched exactly like redirect URIs)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "client_post_logout_redirect_uris",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "client_id",
            sa.String(128),
            sa.ForeignKey("clients.client_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.UniqueConstraint(
            "client_id", "uri", name="uq_client_post_logout_redirect_uris_client_uri"
        ),
    )


def downgrade() -> None:
    op.drop_table("client_post_logout_redirect_uris")
