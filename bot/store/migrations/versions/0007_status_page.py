"""The public status page: published updates and scheduled maintenance.

Revision ID: 0007_status_page
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_status_page"
down_revision = "0001_foundation"
branch_labels = ("status",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_updates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False, index=True),
        sa.Column("public_id", sa.String(16), nullable=False, index=True),
        sa.Column("update_key", sa.String(16), nullable=False, unique=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("components", sa.JSON, nullable=False),
        sa.Column("drafted_by", sa.String(64), nullable=False),
        sa.Column("drafted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(64)),
        sa.Column("published_at", sa.DateTime(timezone=True), index=True),
        sa.Column("external_id", sa.String(64)),
    )
    op.create_table(
        "status_maintenance",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("public_id", sa.String(16), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("components", sa.JSON, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("status_maintenance")
    op.drop_table("status_updates")
