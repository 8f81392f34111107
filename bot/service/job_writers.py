"""The intake's own database connection: jobs stored at Slack's ack on the shortest path the database allows.

Through the shared engine every batch paid for a pool checkout (and on PostgreSQL its liveness
ping, one more round trip) and SQLAlchemy's statement machinery, while holding the interpreter lock
the event loop needs to answer the next ack. A writer here keeps one plain DBAPI connection for the
intake thread and sends one multi-row INSERT. Values go through the column types' own bind
processors, so a job stored here reads back exactly like one stored through the ORM.

SQLite lets one writer in at a time. Through the engine, an ack that found the worker mid-transaction
was put to sleep by SQLite's busy handler in steps of 1, 2, 5, 10 ... up to 100 ms, though the lock
was usually free again within a millisecond. The SQLite writer asks for the lock itself
(`BEGIN IMMEDIATE`, no busy timeout) and retries every quarter of a millisecond until a deadline, and
it never checkpoints the WAL (copying pages back and flushing the file is left to the worker's
connections, which do it on their own commits).

Errors come out as SQLAlchemy's OperationalError, the same the engine raises, so callers tell the
person "try again" exactly as before; after one, the next batch opens a fresh connection.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from bot.store.models import Job
from bot.service.jobs import NOTIFY_EXPRESSION
from bot.store.db import own_connection

COLUMNS = ("kind", "payload", "run_at", "status", "attempts", "dedup_key", "created_at")
APPLICATION_NAME = "fireline-intake"  # how this connection shows in pg_stat_activity
ROWS_PER_STATEMENT = 100  # 700 parameters: under the 999 older SQLite builds allow


class JobWriter(Protocol):
    def insert(self, rows: list[dict[str, Any]]) -> set[str]: ...

    def close(self) -> None: ...


def writer_for(engine: Engine) -> JobWriter | None:
    """A writer for this database, or None where the shared engine must do (an in-memory SQLite)."""
    if engine.dialect.name == "postgresql":
        return PostgresJobWriter(engine)
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        return SqliteJobWriter(engine)  # a file, which a second connection of ours can open
    return None


class _Writer:
    """One connection and one multi-row INSERT per batch (split past ROWS_PER_STATEMENT)."""

    PLACEHOLDER = "?"
    RETURNING = "dedup_key"

    def __init__(self, engine: Engine) -> None:
        table = Job.__table__
        dialect = engine.dialect
        self._to_db = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in COLUMNS]
        self._connection: Any = None
        self._lock = threading.Lock()

    def _values(self, row: dict[str, Any]) -> list[Any]:
        pairs = zip(COLUMNS, self._to_db, strict=True)
        return [convert(row[name]) if convert else row[name] for name, convert in pairs]

    def _statements(self, rows: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
        one = "(" + ",".join([self.PLACEHOLDER] * len(COLUMNS)) + ")"
        statements = []
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start:start + ROWS_PER_STATEMENT]
            sql = (f"INSERT INTO jobs ({', '.join(COLUMNS)}) VALUES {','.join([one] * len(chunk))} "
                   f"ON CONFLICT (dedup_key) DO NOTHING RETURNING {self.RETURNING}")
            statements.append((sql, [value for row in chunk for value in self._values(row)]))
        return statements

    @staticmethod
    def _run(connection: Any, statements: list[tuple[str, list[Any]]]) -> set[str]:
        inserted: set[str] = set()
        for sql, parameters in statements:
            inserted.update(row[0] for row in connection.execute(sql, parameters).fetchall())
        return inserted

    def close(self) -> None:
        """Close the connection (the next batch opens a new one)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                pass


class SqliteJobWriter(_Writer):
    """SQLite: our own write lock, taken without the busy handler's sleeps; no checkpoints."""

    RETRY_SECONDS = 0.00025
    LOCK_TIMEOUT_SECONDS = 2.0

    def __init__(self, engine: Engine, lock_timeout: float | None = None) -> None:
        super().__init__(engine)
        self.path = engine.url.database
        self.lock_timeout = lock_timeout or self.LOCK_TIMEOUT_SECONDS

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit BEGIN, the transaction is ours; timeout=0: no busy handler
        connection = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA wal_autocheckpoint=0")
        return connection

    def insert(self, rows: list[dict[str, Any]]) -> set[str]:
        """Store the rows; returns the dedup keys actually inserted (a key already stored is skipped).

        Waits for the write lock in quarter-millisecond steps, up to `lock_timeout`.
        """
        deadline = time.monotonic() + self.lock_timeout
        while True:
            inserted = self._try_insert(rows)
            if inserted is not None:
                return inserted
            if time.monotonic() > deadline:
                raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(
                    f"database is locked: no write lock within {self.lock_timeout:.1f} s"))
            time.sleep(self.RETRY_SECONDS)

    def _try_insert(self, rows: list[dict[str, Any]]) -> set[str] | None:
        """Store the rows now, or return None at once when another connection holds the write lock."""
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = self._connect()
                connection = self._connection
                try:
                    connection.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if "locked" in str(exc) or "busy" in str(exc):
                        return None
                    raise
                try:
                    inserted = self._run(connection, self._statements(rows))
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
                return inserted
            except sqlite3.OperationalError as exc:  # the same error the shared engine would raise
                self.close()
                raise OperationalError("INSERT INTO jobs", None, exc) from exc


class PostgresJobWriter(_Writer):
    """PostgreSQL: one psycopg connection in autocommit, so a batch is one round trip with its commit.

    Through the engine each batch paid for a pool checkout, a liveness ping and a separate COMMIT.
    A connection that went stale while idle (the server restarted, a failover) is replaced and the
    batch sent once more, as the ping would have done; but the commit travels with the statement, so
    a batch lost with its connection may or may not have been stored, and it is sent again only when
    every job has a dedup key (ON CONFLICT skips what went through).
    """

    PLACEHOLDER = "%s"
    CONNECT_SECONDS = 5
    # Each stored row also notifies the replicas' workers (bot.service.jobs.Listener), in the INSERT's own
    # transaction: no extra round trip, sent only if it commits, one notification however many rows.
    RETURNING = f"dedup_key, {NOTIFY_EXPRESSION}"

    def __init__(self, engine: Engine) -> None:
        import psycopg

        super().__init__(engine)
        self._driver_errors = (psycopg.OperationalError, psycopg.InterfaceError)
        self._engine = engine

    def _connect(self) -> Any:
        return own_connection(self._engine, APPLICATION_NAME, self.CONNECT_SECONDS)

    def insert(self, rows: list[dict[str, Any]]) -> set[str]:
        """Store the rows; returns the dedup keys actually inserted (a key already stored is skipped)."""
        with self._lock:
            reused = self._connection is not None
            try:
                return self._insert_once(rows)
            except self._driver_errors as exc:
                self.close()
                if not (reused and all(row["dedup_key"] for row in rows)):
                    raise OperationalError("INSERT INTO jobs", None, exc) from exc
            try:
                return self._insert_once(rows)
            except self._driver_errors as exc:
                self.close()
                raise OperationalError("INSERT INTO jobs", None, exc) from exc

    def _insert_once(self, rows: list[dict[str, Any]]) -> set[str]:
        if self._connection is None:
            self._connection = self._connect()
        statements = self._statements(rows)
        if len(statements) == 1:
            return self._run(self._connection, statements)
        with self._connection.transaction():
            return self._run(self._connection, statements)
