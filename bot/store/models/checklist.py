"""The SEV1 checklist's ticks and where it is posted (bot/features/incident/checklist.py).

A tick is a row, not a derived timeline state: ticking is an INSERT that a primary key lets happen once,
unticking a DELETE that removes at most one row, so two deliveries of the same click (a double click, two
workers) change the list once and write one timeline event. `checklist_messages` is claimed by its primary
key before Slack is asked to post, so a double-pressed *Show playbook* posts one message.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from bot.store.models.incident import utcnow


class ChecklistTick(SQLModel, table=True):
    __tablename__ = "checklist_ticks"

    incident_id: int = Field(sa_column=Column(sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True))
    step: str = Field(sa_column=Column(sa.String(40), primary_key=True))
    ticked_by: str = Field(sa_column=Column(sa.String(64), nullable=False))
    ticked_at: datetime = Field(default_factory=utcnow, sa_column=Column(sa.DateTime(timezone=True), nullable=False))


class ChecklistMessage(SQLModel, table=True):
    """A posted copy of the checklist; `ts` is empty while the post that claimed the row (at `claimed_at`) is on
    its way, and a claim older than bot.features.incident.checklist.CLAIM_TIMEOUT may be taken over."""

    __tablename__ = "checklist_messages"

    incident_id: int = Field(sa_column=Column(sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True))
    channel: str = Field(sa_column=Column(sa.String(64), primary_key=True))
    ts: str = Field(default="", sa_column=Column(sa.String(40), nullable=False, server_default=""))
    claimed_at: datetime | None = Field(default=None, sa_column=Column(sa.DateTime(timezone=True)))
