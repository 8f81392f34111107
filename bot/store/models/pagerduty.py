"""PagerDuty state: which PagerDuty incident belongs to which of ours, and the on-call cache."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from bot.store.models.incident import empty_list, utcnow


def _utc_column(**kwargs: Any) -> Column:
    return Column(sa.DateTime(timezone=True), **kwargs)


class PagerDutyLink(SQLModel, table=True):
    """One of our incidents, paged: its PagerDuty incident and the state we last saw there.

    `incident_key` is derived from our incident, so PagerDuty refuses a second incident for it;
    `status_at` is when PagerDuty's status last changed, so late webhooks cannot undo newer ones.
    """

    __tablename__ = "pagerduty_links"

    incident_id: int = Field(sa_column=Column(sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True,
                                              autoincrement=False))
    incident_key: str = Field(sa_column=Column(sa.String(120), nullable=False, unique=True))
    mode: str = Field(sa_column=Column(sa.String(10), nullable=False))  # rest | events | dry-run
    pd_incident_id: str | None = Field(default=None, sa_column=Column(sa.String(40), unique=True))
    number: int | None = Field(default=None, sa_column=Column(sa.Integer))
    html_url: str | None = Field(default=None, sa_column=Column(sa.Text))
    status: str = Field(default="triggered", sa_column=Column(sa.String(20), nullable=False))
    status_at: datetime | None = Field(default=None, sa_column=_utc_column())
    escalation_level: int = Field(default=1, sa_column=Column(sa.Integer, nullable=False))
    assignees: list[str] = Field(default_factory=empty_list, sa_column=Column(sa.JSON, nullable=False))
    paged_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))


class OnCallSnapshot(SQLModel, table=True):
    """Who was on call for an escalation policy when Fireline last asked PagerDuty."""

    __tablename__ = "pagerduty_oncall"

    policy_id: str = Field(sa_column=Column(sa.String(40), primary_key=True))
    entries: list[dict[str, Any]] = Field(default_factory=empty_list, sa_column=Column(sa.JSON, nullable=False))
    fetched_at: datetime | None = Field(default=None, sa_column=_utc_column())
    attempted_at: datetime | None = Field(default=None, sa_column=_utc_column())
    error: str | None = Field(default=None, sa_column=Column(sa.Text))
