"""Seen-before checks for Slack event ids, webhook ids and other replays."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from bot.core.container import Container
from bot.store.db import session_scope
from bot.store.models import ProcessedRequest


def first_time(container: Container, key: str) -> bool:
    """Record `key`; True the first time, False for every repeat (across processes too)."""
    try:
        with session_scope(container.engine) as session:
            session.add(ProcessedRequest(key=key[:200], created_at=container.clock()))
    except IntegrityError:
        return False
    return True


def forget_older_than(container: Container, age: timedelta = timedelta(days=7)) -> int:
    with session_scope(container.engine) as session:
        result = session.execute(delete(ProcessedRequest).where(
            col(ProcessedRequest.created_at) < container.clock() - age))
        return result.rowcount or 0
