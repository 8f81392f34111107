"""The team pages' sign-in rows: each person's sign-in generation, the one-time links, the spent OIDC states.

The cookies, signatures and the OpenID Connect exchange stay in the web front end (bot/adapters/web/auth.py);
what it stores or reads in the database is here, so no front end holds a store model or a query. Every
"at most once" is decided by the database: a conditional UPDATE for a link, a primary key for a state.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.core.clock import as_utc
from bot.store.db import session_scope
from bot.store.models import WebLoginLink, WebSessionGeneration


def generation_of(engine: Engine, user_id: str) -> int:
    """The person's sign-in generation: 0 until they first sign out."""
    with session_scope(engine) as session:
        row = session.get(WebSessionGeneration, user_id)
        return row.generation if row is not None else 0


def next_generation(engine: Engine, user_id: str, now: datetime) -> None:
    """Add one to the person's generation (an UPDATE, or the first row)."""
    table = WebSessionGeneration.__table__
    for _ in range(2):  # a first sign-out racing another inserts once; the loser updates
        with session_scope(engine) as session:
            moved = session.execute(update(table).where(table.c.user_id == user_id)
                                    .values(generation=table.c.generation + 1, changed_at=now)).rowcount
            if moved == 1:
                return
        try:
            with session_scope(engine) as session:
                session.add(WebSessionGeneration(user_id=user_id, generation=1, changed_at=now))
            return
        except IntegrityError:
            continue


def add_link(engine: Engine, *, token_hash: str, user_id: str, team_id: str | None, name: str, now: datetime,
             expires_at: datetime) -> None:
    with session_scope(engine) as session:
        session.add(WebLoginLink(token_hash=token_hash, user_id=user_id, team_id=team_id, name=name,
                                 created_at=now, expires_at=expires_at))


def spend_link(engine: Engine, token_hash: str, now: datetime) -> WebLoginLink | None:
    """Spend a link exactly once, before it expires (a conditional UPDATE decides); its row, or None."""
    with session_scope(engine) as session:
        spent = session.execute(update(WebLoginLink)
                                .where(WebLoginLink.token_hash == token_hash, WebLoginLink.used_at.is_(None),
                                       WebLoginLink.expires_at > now)
                                .values(used_at=now))
        if spent.rowcount != 1:
            return None
        row = session.execute(select(WebLoginLink).where(WebLoginLink.token_hash == token_hash)).scalar_one()
        session.expunge(row)
        return row


def link_state(engine: Engine, token_hash: str, now: datetime) -> str:
    """`ok`, `used`, `expired` or `unknown`, without spending anything."""
    with session_scope(engine) as session:
        row = session.execute(select(WebLoginLink).where(WebLoginLink.token_hash == token_hash)).scalar_one_or_none()
        if row is None:
            return "unknown"
        if row.used_at is not None:
            return "used"
        return "expired" if as_utc(row.expires_at) <= now else "ok"


__all__ = ["add_link", "generation_of", "link_state", "next_generation", "spend_link"]
