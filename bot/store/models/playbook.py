"""Playbook executions, their audit trail, and the one-mitigation-per-app lock.

An execution row is the source of truth for a plan and everything done about it: who proposed
and confirmed it, each step's result with Fly's request ids, and where its progress message is.
State changes are conditional UPDATEs (`... WHERE status = 'proposed'`), so a double-clicked
Confirm starts it once on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from bot.store.models.incident import empty_dict, empty_list, _utc_column, utcnow

# proposed -> queued -> running (<-> waiting for a step's Confirm) -> succeeded | failed | stopped | interrupted
# proposed -> cancelled | expired
ACTIVE = ("queued", "running", "waiting")
FINISHED = ("succeeded", "failed", "stopped", "interrupted", "cancelled", "expired")


class PlaybookExecution(SQLModel, table=True):
    __tablename__ = "playbook_executions"

    id: int | None = Field(default=None, primary_key=True)
    playbook: str = Field(sa_column=Column(sa.String(60), nullable=False))
    app: str = Field(sa_column=Column(sa.String(100), nullable=False))
    incident_id: int | None = Field(default=None, sa_column=Column(sa.Integer, sa.ForeignKey("incidents.id"),
                                                                   index=True))
    status: str = Field(default="proposed", sa_column=Column(sa.String(20), nullable=False, index=True))
    dry_run: bool = Field(default=False, sa_column=Column(sa.Boolean, nullable=False))
    # A random value carried by the plan's buttons: a press must present it (forged presses are refused).
    nonce: str = Field(sa_column=Column(sa.String(40), nullable=False))
    plan: dict[str, Any] = Field(default_factory=empty_dict, sa_column=Column(sa.JSON, nullable=False))
    results: list[dict[str, Any]] = Field(default_factory=empty_list, sa_column=Column(sa.JSON, nullable=False))
    current_step: int = Field(default=0, sa_column=Column(sa.Integer, nullable=False))
    channel_id: str = Field(default="", sa_column=Column(sa.String(64), nullable=False))
    source: str = Field(default="slack", sa_column=Column(sa.String(20), nullable=False))
    proposed_by: str = Field(sa_column=Column(sa.String(64), nullable=False))
    proposed_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
    confirmed_by: str | None = Field(default=None, sa_column=Column(sa.String(64)))
    confirmed_at: datetime | None = Field(default=None, sa_column=_utc_column())
    started_at: datetime | None = Field(default=None, sa_column=_utc_column())
    finished_at: datetime | None = Field(default=None, sa_column=_utc_column())
    heartbeat_at: datetime | None = Field(default=None, sa_column=_utc_column())
    worker: str | None = Field(default=None, sa_column=Column(sa.String(120)))
    progress_channel: str | None = Field(default=None, sa_column=Column(sa.String(64)))
    progress_ts: str | None = Field(default=None, sa_column=Column(sa.String(40)))
    stop_requested_by: str | None = Field(default=None, sa_column=Column(sa.String(64)))
    outcome: str | None = Field(default=None, sa_column=Column(sa.Text))

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE


class PlaybookAudit(SQLModel, table=True):
    """Who did what to which execution, refusals included; kept even when no incident is attached."""

    __tablename__ = "playbook_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
    execution_id: int | None = Field(default=None, sa_column=Column(sa.Integer, index=True))
    incident_id: int | None = Field(default=None, sa_column=Column(sa.Integer))
    actor: str = Field(sa_column=Column(sa.String(64), nullable=False))
    action: str = Field(sa_column=Column(sa.String(40), nullable=False))
    detail: str = Field(default="", sa_column=Column(sa.Text, nullable=False))
    data: dict[str, Any] = Field(default_factory=empty_dict, sa_column=Column(sa.JSON, nullable=False))


class MitigationLock(SQLModel, table=True):
    """One row per app while a mitigation runs: the primary key makes a second one fail to insert."""

    __tablename__ = "mitigation_locks"

    app: str = Field(sa_column=Column(sa.String(100), primary_key=True))
    execution_id: int = Field(sa_column=Column(sa.Integer, nullable=False))
    acquired_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
    acquired_by: str = Field(sa_column=Column(sa.String(64), nullable=False))
