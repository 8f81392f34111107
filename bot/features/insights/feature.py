"""Response figures across incidents: read with indexed queries, computed by playbooks.insights.

The same `figures(container, since)` feeds the web view's insights page and `fireline report`, so
the numbers a person sees and the numbers a script reads cannot drift. Each query reads only the
columns it needs over a `declared_at`/`paged_at`/`proposed_at`/`due_at` range (indexes from migration
0011_web_sessions), so a quarter of 10,000 incidents is one range scan per table (bench/web_pages.py).
The database measures each duration and UTC day itself and hands back floats and short strings: with
10,000 incidents over a year, building 40,000 datetimes and subtracting them in Python was half of
the page (p99 134 ms on SQLite, 155 ms on PostgreSQL; now 75 and 80 ms, bench/web_pages.py, same
machine). tests/features/insights/test_insights.py checks the database's measurements against `playbooks.insights.measure`.

Since migration 0013_insight_days a page reads per-day figures instead (bot.features.insights.rollup): a year
is at most 365 stored days whatever the history, and a change recomputes only the days it touched. The
computation over every row above is kept as `compute_in_full`, the reference tests/features/insights/test_rollup.py
compares the stored days with over random histories on both databases.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime, timedelta

from sqlalchemy import DateTime, case, literal, select

from bot.core.clock import as_utc
from bot.core.registry import Registry
from bot.core.container import Container, Mode, Part, open_container
from bot.features.insights import rollup
from bot.features.pagerduty.config import DRY_RUN
from bot.store.models import Incident, PagerDutyLink, PlaybookExecution, Postmortem
from bot.core.settings import Settings
from bot.service.reads import Visible
from playbooks import insights as pure
from playbooks.severity import SEVERITIES

_SPAN = re.compile(r"^([0-9]{1,4})([dw])$")  # ASCII digits only (the one digits rule, bot.core.text)
MAX_DAYS = 3660


def parse_since(text: str) -> timedelta:
    """`90d`, `12w` -> a timedelta; anything else a ValueError that says what to write."""
    match = _SPAN.match((text or "").strip().lower())
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"expected a period such as 90d or 12w (not {text[:20]!r})")
    days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
    if days > MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} days (10 years)")
    return timedelta(days=days)


FRESH_SECONDS = 60.0  # the insights page's figures may be a minute old; `fireline report` always computes
# The page's figures: (since day, readers' scope) -> (fresh until, figures).
FIGURES: Part[dict[tuple, tuple]] = Part("insights.figures", lambda container: {})


def figures(container: Container, since: datetime, *, visible=None, cached: bool = False) -> pure.Figures:
    """Every figure from `since` to now. `visible`: the incidents a reader may see (bot.service.reads.Visible; None: all).

    `cached` (the web page): the same period and scope within FRESH_SECONDS answers from memory. With
    10,000 incidents, a year's page computed afresh takes 65 ms at p50 (bench/web_pages.py) and a cached
    one 3 ms; a team refreshing the page during a review pays the 65 once a minute.
    """
    key = (since.replace(second=0, microsecond=0), None if visible is None else visible.hidden)
    cache = container.parts.get(FIGURES)
    if cached:
        hit = cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
    found = _compute(container, since, visible)
    if cached:
        if len(cache) > 64:  # a handful of periods and scopes; never grows without bound
            cache.clear()
        cache[key] = (time.monotonic() + FRESH_SECONDS, found)
    return found


def _compute(container: Container, since: datetime, visible) -> pure.Figures:
    """From the stored days (bot.features.insights.rollup): a year is 365 rows, whatever the history."""
    now = container.clock()
    targets = {level: container.settings.sev_response(level) for level in SEVERITIES}
    try:
        found = rollup.period(container.engine, since, now, frozenset() if visible is None else visible.hidden)
    except pure.Stale:  # a change landed between the two reads: this once, compute in full
        return compute_in_full(container, since, visible)
    return pure.figures(found, targets, since, now)


def compute_in_full(container: Container, since: datetime, visible) -> pure.Figures:
    """Every figure from every row in the period: the reference the stored days are checked against
    (tests/features/insights/test_rollup.py), and the answer when the two reads of `_compute` disagree."""
    now = container.clock()
    dialect = container.engine.dialect.name
    at_now = literal(now, DateTime(timezone=True))
    targets = {level: container.settings.sev_response(level) for level in SEVERITIES}
    incidents, links = Incident.__table__.c, PagerDutyLink.__table__.c
    postmortems, runs = Postmortem.__table__.c, PlaybookExecution.__table__.c
    declared = incidents.declared_at
    day, minutes = rollup.utc_day, rollup.minutes  # the stored days measure with the same two
    # Core selects on the tables (no ORM rows, no datetime per row): a range scan each on the 0011 indexes.
    with container.engine.connect() as connection:
        incident_rows = connection.execute(
            select(incidents.id, incidents.severity, day(dialect, declared),
                   minutes(dialect, declared, incidents.acknowledged_at),
                   minutes(dialect, declared, incidents.mitigated_at),
                   minutes(dialect, declared, incidents.resolved_at), minutes(dialect, declared, at_now))
            .where(declared >= since)).all()
        page_rows = connection.execute(select(links.incident_id, day(dialect, links.paged_at), links.assignees,
                                              links.mode == DRY_RUN)
                                       .where(links.paged_at >= since)).all()
        postmortem_rows = connection.execute(
            select(postmortems.incident_id, postmortems.done_at.is_not(None),
                   case((postmortems.done_at.is_not(None), postmortems.done_at > postmortems.due_at),
                        else_=postmortems.due_at < at_now))
            .where(postmortems.due_at >= since)).all()
        run_rows = connection.execute(select(runs.incident_id, runs.playbook, runs.status)
                                      .where(runs.proposed_at >= since)).all()

    if visible is not None:  # a reader who may not see every incident: drop the rows of the hidden ones
        def keep(rows):  # each query's first column is the incident id
            return [row for row in rows if row[0] is None or row[0] in visible]
        incident_rows, page_rows, postmortem_rows, run_rows = (
            keep(incident_rows), keep(page_rows), keep(postmortem_rows), keep(run_rows))
    return pure.compute(
        incidents=[pure.IncidentSpan._make(row) for row in incident_rows],
        pages=[pure.PageDay(day, tuple(people or ())) for _, day, people, dry in page_rows if not dry],
        postmortems=[pure.PostmortemOutcome(bool(done), bool(late)) for _, done, late in postmortem_rows],
        runs=[pure.RunRecord(playbook, status) for _, playbook, status in run_rows],
        targets=targets, since=since, now=now, dry_run_pages=sum(1 for row in page_rows if row[3]))


# -- `fireline report` --------------------------------------------------------------------------------
def register(registry: Registry) -> None:
    registry.cli("report", "response figures against the SEV targets: `fireline report --since 90d --format csv`",
                 _args)(cmd_report)


def _args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", default="90d", help="how far back: 90d (days) or 12w (weeks); default 90d")
    parser.add_argument("--format", choices=("markdown", "csv"), default="markdown",
                        help="markdown for people (default), csv for scripts")
    parser.add_argument("--include-private", action="store_true",
                        help="count private incidents too (default: left out, as the insights page leaves them out "
                             "for anyone who is not a member); the report says which, and how many")


def private_scope(container: Container, since: datetime, include: bool):
    """(the Visible that leaves every private incident out, or None to count them; the PrivateScope to print).

    A report is read by people who are not members of every private incident, so by default it counts
    what the insights page shows a non-member; every private incident is hidden (its pages, postmortem and
    runs with it), and the count says how many of them were declared in the period."""
    with container.engine.connect() as connection:
        rows = connection.execute(select(Incident.__table__.c.id, Incident.__table__.c.declared_at)
                                  .where(Incident.__table__.c.private.is_(True))).all()
    in_period = sum(1 for _, declared in rows if declared is not None and as_utc(declared) >= as_utc(since))
    scope = pure.PrivateScope(include, in_period)
    return (None if include else Visible(frozenset(number for number, _ in rows))), scope


def cmd_report(settings: Settings, args: argparse.Namespace, registry: Registry) -> int:
    try:
        span = parse_since(args.since)
    except ValueError as exc:
        print(f"fireline report: --since: {exc}", file=sys.stderr)
        return 2
    container = open_container(settings, registry, mode=Mode.CLI)
    try:
        since = container.clock() - span
        visible, scope = private_scope(container, since, args.include_private)
        found = figures(container, since, visible=visible)
    finally:
        container.engine.dispose()
    sys.stdout.write(pure.csv_text(found, scope) if args.format == "csv" else pure.markdown(found, scope))
    return 0
