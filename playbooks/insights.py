"""Response figures across incidents, computed once: what the web view, `fireline report` and CSV all show.

Pure: plain records in, plain figures out (no database, no Slack). `bot.insights` reads the records
with a few indexed queries and hands them here, so the same numbers reach every reader.

Definitions (kept where a reader of the numbers can find them):
- time to acknowledge (TTA): declared -> first acknowledgement; an incident still unacknowledged counts
  against the target once its target has passed (it missed, whatever happens next), and is left out of
  the median until it is acknowledged.
- share within target: acknowledged within the SEV table's response time, over every incident whose
  outcome is known (acknowledged, or unacknowledged past its target). SEV4 ("next business day") has no
  timed target: its share is empty, not 100%.
- time to mitigate / resolve: declared -> mitigated / resolved, for those that got there.
- postmortems within 48 h: of the postmortems owed (due_at set), done at or before due_at; a pending
  one not yet due is neither on time nor late.
- playbook failure rate: failed + interrupted over runs that finished (succeeded, failed, stopped,
  interrupted); proposals nobody confirmed are not runs.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

RAN = ("succeeded", "failed", "stopped", "interrupted")
FAILED = ("failed", "interrupted")


@dataclass(frozen=True)
class IncidentTimes:
    id: int
    severity: int
    declared_at: datetime
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class PageRecord:
    paged_at: datetime
    people: tuple[str, ...] = ()


@dataclass(frozen=True)
class PostmortemRecord:
    due_at: datetime
    done_at: datetime | None = None


@dataclass(frozen=True)
class RunRecord:
    playbook: str
    status: str


@dataclass(frozen=True)
class Row:
    """One severity in one month."""

    month: str  # 2026-11
    severity: int
    incidents: int
    target_minutes: float | None
    tta_median: float | None  # minutes
    tta_p90: float | None
    within: int
    judged: int
    ttm_median: float | None
    ttr_median: float | None

    @property
    def share_within(self) -> float | None:
        if self.target_minutes is None or not self.judged:
            return None
        return self.within / self.judged


@dataclass(frozen=True)
class PlaybookFigure:
    playbook: str
    runs: int
    failed: int

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.runs if self.runs else None


@dataclass(frozen=True)
class Figures:
    since: datetime
    until: datetime
    rows: list[Row]
    incidents_per_week: list[tuple[str, int]]
    pages_per_week: list[tuple[str, int]]
    pages_per_person: list[tuple[str, int]]
    postmortems_owed: int
    postmortems_on_time: int
    postmortems_late: int
    postmortems_overdue: int
    playbooks: list[PlaybookFigure] = field(default_factory=list)

    @property
    def postmortems_share(self) -> float | None:
        judged = self.postmortems_on_time + self.postmortems_late + self.postmortems_overdue
        return self.postmortems_on_time / judged if judged else None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _same_kind(value: datetime, naive: bool) -> datetime:
    """`value` as a UTC datetime of the rows' kind: SQLite gives naive UTC, PostgreSQL aware ones."""
    value = _utc(value)
    return value.replace(tzinfo=None) if naive else value


def _keyed(value: datetime) -> datetime:
    """UTC for the month and week keys; rows already in UTC (or naive UTC) pass untouched (the common case)."""
    return value if value.tzinfo is None or not value.utcoffset() else value.astimezone(UTC)


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): a value that happened, not an interpolation between two."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def week_of(value: datetime) -> str:
    year, week, _ = _keyed(value).isocalendar()
    return f"{year}-W{week:02d}"


def _minutes(start: datetime, end: datetime | None) -> float | None:
    if end is None:
        return None
    try:
        delta = end - start  # both naive (SQLite) or both aware (PostgreSQL): no conversion, 10,000 rows a page
    except TypeError:
        delta = _utc(end) - _utc(start)
    return max(0.0, delta.total_seconds() / 60)


def compute(incidents: Iterable[IncidentTimes], pages: Iterable[PageRecord], postmortems: Iterable[PostmortemRecord],
            runs: Iterable[RunRecord], targets: Mapping[int, timedelta | None], since: datetime,
            now: datetime) -> Figures:
    """Every figure in one pass per record kind.

    Each timestamp is touched once and never converted when the rows are already UTC (the insights page
    with 10,000 incidents spent 60% of its time in `datetime.replace` before; bench/web_pages.py).
    """
    now, since = _utc(now), _utc(since)
    # (tta, ttm, ttr, age at `now`) per incident, grouped by (month, severity)
    groups: dict[tuple[str, int], list[tuple[float | None, float | None, float | None, float]]] = defaultdict(list)
    weeks: Counter[str] = Counter()
    naive_now = now.replace(tzinfo=None)
    week_names: dict[int, str] = {}
    for incident in incidents:
        declared = incident.declared_at
        keyed = _keyed(declared)
        reference = naive_now if declared.tzinfo is None else now
        groups[(f"{keyed.year:04d}-{keyed.month:02d}", incident.severity)].append(
            (_minutes(declared, incident.acknowledged_at), _minutes(declared, incident.mitigated_at),
             _minutes(declared, incident.resolved_at), _minutes(declared, reference) or 0.0))
        day = keyed.toordinal()
        if day not in week_names:  # isocalendar() is the slowest step per row: once per day, not per incident
            year, week, _ = keyed.isocalendar()
            week_names[day] = f"{year}-W{week:02d}"
        weeks[week_names[day]] += 1
    rows = []
    for (month, level), members in sorted(groups.items()):
        target = targets.get(level)
        ttas = [m[0] for m in members if m[0] is not None]
        within = judged = 0
        limit = None
        if target is not None:
            limit = target.total_seconds() / 60
            for tta, _, _, age in members:
                if tta is not None:
                    judged += 1
                    within += tta <= limit
                elif age > limit:
                    judged += 1
        rows.append(Row(month=month, severity=level, incidents=len(members), target_minutes=limit,
                        tta_median=median(ttas), tta_p90=percentile(ttas, 90), within=within, judged=judged,
                        ttm_median=median(m[1] for m in members if m[1] is not None),
                        ttr_median=median(m[2] for m in members if m[2] is not None)))
    page_weeks: Counter[str] = Counter()
    people: Counter[str] = Counter()
    for page in pages:
        page_weeks[week_of(page.paged_at)] += 1
        for person in dict.fromkeys(page.people):
            people[person] += 1
    on_time = late = overdue = 0
    owed = 0
    for pm in postmortems:
        owed += 1
        naive = pm.due_at.tzinfo is None
        if pm.done_at is not None:
            if _minutes(pm.due_at, pm.done_at) == 0.0:  # done at or before due (negative clamps to 0)
                on_time += 1
            else:
                late += 1
        elif _same_kind(now, naive) > pm.due_at:
            overdue += 1
    ran: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for run in runs:
        if run.status in RAN:
            ran[run.playbook] += 1
            failed[run.playbook] += run.status in FAILED
    playbooks = [PlaybookFigure(name, count, failed[name])
                 for name, count in sorted(ran.items(), key=lambda item: (-item[1], item[0]))]
    return Figures(since=since, until=now, rows=rows, incidents_per_week=sorted(weeks.items()),
                   pages_per_week=sorted(page_weeks.items()),
                   pages_per_person=sorted(people.items(), key=lambda item: (-item[1], item[0])),
                   postmortems_owed=owed, postmortems_on_time=on_time, postmortems_late=late,
                   postmortems_overdue=overdue, playbooks=playbooks)


# -- plain text for people who script -----------------------------------------------------------------
def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


ROW_HEADER = ("month", "severity", "incidents", "target_min", "tta_median_min", "tta_p90_min", "within_target",
              "ttm_median_min", "ttr_median_min")


def row_cells(row: Row) -> tuple[str, ...]:
    return (row.month, f"SEV{row.severity}", str(row.incidents),
            _num(row.target_minutes, 0) if row.target_minutes is not None else "next business day",
            _num(row.tta_median), _num(row.tta_p90), _share(row.share_within), _num(row.ttm_median),
            _num(row.ttr_median))


def tables(figures: Figures) -> list[tuple[str, tuple[str, ...], list[tuple[str, ...]]]]:
    """Every figure as (title, header, rows): the Markdown and CSV reports and the web tables share it."""
    return [
        ("Response by severity and month", ROW_HEADER, [row_cells(r) for r in figures.rows]),
        ("Incidents per week", ("week", "incidents"), [(w, str(n)) for w, n in figures.incidents_per_week]),
        ("Pages per week", ("week", "pages"), [(w, str(n)) for w, n in figures.pages_per_week]),
        ("Pages per person", ("person", "pages"), [(p, str(n)) for p, n in figures.pages_per_person]),
        ("Postmortems within 48 h", ("owed", "on_time", "late", "overdue", "share_on_time"),
         [(str(figures.postmortems_owed), str(figures.postmortems_on_time), str(figures.postmortems_late),
           str(figures.postmortems_overdue), _share(figures.postmortems_share))]),
        ("Playbooks most run", ("playbook", "runs", "failed", "failure_rate"),
         [(p.playbook, str(p.runs), str(p.failed), _share(p.failure_rate)) for p in figures.playbooks]),
    ]


def markdown(figures: Figures) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    out = [f"# Fireline report: {figures.since:%Y-%m-%d} to {figures.until:%Y-%m-%d}", ""]
    for title, header, rows in tables(figures):
        out += [f"## {title}", ""]
        if not rows:
            out += ["None in this period.", ""]
            continue
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * len(header))
        out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
        out.append("")
    return "\n".join(out)


def csv_text(figures: Figures) -> str:
    """One CSV: a `table` column names which figure each line belongs to, so one file loads anywhere."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for title, header, rows in tables(figures):
        writer.writerow(["table", *header])
        for r in rows:
            # a cell a spreadsheet would run as a formula (a person's name from PagerDuty) is quoted as text
            writer.writerow([title, *("'" + c if c[:1] in ("=", "+", "@") else c for c in r)])
    return buffer.getvalue()
