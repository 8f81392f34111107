"""The pre-deploy checklist: per deploy of an app, what Fireline saw and who ticked what.

Revision ID: 0013_deploy_checklist
Revises: 0012_status_draft_revision, 0012_web_session_revocation

Merges the two heads (the lead re-chains at merge if another 0013 lands first).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_deploy_checklist"
down_revision = ("0012_status_draft_revision", "0012_web_session_revocation")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deploy_checklists",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("app", sa.String(64), nullable=False, index=True),
        sa.Column("image", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("facts", sa.JSON, nullable=False),
        sa.Column("ticks", sa.JSON, nullable=False),
        sa.Column("told", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("message", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("deploy_checklists")
