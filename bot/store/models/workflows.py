"""Workflow runs: one row per (workflow, incident, trigger occurrence), the claim that makes a run happen once.

The unique constraint is the claim: two replicas (or a retried job) that see the same occurrence both try the
INSERT and one of them gets the row; the other's IntegrityError means "already running". Steps then advance with
a conditional UPDATE on `next_step`, as jobs are claimed, so a step's outcome is recorded once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from bot.store.models.incident import empty_dict, empty_list, _utc_column, utcnow


class WorkflowRun(SQLModel, table=True):
    __tablename__ = "workflow_runs"

    id: int | None = Field(default=None, primary_key=True)
    workflow: str = Field(sa_column=Column(sa.String(120), nullable=False))
    # None: an `alert_received` run for an alert that has joined no incident (yet); `alert_id` says which alert
    incident_id: int | None = Field(default=None, sa_column=Column(sa.Integer, sa.ForeignKey("incidents.id"),
                                                                   nullable=True, index=True))
    alert_id: int | None = Field(default=None, sa_column=Column(sa.Integer, nullable=True))
    occurrence: str = Field(sa_column=Column(sa.String(200), nullable=False))
    trigger: str = Field(sa_column=Column(sa.String(40), nullable=False))
    depth: int = Field(default=0, sa_column=Column(sa.Integer, nullable=False))
    source: str = Field(default="", sa_column=Column(sa.String(300), nullable=False))
    # running | done | failed (a step failed; the others ran) | refused (the depth limit)
    status: str = Field(default="running", sa_column=Column(sa.String(20), nullable=False))
    next_step: int = Field(default=0, sa_column=Column(sa.Integer, nullable=False))
    # one entry per step as it ends: {"index", "kind", "ok", "text", "at"}
    steps: list[dict[str, Any]] = Field(default_factory=empty_list, sa_column=Column(sa.JSON, nullable=False))
    event: dict[str, Any] = Field(default_factory=empty_dict, sa_column=Column(sa.JSON, nullable=False))
    started_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=_utc_column())

    # the second claim: an alert's run, with or without an incident, happens once (NULLs never collide)
    __table_args__ = (sa.UniqueConstraint("workflow", "incident_id", "occurrence", name="uq_workflow_run"),
                      sa.UniqueConstraint("workflow", "alert_id", name="uq_workflow_run_alert"))
