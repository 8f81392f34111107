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
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.commands.registry import Registry
from bot.container import Container, Mode, open_container
from bot.db import session_scope
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


def figures(container: Container, since: datetime, *, visible=None) -> pure.Figures:
    """Every figure from `since` to now. `visible`: incident ids a reader may see (None: all)."""
    now = container.clock()
    targets = {level: container.settings.sev_response(level) for level in SEVERITIES}
    with session_scope(container.engine) as session:
        incident_rows = session.execute(
            select(Incident.id, Incident.severity, Incident.declared_at, Incident.acknowledged_at,
                   Incident.mitigated_at, Incident.resolved_at).where(Incident.declared_at >= since)).all()
        page_rows = session.execute(select(PagerDutyLink.incident_id, PagerDutyLink.paged_at, PagerDutyLink.assignees)
                                    .where(PagerDutyLink.paged_at >= since)).all()
        postmortem_rows = session.execute(select(Postmortem.incident_id, Postmortem.due_at, Postmortem.done_at)
                                          .where(Postmortem.due_at >= since)).all()
        run_rows = session.execute(select(PlaybookExecution.incident_id, PlaybookExecution.playbook,
                                          PlaybookExecution.status)
                                   .where(PlaybookExecution.proposed_at >= since)).all()

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
