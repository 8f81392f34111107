"""The SEV1 checklist's ticks as rows, and where the checklist is posted.

Revision ID: 0013_checklist_ticks
Revises: 0001_foundation

Ticks were the latest `checklist` timeline event per step; they are carried over here, so a checklist
ticked before the upgrade still shows its ticks (by whoever made the last one, at its time).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_checklist_ticks"
down_revision = "0001_foundation"
branch_labels = ("checklist",)
depends_on = None


def upgrade() -> None:
    ticks = op.create_table(
        "checklist_ticks",
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("step", sa.String(40), primary_key=True),
        sa.Column("ticked_by", sa.String(64), nullable=False),
        sa.Column("ticked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "checklist_messages",
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("ts", sa.String(40), nullable=False, server_default=""),
    )
    events = sa.table("timeline_events", sa.column("id", sa.Integer), sa.column("incident_id", sa.Integer),
                      sa.column("kind", sa.String), sa.column("actor", sa.String), sa.column("at", sa.DateTime),
                      sa.column("data", sa.JSON))
    rows = op.get_bind().execute(sa.select(events.c.incident_id, events.c.actor, events.c.at, events.c.data)
                                 .where(events.c.kind == "checklist").order_by(events.c.id))
    state: dict[tuple[int, str], dict | None] = {}
    for incident_id, actor, at, data in rows:
        data = data or {}
        step = str(data.get("step") or "")[:40]
        if step:
            state[(incident_id, step)] = {"incident_id": incident_id, "step": step, "ticked_by": actor,
                                          "ticked_at": at} if data.get("checked") else None
    carried = [row for row in state.values() if row]
    if carried:
        op.bulk_insert(ticks, carried)


def downgrade() -> None:
    op.drop_table("checklist_messages")
    op.drop_table("checklist_ticks")
