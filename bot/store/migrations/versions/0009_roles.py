"""Incident roles: who holds communications, scribe and the team's roles (the commander is the lead).

Revision ID: 0009_roles
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_roles"
down_revision = "0001_foundation"
branch_labels = ("roles",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_roles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False, index=True),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False, index=True),
        sa.Column("assigned_by", sa.String(64), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("incident_id", "role", name="uq_incident_role"),
    )
    op.create_table(
        "home_viewers",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("published_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("home_viewers")
    op.drop_table("incident_roles")
