"""Status drafts carry a revision, so Publish publishes exactly the version a responder reviewed.

Revision ID: 0012_status_draft_revision
Revises: 0007_status_page

Every change to a waiting draft adds one; the Publish button names the revision it showed, and publishing
is a conditional UPDATE on it (`... WHERE state = 'draft' AND revision = :shown`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_status_draft_revision"
down_revision = "0007_status_page"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("status_updates") as batch:
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("status_updates") as batch:
        batch.drop_column("revision")
