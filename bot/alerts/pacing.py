"""Slack rate limits as database lanes: each call reserves the next free moment of its lane.

Slack allows chat.postMessage about once per second per channel (short bursts tolerated) and
chat.update at Tier 3 (about 50 a minute per workspace). A storm of alerts must not turn into a
storm of 429s, so posting and updating jobs are scheduled (`run_at`) into slots of a lane instead of
running at once. The lane rows live in the database so several replicas share one budget; on
PostgreSQL the row is locked while a slot is taken, on SQLite writes are serialised anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from bot.clock import as_utc
from bot.models import AlertRateSlot

POST_INTERVAL = timedelta(seconds=1.0)  # chat.postMessage: one message per second per channel
UPDATE_INTERVAL = timedelta(seconds=1.2)  # chat.update, Tier 3: 50 a minute across the workspace
UPDATE_LANE = "update"


def post_lane(channel: str) -> str:
    return f"post:{channel}"[:120]


def reserve(session: Session, lane: str, now: datetime, interval: timedelta, *, slots: int = 1,
            not_before: datetime | None = None) -> datetime:
    """Take `slots` consecutive slots of `lane`; returns when the first one starts (never before now).

    Compare-and-set: the lane moves on only if it still holds what we read. On PostgreSQL the row
    lock already serialises this; on SQLite the read runs outside any transaction (the driver opens
    one at the first write), so without the check two requests took the same slot.
    """
    start = max(as_utc(now), as_utc(not_before) if not_before else as_utc(now))
    for _ in range(100):
        row = session.get(AlertRateSlot, lane, with_for_update=True, populate_existing=True)
        if row is None:
            try:
                with session.begin_nested():
                    session.add(AlertRateSlot(lane=lane, next_at=start + interval * slots))
                    session.flush()
                return start
            except IntegrityError:  # another request created the lane first; take a slot after its
                continue
        seen = row.next_at
        slot = max(as_utc(seen), start)
        moved = session.execute(update(AlertRateSlot).where(col(AlertRateSlot.lane) == lane,
                                                            col(AlertRateSlot.next_at) == seen)
                                .values(next_at=slot + interval * slots)).rowcount
        if moved == 1:
            return slot
    raise RuntimeError(f"could not reserve a slot in {lane!r}: it kept changing under us")
