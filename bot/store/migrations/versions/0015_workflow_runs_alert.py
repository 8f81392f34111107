"""Workflow runs without an incident: `alert_received` runs when the alert arrives, before anyone declares.

Revision ID: 0015_workflow_runs_alert
Revises: 0013_workflow_runs

A run belonged to an incident (incident_id NOT NULL), so an alert that joined none started nothing, and the
customer-support example's "Support hears about payment alerts at once" only posted once someone declared.
`alert_id` records the alert a run was started by; (workflow, alert_id) is unique, so the run the alert started on
arrival is the same run when the alert later joins an incident (NULLs never collide: other triggers' runs are
untouched). SQLite cannot alter a column in place, hence the batch (the table is copied).
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_workflow_runs_alert"
down_revision = "0013_workflow_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.alter_column("incident_id", existing_type=sa.Integer, nullable=True)
        batch.add_column(sa.Column("alert_id", sa.Integer, nullable=True))
        batch.create_unique_constraint("uq_workflow_run_alert", ["workflow", "alert_id"])


def downgrade() -> None:
    op.execute("DELETE FROM workflow_runs WHERE incident_id IS NULL")
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_constraint("uq_workflow_run_alert", type_="unique")
        batch.drop_column("alert_id")
        batch.alter_column("incident_id", existing_type=sa.Integer, nullable=False)
