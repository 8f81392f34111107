"""Per-day insight figures (migration 0013_insight_days): what a year's insights page reads instead of every incident.

`InsightDay` holds one UTC day's figures as the insights feature aggregates them (every incident, private ones
too: a reader's hidden incidents are taken out when read). `InsightDirty` is written by database triggers on
incidents, pagerduty_links, postmortems and playbook_executions, in the same transaction as the change: one
row per touched day (a change to a marked day renews the row's id, migration 0014_insight_dirty_per_day), consumed
(by id) when the day is recomputed. Triggers, not application hooks, because the
conditional UPDATEs that change these rows are spread over many features and a missed one would leave a
figure wrong for good.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel


class InsightDay(SQLModel, table=True):
    __tablename__ = "insight_days"

    day: str = Field(sa_column=Column(sa.String(10), primary_key=True))  # 2026-11-25, UTC
    # JSON text, decoded by the feature: per severity how many values of each kind `durations` holds; pages,
    # people, postmortem outcomes, playbook runs (bot.features.insights.rollup says the layout)
    counts: str = Field(sa_column=Column(sa.Text, nullable=False))
    # the day's durations and times as packed little-endian doubles: exact, and read with one copy (a year of
    # 10,000 incidents as JSON floats took 24 ms of a cold page to parse)
    durations: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))


class InsightDirty(SQLModel, table=True):
    __tablename__ = "insight_dirty"

    id: int | None = Field(default=None, sa_column=Column(sa.Integer, primary_key=True, autoincrement=True))
    day: str = Field(sa_column=Column(sa.String(10), nullable=False, unique=True))  # one mark a day (0014)
