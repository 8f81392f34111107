"""Incidents and their timelines: the source of truth that every front end reads and writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

OPEN_STATES = ("declared", "investigating", "mitigating", "monitoring")
STATES = (*OPEN_STATES, "resolved")


def utcnow() -> datetime:
    """The time columns' default, here rather than bot.core.clock's: the schema imports nothing of bot."""
    return datetime.now(UTC)


def empty_list() -> list:
    """A JSON list column's default. A function of ours, not the builtin `list`: pydantic asks each
    factory's signature at every row made, and for a builtin `inspect` copies `sys.modules` to read it,
    touching every module object; in `serve`'s forked worker child that unshared ~1.6 MB of pages
    (bench/memory.py; see `empty_dict`)."""
    return []


def empty_dict() -> dict:
    """A JSON object column's default (a function, not the builtin `dict`: see `empty_list`)."""
    return {}


def _utc_column(**kwargs: Any) -> Column:
    return Column(sa.DateTime(timezone=True), **kwargs)


class Incident(SQLModel, table=True):
    """One incident. `id` is the human-facing number (#N)."""

    __tablename__ = "incidents"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(sa_column=Column(sa.String(200), nullable=False))
    severity: int = Field(sa_column=Column(sa.Integer, nullable=False))
    status: str = Field(default="declared", sa_column=Column(sa.String(20), nullable=False, index=True))
    declared_by: str = Field(sa_column=Column(sa.String(64), nullable=False))
    lead_id: str | None = Field(default=None, sa_column=Column(sa.String(64)))
    channel_id: str | None = Field(default=None, sa_column=Column(sa.String(64), index=True))
    channel_name: str | None = Field(default=None, sa_column=Column(sa.String(80)))
    cards: list[dict[str, str]] = Field(default_factory=empty_list, sa_column=Column(sa.JSON, nullable=False))
    summary: str | None = Field(default=None, sa_column=Column(sa.Text))
    severity_reason: str | None = Field(default=None, sa_column=Column(sa.Text))
    declared_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
    acknowledged_at: datetime | None = Field(default=None, sa_column=_utc_column())
    acknowledged_by: str | None = Field(default=None, sa_column=Column(sa.String(64)))
    mitigated_at: datetime | None = Field(default=None, sa_column=_utc_column())
    resolved_at: datetime | None = Field(default=None, sa_column=_utc_column())
    last_update_at: datetime | None = Field(default=None, sa_column=_utc_column())
    # Migration 0010: a private incident (private channel, members only) and a game-day drill's incident.
    private: bool = Field(default=False, sa_column=Column(sa.Boolean, nullable=False, server_default=sa.false()))
    drill: bool = Field(default=False, sa_column=Column(sa.Boolean, nullable=False, server_default=sa.false()))

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"


class TimelineEvent(SQLModel, table=True):
    """Something that happened in an incident, with who did it and when."""

    __tablename__ = "timeline_events"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(sa_column=Column(sa.Integer, sa.ForeignKey("incidents.id"), nullable=False,
                                              index=True))
    at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
    kind: str = Field(sa_column=Column(sa.String(40), nullable=False))
    actor: str = Field(sa_column=Column(sa.String(64), nullable=False))
    text: str = Field(default="", sa_column=Column(sa.Text, nullable=False))
    data: dict[str, Any] = Field(default_factory=empty_dict, sa_column=Column(sa.JSON, nullable=False))
    # Set where the same event may arrive twice (a pinned message, a webhook): unique per incident.
    dedup_key: str | None = Field(default=None, sa_column=Column(sa.String(200)))

    __table_args__ = (sa.UniqueConstraint("incident_id", "dedup_key", name="uq_timeline_dedup"),)


class ProcessedRequest(SQLModel, table=True):
    """Ids of requests and events already handled, so retries and replays are dropped."""

    __tablename__ = "processed_requests"

    key: str = Field(sa_column=Column(sa.String(200), primary_key=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))


class Job(SQLModel, table=True):
    """Durable work: a command to run after Slack got its ack, or a timer due at `run_at`.

    Claimed with a conditional UPDATE, so each job runs once even with several replicas.
    """

    __tablename__ = "jobs"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(sa.String(60), nullable=False))
    payload: dict[str, Any] = Field(default_factory=empty_dict, sa_column=Column(sa.JSON, nullable=False))
    run_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
    status: str = Field(default="pending", sa_column=Column(sa.String(20), nullable=False))
    attempts: int = Field(default=0, sa_column=Column(sa.Integer, nullable=False))
    # "C" on PostgreSQL: keys compare bytewise, so timers can be found by prefix as an index range (0006)
    dedup_key: str | None = Field(default=None, sa_column=Column(
        sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql"), unique=True))
    locked_by: str | None = Field(default=None, sa_column=Column(sa.String(100)))
    locked_at: datetime | None = Field(default=None, sa_column=_utc_column())
    finished_at: datetime | None = Field(default=None, sa_column=_utc_column())
    error: str | None = Field(default=None, sa_column=Column(sa.Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))

    __table_args__ = (sa.Index("ix_jobs_due", "status", "run_at"),)
