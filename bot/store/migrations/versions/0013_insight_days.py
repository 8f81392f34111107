"""Per-day insight figures, kept current by triggers: a year's insights page reads 365 rows, not every incident.

Revision ID: 0013_insight_days
Revises: 0010_private_drills, 0012_web_session_revocation (a merge: it needs incidents as 0010 leaves them and the
pagerduty/postmortem tables 0011 indexes)

On SQLite a later `batch_alter_table` on any of the four watched tables copies the table and drops its
triggers: such a migration must create them again (`sqlite_triggers` below); tests/features/insights/test_rollup.py
fails when a change to a watched table marks no day.

`insight_days` holds each UTC day's figures (bot.features.insights.rollup builds them); `insight_dirty` gets a
row for each day a change touches, written by a trigger in the same transaction as the change, on every
column the figures read: an incident declared, acknowledged, mitigated, resolved, its severity changed; a
page sent (or a dry run), a postmortem owed or done, a playbook run proposed or finished. The next read
recomputes just those days. A private incident's privacy is not in a day's figures (every incident is
counted; a reader's hidden ones are taken out when read), so a privacy change touches no day.

Backfill: every day with data is marked, so the first read after the upgrade computes them all once (what a
cold page cost before: bench/web_pages.py), and every later read only the days changed since.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_insight_days"
down_revision = ("0010_private_drills", "0012_web_session_revocation")
branch_labels = None
depends_on = None

# table -> (the timestamp whose UTC day the figures file the row under, the columns the figures read)
WATCHED = {
    "incidents": ("declared_at", ("declared_at", "severity", "acknowledged_at", "mitigated_at", "resolved_at")),
    "pagerduty_links": ("paged_at", ("paged_at", "assignees", "mode")),
    "postmortems": ("due_at", ("due_at", "done_at")),
    "playbook_executions": ("proposed_at", ("proposed_at", "playbook", "status")),
}


def sqlite_triggers(table: str, stamp: str, columns: tuple[str, ...]) -> list[str]:
    def mark(row: str) -> str:
        return (f"INSERT INTO insight_dirty (day) SELECT date({row}.{stamp}) WHERE {row}.{stamp} IS NOT NULL;")

    name = f"insight_dirty_{table}"
    return [
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN {mark('NEW')} END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {', '.join(columns)} ON {table} "
        f"BEGIN {mark('OLD')} {mark('NEW')} END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {mark('OLD')} END",
    ]


def postgres_triggers(table: str, stamp: str, columns: tuple[str, ...]) -> list[str]:
    def mark(row: str) -> str:
        return (f"IF {row}.{stamp} IS NOT NULL THEN INSERT INTO insight_dirty (day) "
                f"VALUES (to_char(timezone('UTC', {row}.{stamp}), 'YYYY-MM-DD')); END IF;")

    name = f"insight_dirty_{table}"
    return [
        f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN {mark('OLD')} END IF;
  IF TG_OP <> 'DELETE' THEN {mark('NEW')} END IF;
  RETURN NULL;
END $$""",
        f"CREATE TRIGGER {name}_insert AFTER INSERT OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {', '.join(columns)} ON {table} FOR EACH ROW "
        f"EXECUTE FUNCTION {name}()",
    ]


def _day(dialect: str, column: str) -> str:
    return f"date({column})" if dialect == "sqlite" else f"to_char(timezone('UTC', {column}), 'YYYY-MM-DD')"


def upgrade() -> None:
    op.create_table(
        "insight_days",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("durations", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "insight_dirty",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("day", sa.String(10), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    for table, (stamp, columns) in WATCHED.items():
        for statement in (sqlite_triggers if dialect == "sqlite" else postgres_triggers)(table, stamp, columns):
            op.execute(statement)
        op.execute(f"INSERT INTO insight_dirty (day) SELECT DISTINCT {_day(dialect, stamp)} FROM {table} "
                   f"WHERE {stamp} IS NOT NULL")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in WATCHED:
        name = f"insight_dirty_{table}"
        if dialect == "sqlite":
            for suffix in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}_{suffix}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}_insert ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {name}_update ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("insight_dirty")
    op.drop_table("insight_days")
