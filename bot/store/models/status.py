"""The public status page's own records: updates a person published, and scheduled maintenance.

Kept apart from the incident tables on purpose: the public page reads only these, so nothing
internal (channel, people, SEV, timeline) can reach it by a join someone forgot to filter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from bot.store.models.incident import empty_dict, empty_list, utcnow


def _utc(**kwargs: Any) -> Column:
    return Column(sa.DateTime(timezone=True), **kwargs)


class StatusUpdate(SQLModel, table=True):
    """One public update of an incident: drafted by Fireline or a person, published by an authorized person.

    `public_id` names the public incident (random, the same on all its updates): never the incident's number.
    """

    __tablename__ = "status_updates"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(sa_column=Column(sa.Integer, sa.ForeignKey("incidents.id"), nullable=False, index=True))
    public_id: str = Field(sa_column=Column(sa.String(16), nullable=False, index=True))
    update_key: str = Field(sa_column=Column(sa.String(16), nullable=False, unique=True))
    state: str = Field(default="draft", sa_column=Column(sa.String(12), nullable=False))
    stage: str = Field(sa_column=Column(sa.String(16), nullable=False))
    title: str = Field(sa_column=Column(sa.String(200), nullable=False))
    body: str = Field(sa_column=Column(sa.Text, nullable=False))
    components: dict[str, str] = Field(default_factory=empty_dict, sa_column=Column(sa.JSON, nullable=False))
    drafted_by: str = Field(sa_column=Column(sa.String(64), nullable=False))
    # One more on every change to the waiting draft: Publish names the revision it showed, so words changed
    # after a responder read them are never published by that press.
    revision: int = Field(default=1, sa_column=Column(sa.Integer, nullable=False, server_default="1"))
    drafted_at: datetime = Field(default_factory=utcnow, sa_column=_utc(nullable=False))
    published_by: str | None = Field(default=None, sa_column=Column(sa.String(64)))
    published_at: datetime | None = Field(default=None, sa_column=_utc(index=True))
    # The hosted Statuspage's incident id, once synced (STATUSPAGE_API_KEY).
    external_id: str | None = Field(default=None, sa_column=Column(sa.String(64)))


class Maintenance(SQLModel, table=True):
    """Scheduled maintenance shown on the page; its components are under_maintenance while it runs."""

    __tablename__ = "status_maintenance"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(sa.String(16), nullable=False, unique=True))
    title: str = Field(sa_column=Column(sa.String(200), nullable=False))
    body: str = Field(default="", sa_column=Column(sa.Text, nullable=False))
    components: list[str] = Field(default_factory=empty_list, sa_column=Column(sa.JSON, nullable=False))
    starts_at: datetime = Field(sa_column=_utc(nullable=False))
    ends_at: datetime = Field(sa_column=_utc(nullable=False))
    created_by: str = Field(sa_column=Column(sa.String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc(nullable=False))
    cancelled: bool = Field(default=False, sa_column=Column(sa.Boolean, nullable=False))
