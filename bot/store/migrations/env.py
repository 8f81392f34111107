"""Alembic environment: runs Fireline's migrations against the URL the caller configured.

On PostgreSQL the run holds an advisory lock, so two machines starting at once (or the release
command racing a machine's start) apply each migration once; the second waits, then finds nothing to do.
"""

from alembic import context
from sqlalchemy import pool, text

from bot.store.db import make_engine

config = context.config

# The lock is per schema (the alembic_version table is): Fireline's fixed key plus the schema's hash.
MIGRATION_LOCK_KEY = 0x6669_7265  # "fire"
LOCK = "SELECT pg_advisory_lock(:key, hashtext(current_schema()))"
UNLOCK = "SELECT pg_advisory_unlock(:key, hashtext(current_schema()))"


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if url.startswith("sqlite"):
        engine = make_engine(url)
    else:
        from sqlalchemy import create_engine

        engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Session-level lock: survives the commit below and goes with the connection (NullPool closes it).
            connection.execute(text(LOCK), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
        context.configure(connection=connection, render_as_batch=url.startswith("sqlite"))
        with context.begin_transaction():
            context.run_migrations()
        if connection.dialect.name == "postgresql":
            connection.execute(text(UNLOCK), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
    engine.dispose()


run_migrations_online()
