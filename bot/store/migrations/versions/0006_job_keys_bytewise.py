"""Job keys compare bytewise on PostgreSQL too, so every key with a prefix is one range of the unique index.

Why: timers are cancelled by key prefix (`clock:ack:12:`). Under a linguistic collation such as
en_US.UTF-8, keys sharing a prefix need not sort together, so the range that bot.service.timers asks
for would be wrong; under "C" it is exact and the unique index answers it. SQLite already compares
bytewise (BINARY), so it has nothing to change.

Revision ID: 0006_job_keys_bytewise
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_job_keys_bytewise"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("jobs", "dedup_key", type_=sa.String(200, collation="C"), existing_type=sa.String(200),
                        existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("jobs", "dedup_key", type_=sa.String(200), existing_type=sa.String(200, collation="C"),
                        existing_nullable=True)
