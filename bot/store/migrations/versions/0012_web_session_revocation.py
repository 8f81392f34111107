"""Signing out ends a sign-in everywhere: a per-person generation the session cookies carry.

Revision ID: 0012_web_session_revocation
Revises: 0011_web_sessions

Sessions stay signed cookies (a page read costs no write); a page read compares the cookie's generation
with this row (one primary-key SELECT), and signing out adds one to it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_web_session_revocation"
down_revision = "0011_web_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_session_generations",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("web_session_generations")
