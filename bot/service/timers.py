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

from bot.store.models import Job
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
    """Cancel every pending timer whose key starts with `prefix`; returns how many.

    Why not `dedup_key LIKE 'prefix%'`: neither database answers that from the unique index on
    dedup_key (SQLite's LIKE ignores case, PostgreSQL's needs a pattern index), so it scanned every
    pending job, every open incident's timers included, inside the write transaction, three times per
    declared incident (measured: a third of the worker's time after 1,000 declares, holding SQLite's
    write lock while Slack's acks waited for it). Here the index finds the few keys in the prefix's
    range, and each pending one is cancelled by its key; no match means no write at all.
    """
    found = session.execute(select(Job.dedup_key, Job.status).where(*_starts_with(prefix))).all()
    # jobs.cancel checks the status again: another replica may have just run the timer
    return sum(jobs.cancel(session, key) for key, status in found if status == "pending")


def newest(session: Session, prefix: str) -> Job | None:
    """The most recently stored timer under `prefix`, whatever its status (what the last arming said)."""
    return session.exec(select(Job).where(*_starts_with(prefix)).order_by(col(Job.id).desc())).first()


def _starts_with(prefix: str) -> tuple:
    """`dedup_key` starts with `prefix`, as a range on the unique index: [prefix, prefix with its last character
    incremented). Exact because keys compare bytewise: SQLite's BINARY collation, and the "C" collation
    jobs.dedup_key has on PostgreSQL (migration 0006); the status filter is left to the caller, or SQLite
    would walk ix_jobs_due instead.
    """
    if not prefix:
        raise ValueError("a timer key prefix must not be empty")
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return col(Job.dedup_key) >= prefix, col(Job.dedup_key) < upper
