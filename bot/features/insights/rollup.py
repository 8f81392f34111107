"""Insights per UTC day (table insight_days, migration 0013_insight_days): a period's figures from one row a day.

Why: with 10,000 incidents a cold insights page for a year read and measured every incident, page, postmortem
and run (bench/web_pages.py: p50 153 / p99 202 ms on a quiet 2-core machine, SQLite), and a first view after
any change is cold. Now a year reads at most 365 stored days plus the few rows the days cannot hold.

- Each stored day keeps what the figures need, exactly: per severity the count and the durations to
  acknowledge, mitigate and resolve (every value, so the median and p90 are the same nearest-rank values the
  full computation gives, not histogram estimates; a year of 10,000 incidents is about 30,000 floats), the
  declare times of those not yet acknowledged and the due times of postmortems not yet done (their
  judgement depends on the time of reading); pages, people paged and dry runs; postmortem outcomes; playbook
  runs and failures. Times are whole milliseconds since the epoch.
- Triggers (the migration) mark a day dirty in the same transaction as any change to what it holds, one row a
  day (0014_insight_dirty_per_day: a marked day's row gets a new id, so unread marks stay bounded by the days);
  `refresh` recomputes only the marked days, under a lock (PostgreSQL advisory lock; SQLite's one writer),
  and consumes the marks it read by id, so a change committed meanwhile stays marked for the next read.
  The migration marks every day with data, so the first read after the upgrade is the backfill.
- Days hold every incident, private ones too; a reader who may not see some (bot.service.reads.Visible) has
  theirs read back and taken out (`Tally.remove`). Hidden incidents are few; a privacy change touches no day.
- The period's first day is partial (`since` is a time, not a midnight): it is read from the tables directly.
- If the days and the hidden rows disagree (a change landed between the two reads), `Stale` sends the read to
  the full computation, which is kept as the reference the property test compares against.
"""

from __future__ import annotations

import json
import sys
from array import array
from datetime import UTC, date, datetime, time as clock_time, timedelta
from typing import Any

from sqlalchemy import Float, and_, case, cast, delete, extract, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine

from bot.features.pagerduty.config import DRY_RUN
from bot.store.models import Incident, InsightDay, InsightDirty, PagerDutyLink, PlaybookExecution, Postmortem
from playbooks import insights as pure

DAYS, DIRTY = InsightDay.__table__, InsightDirty.__table__
LOCK_KEY = 0x46494E494E53  # "FININS": the advisory lock that serialises refreshes on PostgreSQL
_RANGE_GAP = 7  # dirty days further apart than this are read as separate ranges


def epoch_ms(dialect: str, column):
    """SQL: a timestamp as whole milliseconds since the epoch (SQLite's julianday is good to the millisecond)."""
    if dialect == "sqlite":
        return cast(func.round((func.julianday(column) - 2440587.5) * 86_400_000.0), Float)
    return func.round(cast(extract("epoch", column), Float) * 1000.0)


def now_ms(now: datetime) -> float:
    return float(round(now.astimezone(UTC).timestamp() * 1000))


def utc_day(dialect: str, column):
    """SQL: the UTC day of a timestamp as 2026-11-25 (SQLite stores naive UTC; PostgreSQL timestamptz)."""
    if dialect == "sqlite":
        return func.date(column)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def minutes(dialect: str, start, end):
    """SQL: minutes from `start` to `end`, at least 0 (NULL when `end` is); the database measures, Python reads
    floats. The stored days and the full computation (bot.features.insights.feature) both measure with this.

    SQLite: in whole milliseconds, its own precision (a difference of two julianday doubles is off in the
    last bits: 6 minutes read 5.99999964); its two-argument max() is NULL when either argument is.
    """
    if dialect == "sqlite":
        return func.max(func.round((func.julianday(end) - func.julianday(start)) * 86_400_000.0) / 60_000.0, 0.0)
    measured = cast(extract("epoch", end - start), Float) / 60.0
    return case((measured < 0, 0.0), else_=measured)


def read_rows(connection: Connection, lower: datetime | None, upper: datetime | None = None,
              ids: list[int] | None = None) -> tuple[list, list, list, list]:
    """The raw rows of [lower, upper) by each table's own time (declared, paged, due, proposed), optionally of
    the incidents `ids` only: (incidents, pages, postmortems, runs), each row's first two columns its incident
    id and UTC day."""
    dialect = connection.dialect.name
    incidents, links = Incident.__table__.c, PagerDutyLink.__table__.c
    postmortems, runs = Postmortem.__table__.c, PlaybookExecution.__table__.c

    def within(stamp, owner):
        clauses = [stamp.is_not(None)]
        if lower is not None:
            clauses.append(stamp >= lower)
        if upper is not None:
            clauses.append(stamp < upper)
        if ids is not None:
            clauses.append(owner.in_(ids))
        return and_(*clauses)

    declared = incidents.declared_at
    incident_rows = connection.execute(
        select(incidents.id, utc_day(dialect, declared), incidents.severity,
               minutes(dialect, declared, incidents.acknowledged_at),
               minutes(dialect, declared, incidents.mitigated_at),
               minutes(dialect, declared, incidents.resolved_at), epoch_ms(dialect, declared))
        .where(within(declared, incidents.id))).all()
    page_rows = connection.execute(
        select(links.incident_id, utc_day(dialect, links.paged_at), links.assignees, links.mode == DRY_RUN)
        .where(within(links.paged_at, links.incident_id))).all()
    postmortem_rows = connection.execute(
        select(postmortems.incident_id, utc_day(dialect, postmortems.due_at), postmortems.done_at.is_not(None),
               postmortems.done_at > postmortems.due_at, epoch_ms(dialect, postmortems.due_at))
        .where(within(postmortems.due_at, postmortems.incident_id))).all()
    run_rows = connection.execute(
        select(runs.incident_id, utc_day(dialect, runs.proposed_at), runs.playbook, runs.status)
        .where(within(runs.proposed_at, runs.incident_id))).all()
    return incident_rows, page_rows, postmortem_rows, run_rows


def _blank() -> dict[str, Any]:
    return {"incidents": {}, "pages": {"n": 0, "dry": 0, "people": {}},
            "postmortems": {"on_time": 0, "late": 0, "pending": []}, "runs": {}}


def day_blobs(incident_rows, page_rows, postmortem_rows, run_rows) -> dict[str, dict[str, Any]]:
    """Raw rows -> {day: what insight_days stores for it}; the lists sorted, so a stored day is canonical."""
    days: dict[str, dict[str, Any]] = {}

    def blob(day: str) -> dict[str, Any]:
        found = days.get(day)
        if found is None:
            found = days[day] = _blank()
        return found

    for _, day, severity, tta, ttm, ttr, declared in incident_rows:
        group = blob(day)["incidents"].setdefault(str(severity), [0, [], [], [], []])
        group[0] += 1
        if tta is None:
            group[4].append(float(declared))
        else:
            group[1].append(tta)
        if ttm is not None:
            group[2].append(ttm)
        if ttr is not None:
            group[3].append(ttr)
    for _, day, people, dry in page_rows:
        pages = blob(day)["pages"]
        if dry:
            pages["dry"] += 1
            continue
        pages["n"] += 1
        for person in dict.fromkeys(people or ()):
            pages["people"][person] = pages["people"].get(person, 0) + 1
    for _, day, done, done_late, due in postmortem_rows:
        outcome = blob(day)["postmortems"]
        if done:
            outcome["late" if done_late else "on_time"] += 1
        else:
            outcome["pending"].append(float(due))
    for _, day, playbook, status in run_rows:
        if status in pure.RAN:
            counts = blob(day)["runs"].setdefault(playbook, [0, 0])
            counts[0] += 1
            counts[1] += status in pure.FAILED
    for found in days.values():
        for group in found["incidents"].values():
            for values in group[1:]:
                values.sort()
        found["postmortems"]["pending"].sort()
    return days


def encode(blob: dict[str, Any]) -> tuple[str, bytes]:
    """A day -> (counts as JSON text, every float as packed little-endian doubles, in the order the counts say):
    per severity (in key order) its ttas, ttms, ttrs and unacknowledged declare times, then pending postmortems'
    due times. Exact floats; decoding a year is a copy, not a parse."""
    floats = array("d")
    incidents = {}
    for severity in sorted(blob["incidents"]):
        count, *lists = blob["incidents"][severity]
        incidents[severity] = [count, *(len(values) for values in lists)]
        for values in lists:
            floats.extend(values)
    pending = blob["postmortems"]["pending"]
    floats.extend(pending)
    counts = {"incidents": incidents, "pages": blob["pages"], "runs": blob["runs"],
              "postmortems": {"on_time": blob["postmortems"]["on_time"], "late": blob["postmortems"]["late"],
                              "pending": len(pending)}}
    if sys.byteorder != "little":  # pragma: no cover - every platform Fireline ships on is little-endian
        floats.byteswap()
    return json.dumps(counts, separators=(",", ":"), sort_keys=True), floats.tobytes()


def decode(counts: str, packed: bytes) -> dict[str, Any]:
    floats = array("d")
    floats.frombytes(packed)
    if sys.byteorder != "little":  # pragma: no cover
        floats.byteswap()
    values = floats.tolist()
    blob = json.loads(counts)
    at = 0
    for severity, (count, *sizes) in blob["incidents"].items():
        lists = []
        for size in sizes:
            lists.append(values[at:at + size])
            at += size
        blob["incidents"][severity] = [count, *lists]
    blob["postmortems"]["pending"] = values[at:at + blob["postmortems"]["pending"]]
    return blob


def add_day(found: pure.Tally, day: str, blob: dict[str, Any], at_ms: float) -> None:
    """One stored day into a Tally, its open items judged at `at_ms` (the time of reading)."""
    month = day[:7]
    total = 0
    for severity, (count, ttas, ttms, ttrs, unacknowledged) in blob["incidents"].items():
        group = found.group(month, int(severity))
        group.count += count
        group.ttas += ttas
        group.ttms += ttms
        group.ttrs += ttrs
        group.open_ages += [max(0.0, (at_ms - declared) / 60_000.0) for declared in unacknowledged]
        total += count
    if total:
        found.days[day] += total
    pages = blob["pages"]
    if pages["n"]:
        found.page_days[day] += pages["n"]
    found.people.update(pages["people"])
    found.dry_run_pages += pages["dry"]
    outcome = blob["postmortems"]
    found.on_time += outcome["on_time"]
    found.late += outcome["late"]
    found.owed += outcome["on_time"] + outcome["late"] + len(outcome["pending"])
    found.overdue += sum(1 for due in outcome["pending"] if due < at_ms)
    for playbook, (ran, failed) in blob["runs"].items():
        found.ran[playbook] += ran
        found.failed[playbook] += failed


def tally_rows(rows, at_ms: float, into: pure.Tally | None = None) -> pure.Tally:
    found = pure.Tally() if into is None else into
    for day, blob in day_blobs(*rows).items():
        add_day(found, day, blob, at_ms)
    return found


def _ranges(days: list[str]) -> list[tuple[date, date]]:
    """Sorted days -> [first, last] ranges, joining days less than a week apart (one indexed range scan each)."""
    spans: list[tuple[date, date]] = []
    for day in sorted({date.fromisoformat(d) for d in days}):
        if spans and (day - spans[-1][1]).days <= _RANGE_GAP:
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return spans


def midnight(day: date) -> datetime:
    return datetime.combine(day, clock_time(0), tzinfo=UTC)


def refresh(engine: Engine) -> int:
    """Recompute the days changes have marked; returns how many. A read with nothing marked costs one SELECT."""
    with engine.connect() as connection:
        if connection.execute(select(DIRTY.c.id).limit(1)).first() is None:
            return 0
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        else:  # SQLite: take the database's one write lock before reading the marks (a write that changes nothing)
            connection.execute(update(DIRTY).where(DIRTY.c.id < 0).values(day=DIRTY.c.day))
        marks = connection.execute(select(DIRTY.c.id, DIRTY.c.day)).all()
        if not marks:
            return 0
        touched = sorted({day for _, day in marks})
        fresh: dict[str, dict[str, Any]] = {}
        for first, last in _ranges(touched):
            found = day_blobs(*read_rows(connection, midnight(first), midnight(last + timedelta(days=1))))
            fresh.update((day, blob) for day, blob in found.items() if day in touched)
        connection.execute(delete(DAYS).where(DAYS.c.day.in_(touched)))
        if fresh:
            connection.execute(insert(DAYS), [dict(zip(("day", "counts", "durations"), (day, *encode(blob))))
                                              for day, blob in sorted(fresh.items())])
        ids = [number for number, _ in marks]
        for start in range(0, len(ids), 5000):
            # SKIP LOCKED (PostgreSQL): a mark a writer is renewing right now stays for the next read. Waiting for it
            # could deadlock with a writer that renews two days in the other order (its resolve aborted); a renewed
            # mark gets a new id anyway, so it was never ours to delete.
            chunk = select(DIRTY.c.id).where(DIRTY.c.id.in_(ids[start:start + 5000])).with_for_update(skip_locked=True)
            connection.execute(delete(DIRTY).where(DIRTY.c.id.in_(chunk)))
        return len(touched)


def period(engine: Engine, since: datetime, now: datetime, hidden: frozenset[int] = frozenset()) -> pure.Tally:
    """The Tally from `since` to now as a reader who may not see `hidden` sees it. Raises pure.Stale when the
    stored days and the hidden rows were read from different states (the caller computes in full)."""
    refresh(engine)
    since = since.astimezone(UTC)
    first_full = since.date() + timedelta(days=1)
    boundary = midnight(first_full)
    at_ms = now_ms(now)
    found = pure.Tally()
    with engine.connect() as connection:
        for day, counts, packed in connection.execute(
                select(DAYS.c.day, DAYS.c.counts, DAYS.c.durations).where(DAYS.c.day >= first_full.isoformat())):
            add_day(found, day, decode(counts, packed), at_ms)
        partial = read_rows(connection, since, boundary)
        if hidden:
            partial = tuple([row for row in rows if row[0] is None or row[0] not in hidden] for rows in partial)
            ordered = sorted(hidden)
            gone = pure.Tally()
            for start in range(0, len(ordered), 500):
                tally_rows(read_rows(connection, boundary, ids=ordered[start:start + 500]), at_ms, into=gone)
            found.remove(gone)
    tally_rows(partial, at_ms, into=found)
    return found

