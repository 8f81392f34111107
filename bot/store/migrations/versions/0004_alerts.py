"""Alerts: alert rows (dedup windows, classification, thread) and Slack rate-limit lanes.

Revision ID: 0004_alerts
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_alerts"
down_revision = "0001_foundation"
branch_labels = ("alerts",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("link", sa.String(1000)),
        sa.Column("severity_hint", sa.String(40)),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("playbook", sa.String(20)),
        sa.Column("guide_row", sa.String(60)),
        sa.Column("signals", sa.JSON, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("render_pending", sa.Boolean, nullable=False),
        sa.Column("channel", sa.String(80)),
        sa.Column("root_ts", sa.String(32)),
        sa.Column("reply_ts", sa.String(32)),
        sa.Column("own_root", sa.Boolean, nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), index=True),
        sa.Column("acted_by", sa.String(64)),
        sa.Column("acted_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("dedup_key", "epoch", name="uq_alerts_key_epoch"),
    )
    op.create_table(
        "alert_rate_slots",
        sa.Column("lane", sa.String(120), primary_key=True),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_rate_slots")
    op.drop_table("alerts")
