"""The signed-in web view: one-time sign-in links, and the indexes the insights and incident list read by.

Revision ID: 0011_web_sessions
Revises: 0002_fly, 0003_pagerduty, 0005_postmortem (a merge of those three branches)

It indexes columns of the Fly, PagerDuty and postmortem tables, so it must run after them. It cannot branch
off 0001_foundation with `depends_on` them: Alembic 1.20 then fails on a fresh database (KeyError
'0001_foundation'), or, with one branch as parent, leaves the other two out of the version table while the
scripts still call them heads, and /readyz reports the schema behind forever. As a merge of the three, the
applied heads and the code's heads agree. Its own label is "web".

Sessions themselves are signed cookies (bot/adapters/web/auth.py), so no session table: a signed-in reader costs
no write. Only the one-time links are rows, so using one is a conditional UPDATE (exactly once).
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_web_sessions"
down_revision = ("0002_fly", "0003_pagerduty", "0005_postmortem")
branch_labels = ("web",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_login_links",
        sa.Column("token_hash", sa.String(64), primary_key=True),  # sha256 of the token: the token is never stored
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
    )
    # Figures over a period and the list's default order read incidents by when they were declared.
    op.create_index("ix_incidents_declared_at", "incidents", ["declared_at"])
    op.create_index("ix_incidents_severity_declared", "incidents", ["severity", "declared_at"])
    op.create_index("ix_pagerduty_links_paged_at", "pagerduty_links", ["paged_at"])
    op.create_index("ix_playbook_executions_proposed_at", "playbook_executions", ["proposed_at"])
    op.create_index("ix_postmortems_due_at", "postmortems", ["due_at"])
    op.create_index("ix_timeline_events_incident_at", "timeline_events", ["incident_id", "at"])


def downgrade() -> None:
    for name, table in (("ix_timeline_events_incident_at", "timeline_events"),
                        ("ix_postmortems_due_at", "postmortems"),
                        ("ix_playbook_executions_proposed_at", "playbook_executions"),
                        ("ix_pagerduty_links_paged_at", "pagerduty_links"),
                        ("ix_incidents_severity_declared", "incidents"),
                        ("ix_incidents_declared_at", "incidents")):
        op.drop_index(name, table_name=table)
    op.drop_table("web_login_links")
