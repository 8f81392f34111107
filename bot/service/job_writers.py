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

from bot.models import Job

COLUMNS = ("kind", "payload", "run_at", "status", "attempts", "dedup_key", "created_at")
APPLICATION_NAME = "fireline-intake"  # how this connection shows in pg_stat_activity
ROWS_PER_STATEMENT = 100  # 700 parameters: under the 999 older SQLite builds allow


class _NotCommitted(Exception):
    """A driver error before COMMIT was sent: nothing was stored, so the batch may be sent again."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class JobWriter(Protocol):
    def insert(self, rows: list[dict[str, Any]]) -> set[str]: ...

    def close(self) -> None: ...


def writer_for(engine: Engine) -> JobWriter | None:
    """A writer for this database, or None where the shared engine must do (an in-memory SQLite)."""
    if engine.dialect.name == "postgresql":
        return PostgresJobWriter(engine)
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        return SqliteJobWriter(engine)
    return None


class _Writer:
    """One connection, one multi-row INSERT per call, in one transaction."""

    PLACEHOLDERS = "?"
    RETRY_STALE = True  # a server's connection can die while idle; a local SQLite file's cannot
    driver_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, engine: Engine) -> None:
        table = Job.__table__
        dialect = engine.dialect
        self._to_db = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in COLUMNS]
        self._connection: Any = None
        self._lock = threading.Lock()

    def _values(self, row: dict[str, Any]) -> list[Any]:
        pairs = zip(COLUMNS, self._to_db, strict=True)
        return [convert(row[name]) if convert else row[name] for name, convert in pairs]

    def _statement(self, rows: list[dict[str, Any]]) -> tuple[str, list[Any]]:
        one = "(" + ",".join(self.row_placeholders()) + ")"
        sql = (f"INSERT INTO jobs ({', '.join(COLUMNS)}) VALUES {','.join([one] * len(rows))} "
               "ON CONFLICT (dedup_key) DO NOTHING RETURNING dedup_key")
        return sql, [value for row in rows for value in self._values(row)]

    def row_placeholders(self) -> list[str]:
        return [self.PLACEHOLDERS] * len(COLUMNS)

    def insert(self, rows: list[dict[str, Any]]) -> set[str]:
        """Store the rows; returns the dedup keys actually inserted (a key already stored is skipped).

        A connection that went stale while idle (the server restarted, a failover) is replaced and the
        batch sent once more, as the engine's liveness ping would have done; never after COMMIT was sent.
        """
        with self._lock:
            reused = self.RETRY_STALE and self._connection is not None
            try:
                return self._insert_once(rows)
            except _NotCommitted as failed:
                self.close()
                if not reused:
                    raise OperationalError("INSERT INTO jobs", None, failed.cause) from failed.cause
            try:
                return self._insert_once(rows)
            except _NotCommitted as failed:
                self.close()
                raise OperationalError("INSERT INTO jobs", None, failed.cause) from failed.cause

    def _insert_once(self, rows: list[dict[str, Any]]) -> set[str]:
        try:
            connection = self._connection or self._connect()
        except self.driver_errors as exc:
            raise _NotCommitted(exc) from exc
        self._connection = connection
        return self._write(connection, rows)

    def _write(self, connection: Any, rows: list[dict[str, Any]]) -> set[str]:
        """BEGIN, the INSERTs, COMMIT: a driver error before COMMIT is _NotCommitted (safe to send again)."""
        inserted: set[str] = set()
        try:
            self._begin(connection)
            for sql, parameters in self._statements(rows):
                inserted.update(key for (key,) in connection.execute(sql, parameters).fetchall())
        except self.driver_errors as exc:
            self._rollback()
            raise _NotCommitted(exc) from exc
        except BaseException:
            self._rollback()
            raise
        try:
            self._commit(connection)
        except self.driver_errors as exc:  # it may or may not have been stored: no second try
            self.close()
            raise OperationalError("COMMIT", None, exc) from exc
        except BaseException:
            self._rollback()
            raise
        return inserted

    def _statements(self, rows: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
        return [self._statement(rows[start:start + ROWS_PER_STATEMENT])
                for start in range(0, len(rows), ROWS_PER_STATEMENT)]

    def close(self) -> None:
        """Close the connection (the next insert opens a new one)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                pass

    # what differs by database
    def _connect(self) -> Any:
        raise NotImplementedError

    def _begin(self, connection: Any) -> None:
        raise NotImplementedError

    def _commit(self, connection: Any) -> None:
        connection.commit()

    def _rollback(self) -> None:
        """Undo a failed batch; a connection that cannot even roll back is dropped."""
        try:
            if self._connection is not None:
                self._connection.rollback()
        except Exception:
            self.close()


class SqliteJobWriter(_Writer):
    """SQLite: our own write lock, taken without the busy handler's sleeps; no checkpoints."""

    RETRY_SECONDS = 0.00025
    RETRY_STALE = False  # a lock wait that ran out must not start over
    driver_errors = (sqlite3.OperationalError,)

    def __init__(self, engine: Engine, lock_timeout: float = 2.0) -> None:
        super().__init__(engine)
        self.path = engine.url.database
        self.lock_timeout = lock_timeout

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit BEGIN, the transaction is ours; timeout=0: no busy handler
        connection = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA wal_autocheckpoint=0")
        return connection

    def _begin(self, connection: sqlite3.Connection) -> None:
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError(
                        f"database is locked: no write lock within {self.lock_timeout:.1f} s") from exc
                time.sleep(self.RETRY_SECONDS)

    def _commit(self, connection: sqlite3.Connection) -> None:
        connection.execute("COMMIT")

    def _rollback(self) -> None:
        try:
            if self._connection is not None and self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
        except sqlite3.Error:
            self.close()


class PostgresJobWriter(_Writer):
    """PostgreSQL: one psycopg connection, no pool checkout or liveness ping per batch."""

    PLACEHOLDERS = "%s"
    CONNECT_SECONDS = 5

    def __init__(self, engine: Engine) -> None:
        import psycopg

        super().__init__(engine)
        self.driver_errors = (psycopg.OperationalError, psycopg.InterfaceError)
        # the engine's own connect arguments: same server, options and type adapters (JSON) as the ORM
        self._connect_args = engine.dialect.create_connect_args(engine.url)

    def _connect(self) -> Any:
        import psycopg

        args, kwargs = self._connect_args
        kwargs = {"connect_timeout": self.CONNECT_SECONDS, "application_name": APPLICATION_NAME, **kwargs}
        # autocommit: a batch that fits one INSERT is one round trip, its own transaction
        return psycopg.connect(*args, autocommit=True, **kwargs)

    def _write(self, connection: Any, rows: list[dict[str, Any]]) -> set[str]:
        """One INSERT (or several in one transaction) without a separate COMMIT round trip.

        The commit travels with the statement, so a connection lost mid-way may or may not have stored
        the batch: sending it again is safe only when every job has a dedup key (ON CONFLICT skips what
        went through), and only then is the error _NotCommitted.
        """
        statements = self._statements(rows)
        inserted: set[str] = set()
        try:
            if len(statements) == 1:
                [(sql, parameters)] = statements
                inserted.update(key for (key,) in connection.execute(sql, parameters).fetchall())
            else:
                with connection.transaction():
                    for sql, parameters in statements:
                        inserted.update(key for (key,) in connection.execute(sql, parameters).fetchall())
        except self.driver_errors as exc:
            self.close()
            if all(row["dedup_key"] for row in rows):
                raise _NotCommitted(exc) from exc
            raise OperationalError("INSERT INTO jobs", None, exc) from exc
        return inserted
