"""The schema: SQLModel tables and their Alembic migrations, one history for every feature (the database is
the truth, and one schema upgrades in one step)."""
