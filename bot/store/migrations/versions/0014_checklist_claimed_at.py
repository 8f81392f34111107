"""When a checklist post was claimed: a claim whose post never came (a crash between the two) can be taken over.

Revision ID: 0014_checklist_claimed_at
Revises: 0013_checklist_ticks

A row with an empty `ts` was claimed and not yet posted; without a time, one left by a crash between the claim
and Slack's answer made every later *Show playbook* say "already posted", with nothing posted, for ever. Rows
claimed before this revision have no time and count as old.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_checklist_claimed_at"
down_revision = "0013_checklist_ticks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("checklist_messages", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checklist_messages") as batch:
        batch.drop_column("claimed_at")
