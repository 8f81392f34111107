"""Fly playbooks: executions, their audit trail, the one-mitigation-per-app lock.

Revision ID: 0002_fly
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_fly"
down_revision = "0001_foundation"
branch_labels = ("fly",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "playbook_executions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("playbook", sa.String(60), nullable=False),
        sa.Column("app", sa.String(100), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), index=True),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("nonce", sa.String(40), nullable=False),
        sa.Column("plan", sa.JSON, nullable=False),
        sa.Column("results", sa.JSON, nullable=False),
        sa.Column("current_step", sa.Integer, nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.String(64)),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True)),
        sa.Column("worker", sa.String(120)),
        sa.Column("progress_channel", sa.String(64)),
        sa.Column("progress_ts", sa.String(40)),
        sa.Column("stop_requested_by", sa.String(64)),
        sa.Column("outcome", sa.Text),
    )
    op.create_table(
        "playbook_audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("execution_id", sa.Integer, index=True),
        sa.Column("incident_id", sa.Integer),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_table(
        "mitigation_locks",
        sa.Column("app", sa.String(100), primary_key=True),
        sa.Column("execution_id", sa.Integer, nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acquired_by", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mitigation_locks")
    op.drop_table("playbook_audit")
    op.drop_table("playbook_executions")
