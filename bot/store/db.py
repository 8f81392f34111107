"""Database engine, sessions and migrations (SQLite by default, PostgreSQL with psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    """One engine per process. SQLite gets WAL and a busy timeout so threads and processes share it."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            if ":memory:" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10,
                         connect_args={"connect_timeout": 5})


def own_connection(engine: Engine, application_name: str, connect_seconds: float = 5) -> Any:
    """PostgreSQL: a psycopg connection of its own, outside the engine's pool, in autocommit, with the engine's
    server, options and type adapters (JSON). The intake's writer (one INSERT per batch, no pool checkout or
    ping) and the worker's LISTEN hold one each; `application_name` is how it shows in pg_stat_activity."""
    import psycopg  # noqa: PLC0415 - only PostgreSQL deployments have it loaded

    args, kwargs = engine.dialect.create_connect_args(engine.url)
    kwargs = {"connect_timeout": connect_seconds, "application_name": application_name, **kwargs}
    return psycopg.connect(*args, autocommit=True, **kwargs)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Bring the schema up to date. Every feature's migration branch is applied (`heads`)."""
    from alembic import command

    command.upgrade(alembic_config(url), "heads")


def current_revisions(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return applied_revisions(engine)
    finally:
        engine.dispose()


def applied_revisions(engine: Engine) -> set[str]:
    """The migration heads recorded in this database (empty for a fresh one)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


@cache
def _code_heads() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def head_revisions(url: str = "") -> set[str]:
    """The migration heads this code expects (the same for every database URL)."""
    return set(_code_heads())
