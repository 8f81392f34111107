"""Postmortem drafts and follow-up action items.

Revision ID: 0005_postmortem
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_postmortem"
down_revision = "0001_foundation"
branch_labels = ("postmortem",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "postmortems",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False, unique=True),
        sa.Column("markdown", sa.Text, nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True)),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("done_link", sa.String(500)),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        sa.Column("done_by", sa.String(64)),
        sa.Column("warning", sa.Text),
    )
    op.create_table(
        "followups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False, index=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("owner", sa.String(64)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("followups")
    op.drop_table("postmortems")
