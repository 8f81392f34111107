"""PagerDuty: links between our incidents and PagerDuty's, and the on-call cache.

Revision ID: 0003_pagerduty
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_pagerduty"
down_revision = "0001_foundation"
branch_labels = ("pagerduty",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pagerduty_links",
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True, autoincrement=False),
        sa.Column("incident_key", sa.String(120), nullable=False, unique=True),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("pd_incident_id", sa.String(40), unique=True),
        sa.Column("number", sa.Integer),
        sa.Column("html_url", sa.Text),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_at", sa.DateTime(timezone=True)),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        sa.Column("assignees", sa.JSON, nullable=False),
        sa.Column("paged_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "pagerduty_oncall",
        sa.Column("policy_id", sa.String(40), primary_key=True),
        sa.Column("entries", sa.JSON, nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True)),
        sa.Column("attempted_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("pagerduty_oncall")
    op.drop_table("pagerduty_links")
