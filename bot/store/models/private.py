"""Private incidents' members (migration 0010_private_drills)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from bot.store.models.incident import _utc_column, utcnow


class IncidentMember(SQLModel, table=True):
    """Who may see a private incident: its channel's members as Fireline recorded them (invites, joins)."""

    __tablename__ = "incident_members"

    incident_id: int = Field(sa_column=Column(sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True))
    user_id: str = Field(sa_column=Column(sa.String(64), primary_key=True))
    added_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(nullable=False))
    via: str = Field(default="", sa_column=Column(sa.String(30), nullable=False))
