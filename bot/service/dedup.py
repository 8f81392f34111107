"""Seen-before checks for Slack event ids, webhook ids and other replays."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from bot.core.container import Container
from bot.store.db import session_scope
from bot.store.models import ProcessedRequest


def first_time(container: Container, key: str) -> bool:
    """Record `key`; True the first time, False for every repeat (across processes too)."""
    return record_once(container.engine, key, container.clock())


def record_once(engine: Engine, key: str, now: datetime) -> bool:
    """`first_time` for a caller holding an engine and the time (the web sign-in's one-use OIDC states): the
    primary key of ProcessedRequest decides, so two processes racing on one key see one True."""
    try:
        with session_scope(engine) as session:
            session.add(ProcessedRequest(key=key[:200], created_at=now))
    except IntegrityError:
        return False
    return True


def forget_older_than(container: Container, age: timedelta = timedelta(days=7)) -> int:
    with session_scope(container.engine) as session:
        result = session.execute(delete(ProcessedRequest).where(
            col(ProcessedRequest.created_at) < container.clock() - age))
        return result.rowcount or 0
