"""Timers on top of the job queue: arm, re-arm and cancel by key.

A timer's key names what it is for and when it is due (`clock:ack:12:2026-11-25T14:15:00`), so
two replicas arming the same timer store one row, and a fired timer is never armed again. A
cancelled timer armed again with the same key is revived instead of duplicated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.models import Job
from bot.service import jobs


def timer_key(*parts: object) -> str:
    return ":".join(part.strftime("%Y-%m-%dT%H:%M:%S") if isinstance(part, datetime) else str(part)
                    for part in parts)


def arm(session: Session, kind: str, key: str, run_at: datetime, payload: dict[str, Any], *,
        now: datetime | None = None) -> bool:
    """Schedule `kind` at `run_at` under `key`; True if a timer is now pending for it."""
    if jobs.enqueue(session, kind, payload, run_at=run_at, dedup_key=key, now=now) is not None:
        return True
    result = session.execute(update(Job).where(col(Job.dedup_key) == key, col(Job.status) == "cancelled")
                             .values(status="pending", run_at=run_at, payload=payload))
    return bool(result.rowcount)


def cancel_prefix(session: Session, prefix: str) -> int:
    """Cancel every pending timer whose key starts with `prefix`; returns how many."""
    result = session.execute(update(Job).where(col(Job.dedup_key).startswith(prefix, autoescape=True),
                                               col(Job.status) == "pending").values(status="cancelled"))
    return result.rowcount or 0


def pending(session: Session, prefix: str) -> list[Job]:
    query = select(Job).where(col(Job.dedup_key).startswith(prefix, autoescape=True), col(Job.status) == "pending")
    return list(session.exec(query.order_by(col(Job.run_at))).all())
