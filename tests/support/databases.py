"""Fresh databases for tests, migrated once per test process and copied per test.

Running the Alembic migrations costs about 0.15 s per SQLite database and 0.45 s per PostgreSQL schema
(the PostgreSQL cost is DDL), against 0.013 s for the rest of a container's set-up; with one database per
test that was most of the suite's set-up time. So each process (each pytest-xdist worker) migrates one
template once and every test gets a copy at head:

- SQLite: the template is a file; a test's database is a copy of that file (under 1 ms).
- PostgreSQL: the template is a schema the migrations ran in once, their SQL recorded; a test's database is
  a new schema with that SQL replayed (`PostgresTemplate` says why not `CREATE DATABASE ... TEMPLATE`).
  Schemas are dropped on a background thread, so the test does not wait; the process waits for the last
  ones when it ends.

Names carry the process id, so workers (and other checkouts' runs against the same server) never share a
database. Tests of the migrations themselves ask for an empty database (`empty_sqlite_url`,
`empty_postgres_url`) and run them.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import uuid
from pathlib import Path

POSTGRES_URL = os.environ.get("FIRELINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

# URLs whose schema is known to be at head (copies of a template): a container built on one skips `upgrade`.
MIGRATED: set[str] = set()


def _postgres_available() -> str | None:
    import psycopg

    try:
        with psycopg.connect(libpq(POSTGRES_URL), connect_timeout=3):
            return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


_PG_PROBLEM: list[str | None] = []


def postgres_problem() -> str | None:
    """Why the test PostgreSQL cannot be used (None when it can); asked once per process."""
    if not _PG_PROBLEM:
        _PG_PROBLEM.append(_postgres_available())
    return _PG_PROBLEM[0]


def libpq(url: str) -> str:
    """psycopg takes `postgresql://`, not SQLAlchemy's `postgresql+psycopg://`."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _sqlalchemy(url: str) -> str:
    """The URL the migrations are run with (as `Settings.sqlalchemy_url` makes it: the psycopg 3 driver)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class SqliteTemplate:
    """One migrated SQLite file; `copy(folder)` is a fresh database at head in that folder."""

    def __init__(self, folder: Path) -> None:
        from bot.store.db import upgrade

        self.path = folder / "template.db"
        upgrade(f"sqlite:///{self.path}")  # the migration's engine is disposed: the WAL is folded back in
        for leftover in (self.path.with_name(self.path.name + "-wal"), self.path.with_name(self.path.name + "-shm")):
            if leftover.exists() and leftover.stat().st_size:
                raise RuntimeError(f"the SQLite template {self.path} was left with a non-empty {leftover.name}")

    def copy(self, folder: Path, name: str = "fireline.db") -> str:
        target = folder / name
        shutil.copyfile(self.path, target)
        url = f"sqlite:///{target}"
        MIGRATED.add(url)
        return url


class PostgresTemplate:
    """One migration run per process, replayed into a new schema per test; `drop(url)` removes one later.

    The migrations run once into this process's template schema while the SQL they send is recorded; a
    test's schema gets that SQL replayed in one round trip. The cost of running the migrations per schema
    is mostly Alembic's own work (0.45 s per schema, against about 0.1 s for the same DDL sent at once).
    A database per test (`CREATE DATABASE ... TEMPLATE`, 0.06 s) was measured too and rejected: dropping
    it forces a checkpoint, 2.6 s per database under the load of other test runs.
    The first copy is compared with the template (tables, columns, indexes, constraints, versions).
    """

    def __init__(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        from bot.store.db import upgrade

        self.prefix = f"t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.schema = f"{self.prefix}_tpl"
        self._execute(f'CREATE SCHEMA "{self.schema}"')
        recorded: list[tuple[str, object]] = []

        def record(_conn, _cursor, statement, parameters, _context, executemany) -> None:
            if not statement.lstrip().lower().startswith(("select", "show")):
                for params in (parameters if executemany else [parameters]):
                    recorded.append((statement, params))

        event.listen(Engine, "before_cursor_execute", record)
        try:
            upgrade(_sqlalchemy(_schema_url(self.schema)))
        finally:
            event.remove(Engine, "before_cursor_execute", record)
        import psycopg

        with psycopg.connect(libpq(POSTGRES_URL)) as connection:
            cursor = psycopg.ClientCursor(connection)
            self.script = ";\n".join(cursor.mogrify(statement, params or None) for statement, params in recorded)
            connection.rollback()
        self._checked = False
        self._drops: queue.Queue[str | None] = queue.Queue()
        self._dropper = threading.Thread(target=self._drop_loop, name="drop-test-schemas", daemon=True)
        self._dropper.start()

    @staticmethod
    def _execute(statement: str) -> None:
        import psycopg

        with psycopg.connect(libpq(POSTGRES_URL), autocommit=True) as connection:
            connection.execute(statement)

    def create(self) -> str:
        import psycopg

        schema = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(libpq(POSTGRES_URL)) as connection:  # one transaction: all of it or nothing
            connection.execute(f'SET LOCAL synchronous_commit = off; CREATE SCHEMA "{schema}"; '
                               f'SET LOCAL search_path TO "{schema}";\n{self.script}')
        if not self._checked:
            copy, template = _shape(schema), _shape(self.schema)
            differ = [part for part, (mine, theirs) in enumerate(zip(copy, template, strict=True)) if mine != theirs]
            if differ:
                raise RuntimeError(f"the replayed schema {schema} differs from the migrated {self.schema} in {differ}")
            self._checked = True
        return self._url(schema)

    @staticmethod
    def _url(schema: str) -> str:
        url = _schema_url(schema)
        MIGRATED.add(url)
        MIGRATED.add(_sqlalchemy(url))
        return url

    def drop(self, url: str) -> None:
        """Drop a test's schema on the background thread: the test does not wait for it."""
        MIGRATED.discard(url)
        MIGRATED.discard(_sqlalchemy(url))
        self._drops.put(url.rsplit("%3D", 1)[1])

    def _drop_loop(self) -> None:
        while (schema := self._drops.get()) is not None:
            try:
                self._execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            except Exception:  # pragma: no cover - a lock a test left: the schema stays, no test is affected
                pass

    def close(self) -> None:
        """Wait for the queued drops, then drop the template."""
        self._drops.put(None)
        self._dropper.join()
        self._execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


def _schema_url(schema: str) -> str:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


def _shape(schema: str) -> list[str]:
    """What the migrations made in a schema: columns with types, defaults and collations, indexes,
    constraints, sequences and the recorded versions."""
    import psycopg

    queries = [
        "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default, "
        "collation_name FROM information_schema.columns WHERE table_schema = %(s)s ORDER BY 1, 2",
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %(s)s "
        "ORDER BY 1, 2",
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = %(s)s ORDER BY 1, 2",
        "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = %(s)s ORDER BY 1",
    ]
    with psycopg.connect(libpq(POSTGRES_URL)) as connection:
        shape = [tuple(connection.execute(query, {"s": schema}).fetchall()) for query in queries]
        connection.execute(f'SET search_path TO "{schema}"')
        shape.append(tuple(connection.execute("SELECT version_num FROM alembic_version ORDER BY 1").fetchall()))
    return [repr(part).replace(schema, "<schema>") for part in shape]


def empty_postgres_schema() -> tuple[str, str]:
    """(URL, schema): a new empty schema on the test server, for tests that run the migrations themselves."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    PostgresTemplate._execute(f'CREATE SCHEMA "{schema}"')
    return _schema_url(schema), schema


def drop_postgres_schema(schema: str) -> None:
    PostgresTemplate._execute(f'DROP SCHEMA "{schema}" CASCADE')
