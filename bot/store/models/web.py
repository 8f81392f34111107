"""The signed-in web view's one table: one-time sign-in links (stored as a hash, used once)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from bot.store.models.incident import _utc_column


class WebLoginLink(SQLModel, table=True):
    __tablename__ = "web_login_links"

    token_hash: str = Field(sa_column=Column(sa.String(64), primary_key=True))
    user_id: str = Field(sa_column=Column(sa.String(64), nullable=False))
    team_id: str = Field(sa_column=Column(sa.String(64), nullable=False))
    name: str = Field(sa_column=Column(sa.String(200), nullable=False))
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    expires_at: datetime = Field(sa_column=_utc_column(nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=_utc_column())


class WebSessionGeneration(SQLModel, table=True):
    """A person's sign-in generation: each session cookie carries the one it was made in, and signing out adds
    one, so every cookie made before (a copied one, another browser's) stops working at once."""

    __tablename__ = "web_session_generations"

    user_id: str = Field(sa_column=Column(sa.String(64), primary_key=True))
    generation: int = Field(default=0, sa_column=Column(sa.Integer, nullable=False))
    changed_at: datetime = Field(sa_column=_utc_column(nullable=False))
