"""Response figures across incidents (issue 20): read with indexed queries, computed by playbooks.insights.

The same `figures(container, since)` feeds the web view's insights page and `fireline report`, so
the numbers a person sees and the numbers a script reads cannot drift. Each query reads only the
columns it needs over a `declared_at`/`paged_at`/`proposed_at`/`due_at` range (indexes from migration
0011_web_sessions), so a quarter of 10,000 incidents is one range scan per table (bench/web_pages.py).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.commands.registry import Registry
from bot.container import Container, Mode, open_container
from bot.models import Incident, PagerDutyLink, PlaybookExecution, Postmortem
from bot.settings import Settings
from playbooks import insights as pure
from playbooks.severity import SEVERITIES

_SPAN = re.compile(r"^([0-9]{1,4})([dw])$")  # ASCII digits only (the one digits rule, bot.text)
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


def figures(container: Container, since: datetime, *, visible=None, cached: bool = False) -> pure.Figures:
    """Every figure from `since` to now. `visible`: the incidents a reader may see (bot.web.auth.Visible; None: all).

    `cached` (the web page): the same period and scope within FRESH_SECONDS answers from memory. With
    10,000 incidents, computing a year's figures took 60-130 ms on a shared 2-core machine (bench/web_pages.py),
    most of it reading and walking 10,000 rows; a team refreshing the page during a review pays it once a minute.
    """
    key = (since.replace(second=0, microsecond=0), None if visible is None else visible.hidden)
    if cached:
        hit = container.caches.insights.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
    found = _compute(container, since, visible)
    if cached:
        if len(container.caches.insights) > 64:  # a handful of periods and scopes; never grows without bound
            container.caches.insights.clear()
        container.caches.insights[key] = (time.monotonic() + FRESH_SECONDS, found)
    return found


def _compute(container: Container, since: datetime, visible) -> pure.Figures:
    now = container.clock()
    targets = {level: container.settings.sev_response(level) for level in SEVERITIES}
    incidents, links = Incident.__table__.c, PagerDutyLink.__table__.c
    postmortems, runs = Postmortem.__table__.c, PlaybookExecution.__table__.c
    # Core selects on the tables (no ORM row loading): a range scan each on the 0011_web_sessions indexes.
    with container.engine.connect() as connection:
        incident_rows = connection.execute(
            select(incidents.id, incidents.severity, incidents.declared_at, incidents.acknowledged_at,
                   incidents.mitigated_at, incidents.resolved_at).where(incidents.declared_at >= since)).all()
        page_rows = connection.execute(select(links.incident_id, links.paged_at, links.assignees)
                                       .where(links.paged_at >= since)).all()
        postmortem_rows = connection.execute(select(postmortems.incident_id, postmortems.due_at, postmortems.done_at)
                                             .where(postmortems.due_at >= since)).all()
        run_rows = connection.execute(select(runs.incident_id, runs.playbook, runs.status)
                                      .where(runs.proposed_at >= since)).all()

    def shown(incident_id) -> bool:
        return visible is None or incident_id is None or incident_id in visible

    return pure.compute(
        incidents=[pure.IncidentTimes(*row) for row in incident_rows if shown(row[0])],
        pages=[pure.PageRecord(r.paged_at, tuple(r.assignees or ())) for r in page_rows if shown(r.incident_id)],
        postmortems=[pure.PostmortemRecord(r.due_at, r.done_at) for r in postmortem_rows if shown(r.incident_id)],
        runs=[pure.RunRecord(r.playbook, r.status) for r in run_rows if shown(r.incident_id)],
        targets=targets, since=since, now=now)


# -- `fireline report` --------------------------------------------------------------------------------
def register(registry: Registry) -> None:
    registry.cli("report", "response figures against the SEV targets: `fireline report --since 90d --format csv`",
                 _args)(cmd_report)


def _args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", default="90d", help="how far back: 90d (days) or 12w (weeks); default 90d")
    parser.add_argument("--format", choices=("markdown", "csv"), default="markdown",
                        help="markdown for people (default), csv for scripts")


def cmd_report(settings: Settings, args: argparse.Namespace, registry: Registry) -> int:
    try:
        span = parse_since(args.since)
    except ValueError as exc:
        print(f"fireline report: --since: {exc}", file=sys.stderr)
        return 2
    container = open_container(settings, registry, mode=Mode.CLI)
    try:
        found = figures(container, container.clock() - span)
    finally:
        container.engine.dispose()
    sys.stdout.write(pure.csv_text(found) if args.format == "csv" else pure.markdown(found))
    return 0
