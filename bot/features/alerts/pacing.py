"""Slack rate limits as database lanes: each call reserves the next free moment of its lane.

Slack allows chat.postMessage about once per second per channel (short bursts tolerated) and
chat.update at Tier 3 (about 50 a minute per workspace). A storm of alerts must not turn into a
storm of 429s, so posting and updating jobs are scheduled (`run_at`) into slots of a lane instead of
running at once. The lane rows live in the database so several replicas share one budget; on
PostgreSQL the row is locked while a slot is taken, on SQLite writes are serialised anyway.

Two rules keep one storm from delaying the alerts after it (a 10,000-alert delivery once booked the
`#incidents` lane 5.5 hours ahead, and a SEV1 sent next waited behind all of it):

- A lane is booked at most `horizon` ahead: `reserve` answers None instead of a slot further out, and
  the caller folds the alert into a digest (so a channel gets at most ~30 new threads a minute).
- A slot is held only while the job that took it is pending: the lane's pointer is a cache of the
  latest held slot, and a reservation first moves it back to the end of the slots still held by
  pending jobs (jobs record their `lane` and `slots` in their payload). Jobs that ran early, failed,
  were cancelled or deleted release their slots; before, the pointer stayed hours ahead after the
  jobs were gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.core.clock import as_utc
from bot.store.models import AlertRateSlot, Job

POST_INTERVAL = timedelta(seconds=1.0)  # chat.postMessage: one message per second per channel
UPDATE_INTERVAL = timedelta(seconds=1.2)  # chat.update, Tier 3: 50 a minute across the workspace
UPDATE_LANE = "update"
HORIZON = timedelta(seconds=60)  # how far ahead a lane may be booked for new threads


def post_lane(channel: str, urgent: bool = False) -> str:
    """The posting lane of a channel; SEV1 and SEV2 have their own, so no storm of lesser alerts is ahead of them.

    Two lanes may post in the same second: Slack tolerates short bursts, and the client waits out a 429.
    """
    return (f"post:{channel}" + (":urgent" if urgent else ""))[:120]


def held_until(session: Session, lane: str, now: datetime, booked: datetime, interval: timedelta,
               kinds: Iterable[str]) -> datetime:
    """The end of the slots of `lane` still held by pending jobs (now when none are).

    Only jobs due between a few slots ago and the lane's pointer (`booked`) can hold a slot, so this reads
    the window the lane has booked through the (status, run_at) index, not the timers set for later.
    """
    end = as_utc(now)
    rows = session.exec(select(Job.run_at, Job.payload).where(
        col(Job.status) == "pending", col(Job.run_at) > now - interval * 4, col(Job.run_at) < booked,
        col(Job.kind).in_(list(kinds)))).all()
    for run_at, payload in rows:
        if (payload or {}).get("lane") == lane:
            end = max(end, as_utc(run_at) + interval * int(payload.get("slots") or 1))
    return end


def reserve(session: Session, lane: str, now: datetime, interval: timedelta, *, slots: int = 1,
            not_before: datetime | None = None, horizon: timedelta | None = None,
            held_by: Iterable[str] = ()) -> datetime | None:
    """Take `slots` consecutive slots of `lane`; returns when the first one starts (never before now).

    With `horizon`: None, and nothing taken, when the first free slot starts later than now + horizon.
    With `held_by` (job kinds whose payload names the lane): slots no pending job holds any more are
    released first.

    Compare-and-set: the lane moves on only if it still holds what we read. On PostgreSQL the row
    lock already serialises this; on SQLite the read runs outside any transaction (the driver opens
    one at the first write), so without the check two requests took the same slot.
    """
    start = max(as_utc(now), as_utc(not_before) if not_before else as_utc(now))
    held_by = tuple(held_by)
    for _ in range(100):
        row = session.get(AlertRateSlot, lane, with_for_update=True, populate_existing=True)
        if row is None:
            if horizon is not None and start > as_utc(now) + horizon:
                return None
            try:
                with session.begin_nested():
                    session.add(AlertRateSlot(lane=lane, next_at=start + interval * slots))
                    session.flush()
                return start
            except IntegrityError:  # another request created the lane first; take a slot after its
                continue
        seen = as_utc(row.next_at)
        booked = seen
        if held_by and seen > start:
            booked = min(seen, held_until(session, lane, now, row.next_at, interval, held_by))
        slot = max(booked, start)
        if horizon is not None and slot > as_utc(now) + horizon:
            return None
        moved = session.execute(update(AlertRateSlot).where(col(AlertRateSlot.lane) == lane,
                                                            col(AlertRateSlot.next_at) == row.next_at)
                                .values(next_at=slot + interval * slots)).rowcount
        if moved == 1:
            return slot
    raise RuntimeError(f"could not reserve a slot in {lane!r}: it kept changing under us")
