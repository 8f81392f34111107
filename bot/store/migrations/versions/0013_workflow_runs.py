"""Workflow runs: the claim that makes each (workflow, incident, trigger occurrence) run once.

Revision ID: 0013_workflow_runs
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_workflow_runs"
down_revision = "0001_foundation"
branch_labels = ("workflows",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflow_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("workflow", sa.String(120), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("occurrence", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(40), nullable=False),
        sa.Column("depth", sa.Integer, nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("next_step", sa.Integer, nullable=False),
        sa.Column("steps", sa.JSON, nullable=False),
        sa.Column("event", sa.JSON, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("workflow", "incident_id", "occurrence", name="uq_workflow_run"),
    )
    op.create_index("ix_workflow_runs_incident_id", "workflow_runs", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_workflow_runs_incident_id", table_name="workflow_runs")
    op.drop_table("workflow_runs")
