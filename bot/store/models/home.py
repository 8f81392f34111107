"""Who looks at Fireline's App Home tab, and when it was last published for them (bot/adapters/slack/home.py)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel


class HomeViewer(SQLModel, table=True):
    __tablename__ = "home_viewers"

    user_id: str = Field(sa_column=Column(sa.String(64), primary_key=True))
    opened_at: datetime = Field(sa_column=Column(sa.DateTime(timezone=True), nullable=False, index=True))
    published_at: datetime | None = Field(default=None, sa_column=Column(sa.DateTime(timezone=True)))
