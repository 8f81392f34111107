"""Deploy watches: one row per watched release, the database's truth for the message the watch edits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from bot.store.models.incident import utcnow


def _utc(**kwargs: Any) -> Column:
    return Column(sa.DateTime(timezone=True), **kwargs)


class DeployWatch(SQLModel, table=True):
    """A release watched for a window. `key` (app and image) makes a second watch of the same release one row,
    whether a person typed `/deploy watch` or the poller found it."""

    __tablename__ = "deploy_watches"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(sa.String(400), nullable=False, unique=True))
    app: str = Field(sa_column=Column(sa.String(64), nullable=False))
    release: str = Field(sa_column=Column(sa.String(64), nullable=False))  # "v43"
    image: str = Field(sa_column=Column(sa.String(300), nullable=False))
    sentry_release: str = Field(sa_column=Column(sa.String(200), nullable=False))
    previous: str = Field(default="", sa_column=Column(sa.String(64), nullable=False))
    previous_image: str = Field(default="", sa_column=Column(sa.String(300), nullable=False))
    previous_sentry_release: str = Field(default="", sa_column=Column(sa.String(200), nullable=False))
    deployed_at: datetime = Field(sa_column=_utc(nullable=False))
    started_at: datetime = Field(default_factory=utcnow, sa_column=_utc(nullable=False))
    ends_at: datetime = Field(sa_column=_utc(nullable=False))
    started_by: str = Field(sa_column=Column(sa.String(64), nullable=False))
    status: str = Field(default="watching", sa_column=Column(sa.String(12), nullable=False))  # watching | done
    verdict: str = Field(default="", sa_column=Column(sa.String(12), nullable=False))
    reasons: list[str] = Field(default_factory=list, sa_column=Column(sa.JSON, nullable=False))
    probes: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(sa.JSON, nullable=False))
    message: dict[str, str] = Field(default_factory=dict, sa_column=Column(sa.JSON, nullable=False))
    incident_id: int | None = Field(default=None, sa_column=Column(sa.Integer, sa.ForeignKey("incidents.id")))
