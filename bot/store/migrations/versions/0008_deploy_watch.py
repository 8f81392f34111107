"""Deploy watches: each watched release, its probes, verdict and the message it edits.

Revision ID: 0008_deploy_watch
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_deploy_watch"
down_revision = "0001_foundation"
branch_labels = ("deploy",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deploy_watches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(400), nullable=False, unique=True),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("release", sa.String(64), nullable=False),
        sa.Column("image", sa.String(300), nullable=False),
        sa.Column("sentry_release", sa.String(200), nullable=False),
        sa.Column("previous", sa.String(64), nullable=False),
        sa.Column("previous_image", sa.String(300), nullable=False),
        sa.Column("previous_sentry_release", sa.String(200), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("verdict", sa.String(12), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("probes", sa.JSON, nullable=False),
        sa.Column("message", sa.JSON, nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id")),
    )


def downgrade() -> None:
    op.drop_table("deploy_watches")
