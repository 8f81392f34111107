"""Alerts: one row per distinct alert per dedup window, with its count, classification and Slack thread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from bot.store.models.incident import empty_dict, empty_list, utcnow

ALERT_STATES = ("open", "linked", "declaring", "declared", "dismissed")


def _utc_column(**kwargs: Any) -> Column:
    return Column(sa.DateTime(timezone=True), **kwargs)


class Alert(SQLModel, table=True):
    """An alert from a webhook, an integration's message in ALERTS_CHANNEL, or `/alert`.

    Repeats of the same `dedup_key` within the window only bump `count` and `last_seen_at`; a repeat
    after the window starts a new row with the next `epoch` (unique per key, so two replicas racing
    to start the same window cannot both win).
    """

    __tablename__ = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(sa_column=Column(sa.String(40), nullable=False))
    dedup_key: str = Field(sa_column=Column(sa.String(200), nullable=False))
    epoch: int = Field(default=1, sa_column=Column(sa.Integer, nullable=False))
    title: str = Field(sa_column=Column(sa.String(300), nullable=False))
    text: str = Field(default="", sa_column=Column(sa.Text, nullable=False))
    link: str | None = Field(default=None, sa_column=Column(sa.String(1000)))
    severity_hint: str | None = Field(default=None, sa_column=Column(sa.String(40)))
    level: int = Field(sa_column=Column(sa.Integer, nullable=False))
    reasons: list[str] = Field(default_factory=empty_list, sa_column=Column(sa.JSON, nullable=False))
    playbook: str | None = Field(default=None, sa_column=Column(sa.String(20)))
    guide_row: str | None = Field(default=None, sa_column=Column(sa.String(60)))
    signals: dict[str, Any] = Field(default_factory=empty_dict, sa_column=Column(sa.JSON, nullable=False))
    details: dict[str, Any] = Field(default_factory=empty_dict, sa_column=Column(sa.JSON, nullable=False))
    status: str = Field(default="open", sa_column=Column(sa.String(20), nullable=False))
    count: int = Field(default=1, sa_column=Column(sa.Integer, nullable=False))
    first_seen_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
    # True while a job that will render the latest count is queued (coalesces thread updates).
    render_pending: bool = Field(default=True, sa_column=Column(sa.Boolean, nullable=False))
    channel: str | None = Field(default=None, sa_column=Column(sa.String(80)))
    root_ts: str | None = Field(default=None, sa_column=Column(sa.String(32)))  # the alert message
    reply_ts: str | None = Field(default=None, sa_column=Column(sa.String(32)))  # Fireline's answer in its thread
    own_root: bool = Field(default=False, sa_column=Column(sa.Boolean, nullable=False))
    incident_id: int | None = Field(default=None, sa_column=Column(sa.Integer, sa.ForeignKey("incidents.id"),
                                                                   index=True))
    acted_by: str | None = Field(default=None, sa_column=Column(sa.String(64)))
    acted_at: datetime | None = Field(default=None, sa_column=_utc_column())

    __table_args__ = (sa.UniqueConstraint("dedup_key", "epoch", name="uq_alerts_key_epoch"),)


class AlertRateSlot(SQLModel, table=True):
    """The next free moment to call Slack in a lane (a channel's posts, the workspace's updates)."""

    __tablename__ = "alert_rate_slots"

    lane: str = Field(sa_column=Column(sa.String(120), primary_key=True))
    next_at: datetime = Field(sa_column=_utc_column(nullable=False))
