"""At most one insight_dirty row per day: a change to a day already marked renews its mark instead of adding one.

Revision ID: 0014_insight_dirty_per_day
Revises: 0013_insight_days

Why: the triggers of 0013_insight_days added a row for every change, and only an insights read consumed them, so
a deployment nobody read insights on grew the table without end (a day of 200 alerts acknowledged, mitigated and
resolved: 600 rows for one day). Now `day` is unique and a mark of a marked day gives the row a new id (SQLite:
INSERT OR REPLACE; PostgreSQL: ON CONFLICT (day) DO UPDATE SET id = DEFAULT): the table holds at most one row per
day with changes since the last read, and `refresh` still consumes by id, so a change committed after it read the
marks keeps its day marked (the renewed id is not among those it deletes; on PostgreSQL its DELETE waits for the
change's transaction and then no longer matches). The cost: two transactions marking the same day wait for each
other's commit on that row (short: a mark is the last write of a change to an incident, page, postmortem or run).
"""

from alembic import op

revision = "0014_insight_dirty_per_day"
down_revision = "0013_insight_days"
branch_labels = None
depends_on = None

WATCHED = {  # as 0013_insight_days
    "incidents": ("declared_at", ("declared_at", "severity", "acknowledged_at", "mitigated_at", "resolved_at")),
    "pagerduty_links": ("paged_at", ("paged_at", "assignees", "mode")),
    "postmortems": ("due_at", ("due_at", "done_at")),
    "playbook_executions": ("proposed_at", ("proposed_at", "playbook", "status")),
}
INDEX = "uq_insight_dirty_day"


def sqlite_triggers(table: str, stamp: str, columns: tuple[str, ...], verb: str) -> list[str]:
    def mark(row: str) -> str:
        return f"{verb} INTO insight_dirty (day) SELECT date({row}.{stamp}) WHERE {row}.{stamp} IS NOT NULL;"

    name = f"insight_dirty_{table}"
    return [
        f"DROP TRIGGER IF EXISTS {name}_insert",
        f"DROP TRIGGER IF EXISTS {name}_update",
        f"DROP TRIGGER IF EXISTS {name}_delete",
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN {mark('NEW')} END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {', '.join(columns)} ON {table} "
        f"BEGIN {mark('OLD')} {mark('NEW')} END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {mark('OLD')} END",
    ]


def postgres_function(table: str, stamp: str, on_conflict: str) -> str:
    def mark(row: str) -> str:
        return (f"IF {row}.{stamp} IS NOT NULL THEN INSERT INTO insight_dirty (day) "
                f"VALUES (to_char(timezone('UTC', {row}.{stamp}), 'YYYY-MM-DD')){on_conflict}; END IF;")

    return f"""CREATE OR REPLACE FUNCTION insight_dirty_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN {mark('OLD')} END IF;
  IF TG_OP <> 'DELETE' THEN {mark('NEW')} END IF;
  RETURN NULL;
END $$"""


def _marks(coalesce: bool) -> None:
    dialect = op.get_bind().dialect.name
    for table, (stamp, columns) in WATCHED.items():
        if dialect == "sqlite":
            for statement in sqlite_triggers(table, stamp, columns, "INSERT OR REPLACE" if coalesce else "INSERT"):
                op.execute(statement)
        else:  # the triggers call the function by name: replacing it is enough
            op.execute(postgres_function(table, stamp, " ON CONFLICT (day) DO UPDATE SET id = DEFAULT" if coalesce
                                         else ""))


def upgrade() -> None:
    op.execute("DELETE FROM insight_dirty WHERE id NOT IN (SELECT max(id) FROM insight_dirty GROUP BY day)")
    op.create_index(INDEX, "insight_dirty", ["day"], unique=True)
    _marks(coalesce=True)


def downgrade() -> None:
    _marks(coalesce=False)
    op.drop_index(INDEX, table_name="insight_dirty")
