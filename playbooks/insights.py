"""Response figures across incidents, computed once: what the web view, `fireline report` and CSV all show.

Pure: plain records in, plain figures out (no database, no Slack). `bot.features.insights.feature` reads the records
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
- pages: what PagerDuty was asked to send. A dry-run "page" (PagerDuty not configured) woke nobody, so it is
  not a page; the figures count them apart (`dry_run_pages`) so a team trying Fireline sees why pages are 0.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

RAN = ("succeeded", "failed", "stopped", "interrupted")
FAILED = ("failed", "interrupted")


class IncidentSpan(NamedTuple):
    """One incident as the figures need it: its UTC day and its durations in minutes, measured by the reader.

    The database measures them (bot.features.insights.feature asks SQLite's julianday / PostgreSQL's epoch), because
    turning 40,000 stored timestamps into datetimes was half of a cold insights page with 10,000
    incidents (bench/web_pages.py, a year: p50 95 ms, p99 134 ms on SQLite; now 65 and 75 ms);
    `measure` is the same definition in Python.
    A NamedTuple, not a frozen dataclass: built 10,000 times a page, its constructor is 4x cheaper.
    """

    id: int
    severity: int
    day: str  # 2026-11-25, UTC
    tta: float | None  # declared -> acknowledged, minutes
    ttm: float | None  # declared -> mitigated
    ttr: float | None  # declared -> resolved
    age: float  # declared -> now


class PageDay(NamedTuple):
    day: str  # the UTC day the page went out
    people: tuple[str, ...] = ()


class PostmortemOutcome(NamedTuple):
    done: bool
    late: bool  # done after due_at; or, not done, due_at has passed (overdue)


@dataclass(frozen=True)
class IncidentTimes:
    """An incident's timestamps, for `measure` (tests, and anything that holds incidents in memory)."""

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
    dry_run_pages: int = 0  # left out of every page figure: nobody was paged

    @property
    def postmortems_share(self) -> float | None:
        judged = self.postmortems_on_time + self.postmortems_late + self.postmortems_overdue
        return self.postmortems_on_time / judged if judged else None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _minutes(start: datetime, end: datetime | None) -> float | None:
    """Minutes from start to end, at least 0 (clocks); None when end is."""
    return None if end is None else max(0.0, (_utc(end) - _utc(start)).total_seconds() / 60)


def measure(incident: IncidentTimes, now: datetime) -> IncidentSpan:
    """The definitions of the durations, in Python: what bot.features.insights.feature' SQL computes in the database."""
    start = incident.declared_at
    return IncidentSpan(incident.id, incident.severity, f"{_utc(start):%Y-%m-%d}",
                        _minutes(start, incident.acknowledged_at), _minutes(start, incident.mitigated_at),
                        _minutes(start, incident.resolved_at), _minutes(start, now) or 0.0)


def page_day(page: PageRecord) -> PageDay:
    return PageDay(f"{_utc(page.paged_at):%Y-%m-%d}", page.people)


def outcome(postmortem: PostmortemRecord, now: datetime) -> PostmortemOutcome:
    due = _utc(postmortem.due_at)
    if postmortem.done_at is not None:
        return PostmortemOutcome(True, _utc(postmortem.done_at) > due)
    return PostmortemOutcome(False, _utc(now) > due)


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


def week_of(day: str) -> str:
    """ISO week of a UTC day (2026-11-25 -> 2026-W48)."""
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class Group:
    """One severity in one month, before the figures: durations in minutes (any order), ages of the unacknowledged."""

    count: int = 0
    ttas: list[float] = field(default_factory=list)
    ttms: list[float] = field(default_factory=list)
    ttrs: list[float] = field(default_factory=list)
    open_ages: list[float] = field(default_factory=list)  # declared -> now, of those not acknowledged


class Stale(Exception):
    """Taking records out of a Tally that does not hold them: the two were read from different states."""


@dataclass
class Tally:
    """What the figures are made of, additive: one day's records or a year's sum the same way.

    `compute` tallies records one by one; bot.features.insights.rollup adds up stored days (a year: 365 rows,
    whatever the number of incidents) and takes out a reader's hidden incidents with `remove`. Both end in
    `figures`, so the two paths share every definition below the tally. The durations are kept whole (exact
    percentiles, not a histogram): a year of 10,000 incidents is 30,000 floats to sort, 2-3 ms.
    """

    groups: dict[tuple[str, int], Group] = field(default_factory=dict)
    days: Counter[str] = field(default_factory=Counter)  # incidents declared per UTC day
    page_days: Counter[str] = field(default_factory=Counter)
    people: Counter[str] = field(default_factory=Counter)
    dry_run_pages: int = 0
    owed: int = 0
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    ran: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)

    def group(self, month: str, severity: int) -> Group:
        found = self.groups.get((month, severity))
        if found is None:
            found = self.groups[(month, severity)] = Group()
        return found

    def remove(self, other: Tally) -> None:
        """Take `other`'s records out (a reader's hidden incidents); Stale if they were not all in."""
        for key, gone in other.groups.items():
            group = self.groups.get(key)
            if group is None or group.count < gone.count:
                raise Stale(key)
            group.count -= gone.count
            for name in ("ttas", "ttms", "ttrs", "open_ages"):
                if getattr(gone, name):
                    setattr(group, name, _without(getattr(group, name), getattr(gone, name)))
            if not group.count:
                del self.groups[key]
        for mine, theirs in ((self.days, other.days), (self.page_days, other.page_days),
                             (self.people, other.people), (self.ran, other.ran), (self.failed, other.failed)):
            for key, count in theirs.items():
                if mine[key] < count:
                    raise Stale(key)
                mine[key] -= count
                if not mine[key]:
                    del mine[key]
        for name in ("dry_run_pages", "owed", "on_time", "late", "overdue"):
            left = getattr(self, name) - getattr(other, name)
            if left < 0:
                raise Stale(name)
            setattr(self, name, left)


def _without(values: list[float], gone: list[float]) -> list[float]:
    left = Counter(gone)
    kept = []
    for value in values:
        if left[value] > 0:
            left[value] -= 1
        else:
            kept.append(value)
    if +left:
        raise Stale("a value not in the tally")
    return kept


def tally(incidents: Iterable[IncidentSpan], pages: Iterable[PageDay], postmortems: Iterable[PostmortemOutcome],
          runs: Iterable[RunRecord], dry_run_pages: int = 0, into: Tally | None = None) -> Tally:
    """Records -> a Tally (added to `into` when given). `pages` are real pages only; dry runs are counted apart."""
    found = Tally() if into is None else into
    for incident in incidents:
        group = found.group(incident.day[:7], incident.severity)
        group.count += 1
        if incident.tta is None:
            group.open_ages.append(incident.age)
        else:
            group.ttas.append(incident.tta)
        if incident.ttm is not None:
            group.ttms.append(incident.ttm)
        if incident.ttr is not None:
            group.ttrs.append(incident.ttr)
        found.days[incident.day] += 1
    for page in pages:
        found.page_days[page.day] += 1
        for person in dict.fromkeys(page.people):
            found.people[person] += 1
    for pm in postmortems:
        found.owed += 1
        if pm.done:
            found.late += pm.late
            found.on_time += not pm.late
        else:
            found.overdue += pm.late
    for run in runs:
        if run.status in RAN:
            found.ran[run.playbook] += 1
            found.failed[run.playbook] += run.status in FAILED
    found.dry_run_pages += dry_run_pages
    return found


def compute(incidents: Iterable[IncidentSpan], pages: Iterable[PageDay], postmortems: Iterable[PostmortemOutcome],
            runs: Iterable[RunRecord], targets: Mapping[int, timedelta | None], since: datetime,
            now: datetime, dry_run_pages: int = 0) -> Figures:
    """Every figure in one pass per record kind, from durations already measured (no datetime per row).
    `pages` are real pages only; the reader counts dry-runs apart and passes `dry_run_pages` through."""
    return figures(tally(incidents, pages, postmortems, runs, dry_run_pages), targets, since, now)


def figures(found: Tally, targets: Mapping[int, timedelta | None], since: datetime, now: datetime) -> Figures:
    """A Tally's figures: medians and the p90 over the exact durations, shares against the SEV targets."""
    rows = []
    for (month, level), group in sorted(found.groups.items()):
        target = targets.get(level)
        ttas = sorted(group.ttas)
        within = judged = 0
        limit = None
        if target is not None:
            limit = target.total_seconds() / 60
            judged = len(ttas) + sum(1 for age in group.open_ages if age > limit)
            within = bisect.bisect_right(ttas, limit)
        rows.append(Row(month=month, severity=level, incidents=group.count, target_minutes=limit,
                        tta_median=median(ttas), tta_p90=percentile(ttas, 90), within=within, judged=judged,
                        ttm_median=median(group.ttms), ttr_median=median(group.ttrs)))
    playbooks = [PlaybookFigure(name, count, found.failed[name])
                 for name, count in sorted(found.ran.items(), key=lambda item: (-item[1], item[0]))]
    return Figures(since=_utc(since), until=_utc(now), rows=rows, incidents_per_week=_weekly(found.days),
                   pages_per_week=_weekly(found.page_days),
                   pages_per_person=sorted(found.people.items(), key=lambda item: (-item[1], item[0])),
                   postmortems_owed=found.owed, postmortems_on_time=found.on_time, postmortems_late=found.late,
                   postmortems_overdue=found.overdue, playbooks=playbooks, dry_run_pages=found.dry_run_pages)


def _weekly(days: Counter[str]) -> list[tuple[str, int]]:
    """Counts per UTC day -> per ISO week (isocalendar once per day, not per incident)."""
    weeks: Counter[str] = Counter()
    for day, count in days.items():
        weeks[week_of(day)] += count
    return sorted(weeks.items())


def compute_times(incidents: Iterable[IncidentTimes], pages: Iterable[PageRecord],
                  postmortems: Iterable[PostmortemRecord], runs: Iterable[RunRecord],
                  targets: Mapping[int, timedelta | None], since: datetime, now: datetime) -> Figures:
    """`compute` from timestamps, measured in Python: the reference the database's measurements are checked against."""
    return compute([measure(i, now) for i in incidents], [page_day(p) for p in pages],
                   [outcome(p, now) for p in postmortems], runs, targets, since, now)


# -- plain text for people who script -----------------------------------------------------------------
def number(value: float | None, digits: int = 1) -> str:
    """A figure as every table shows it (one decimal); the web charts label their bars with it too."""
    return "" if value is None else f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


ROW_HEADER = ("month", "severity", "incidents", "target_min", "tta_median_min", "tta_p90_min", "within_target",
              "ttm_median_min", "ttr_median_min")


def row_cells(row: Row) -> tuple[str, ...]:
    return (row.month, f"SEV{row.severity}", str(row.incidents),
            number(row.target_minutes, 0) if row.target_minutes is not None else "next business day",
            number(row.tta_median), number(row.tta_p90), _share(row.share_within), number(row.ttm_median),
            number(row.ttr_median))


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


@dataclass(frozen=True)
class PrivateScope:
    """Whether a report counts private incidents, and how many there were in its period."""

    included: bool
    count: int

    def sentence(self) -> str:
        n = f"{self.count} private incident{'' if self.count == 1 else 's'}"
        if self.included:
            return f"Private incidents: included ({n} in this period counted)."
        return (f"Private incidents: excluded ({n} in this period left out, as the insights page leaves them out for "
                "non-members; `--include-private` counts them).")


def markdown(figures: Figures, private: PrivateScope | None = None) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    out = [f"# Fireline report: {figures.since:%Y-%m-%d} to {figures.until:%Y-%m-%d}", ""]
    if private is not None:
        out += [private.sentence(), ""]
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


def csv_text(figures: Figures, private: PrivateScope | None = None) -> str:
    """One CSV: a `table` column names which figure each line belongs to, so one file loads anywhere.
    `private` adds a first table, `Private incidents`, saying whether they are counted and how many there were."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if private is not None:
        writer.writerow(["table", "private_incidents", "in_period"])
        writer.writerow(["Private incidents", "included" if private.included else "excluded", str(private.count)])
    for title, header, rows in tables(figures):
        writer.writerow(["table", *header])
        for r in rows:
            # a cell a spreadsheet would run as a formula (a person's name from PagerDuty) is quoted as text
            writer.writerow([title, *("'" + c if c[:1] in ("=", "+", "@") else c for c in r)])
    return buffer.getvalue()
