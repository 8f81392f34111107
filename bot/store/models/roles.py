"""Who holds which incident role (commander stays `incidents.lead_id`; see bot/features/roles/service.py)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from bot.store.models.incident import utcnow


class IncidentRole(SQLModel, table=True):
    __tablename__ = "incident_roles"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(sa_column=Column(sa.Integer, sa.ForeignKey("incidents.id"), nullable=False, index=True))
    role: str = Field(sa_column=Column(sa.String(40), nullable=False))
    user_id: str = Field(sa_column=Column(sa.String(64), nullable=False, index=True))
    assigned_by: str = Field(sa_column=Column(sa.String(64), nullable=False))
    assigned_at: datetime = Field(default_factory=utcnow, sa_column=Column(sa.DateTime(timezone=True),
                                                                           nullable=False))

    __table_args__ = (sa.UniqueConstraint("incident_id", "role", name="uq_incident_role"),)
