"""Canary deploys: the extra machine on a new image, its judged watch, and Promote or Discard.

Revision ID: 0013_canary_deploy
Revises: 0013_deploy_checklist
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_canary_deploy"
down_revision = "0013_deploy_checklist"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "canary_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("image", sa.String(300), nullable=False),
        sa.Column("previous_image", sa.String(300), nullable=False),
        sa.Column("sentry_release", sa.String(200), nullable=False),
        sa.Column("previous_sentry_release", sa.String(200), nullable=False),
        sa.Column("execution_id", sa.Integer, sa.ForeignKey("playbook_executions.id"), nullable=False, unique=True),
        sa.Column("machine_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("ends_at", sa.DateTime(timezone=True)),
        sa.Column("started_by", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(12), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("samples", sa.JSON, nullable=False),
        sa.Column("message", sa.JSON, nullable=False),
        sa.Column("decision_execution_id", sa.Integer),
        sa.Column("checklist_id", sa.Integer, sa.ForeignKey("deploy_checklists.id")),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id")),
    )


def downgrade() -> None:
    op.drop_table("canary_runs")
