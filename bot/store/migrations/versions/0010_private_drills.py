"""Private incidents (members only) and game-day drills' incidents.

Revision ID: 0010_private_drills
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_private_drills"
down_revision = "0001_foundation"
branch_labels = ("private",)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("private", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("drill", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "incident_members",
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(30), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("incident_members")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("drill")
        batch.drop_column("private")
