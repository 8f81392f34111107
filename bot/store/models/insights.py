"""Per-day insight figures (migration 0013_insight_days): what a year's insights page reads instead of every incident.

`InsightDay` holds one UTC day's figures as the insights feature aggregates them (every incident, private ones
too: a reader's hidden incidents are taken out when read). `InsightDirty` is written by database triggers on
incidents, pagerduty_links, postmortems and playbook_executions, in the same transaction as the change: one
row per touched day, consumed (by id) when the day is recomputed. Triggers, not application hooks, because the
conditional UPDATEs that change these rows are spread over many features and a missed one would leave a
figure wrong for good.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel


class InsightDay(SQLModel, table=True):
    __tablename__ = "insight_days"

    day: str = Field(sa_column=Column(sa.String(10), primary_key=True))  # 2026-11-25, UTC
    # {"severity": [count, sorted ttas, sorted ttms, sorted ttrs, declared epochs of the unacknowledged]}
    incidents: dict[str, Any] = Field(default_factory=dict, sa_column=Column(sa.JSON, nullable=False))
    pages: dict[str, Any] = Field(default_factory=dict, sa_column=Column(sa.JSON, nullable=False))
    postmortems: dict[str, Any] = Field(default_factory=dict, sa_column=Column(sa.JSON, nullable=False))
    runs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(sa.JSON, nullable=False))


class InsightDirty(SQLModel, table=True):
    __tablename__ = "insight_dirty"

    id: int | None = Field(default=None, sa_column=Column(sa.Integer, primary_key=True, autoincrement=True))
    day: str = Field(sa_column=Column(sa.String(10), nullable=False))
