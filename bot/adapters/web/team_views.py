"""What the team pages read: incidents by filter, one incident with everything about it, postmortems.

Read for the signed-in reader through bot/service/reads.py, which leaves out the private incidents they
are not a member of (plain reads with a LIMIT over indexed columns: declared_at, status, incident_id;
migration 0011_web_sessions); shaped here into plain values the templates show as they are. People are names here
(`bot.core.chat.person`), never Slack ids. The Markdown of a postmortem is rendered by markdown-it-py with
raw HTML off (it is escaped, so a `<script>` in a pasted log line is text) and its link check on
(`javascript:` and `data:` links are dropped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup

from bot.core.chat import person
from bot.core.clock import as_utc
from bot.core.container import Container
from bot.service import reads
from bot.service.reads import STATES, Viewer
from bot.store.db import session_scope
from playbooks.framework import read_steps
from bot.adapters.slack.slack_chat import SlackChat, slack_client

PAGE_SIZE = 50
TIMELINE_LIMIT = 2000
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def render_markdown(text: str) -> Markup:
    return Markup(_MARKDOWN.render(text or ""))


def namer(container: Container) -> Callable[[str | None], str]:
    """Slack ids to names through the shared users.info cache (bot/adapters/slack/people.py); ids only if Slack is silent."""
    chat = None
    if container.settings.slack_bot_token is not None:
        chat = SlackChat(slack_client(container))
    known: dict[str | None, str] = {}

    def name(user_id: str | None) -> str:
        if user_id not in known:
            known[user_id] = person(chat, user_id)
        return known[user_id]

    return name


@dataclass
class Filters:
    state: str = ""  # "", "open" or one of STATES
    severity: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    lead: str = ""  # a Slack user id (the "mine" choice passes the reader's)
    text: str = ""
    before: int | None = None  # paging: incidents numbered below this
    problems: list[str] = field(default_factory=list)


def parse_filters(query: dict[str, str], reader_id: str) -> Filters:
    """The list's query string, each bad value ignored with a sentence saying what to write instead."""
    found = Filters()
    state = (query.get("state") or "").strip().lower()
    if state in ("open", *STATES):
        found.state = state
    elif state:
        found.problems.append(f"State is one of: open, {', '.join(STATES)}.")
    sev = (query.get("severity") or "").strip().upper().removeprefix("SEV")
    if sev in ("1", "2", "3", "4"):
        found.severity = int(sev)
    elif sev:
        found.problems.append("Severity is 1 to 4 (SEV1 to SEV4).")
    for key in ("since", "until"):
        value = (query.get(key) or "").strip()
        if not value:
            continue
        try:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=as_utc(datetime(2000, 1, 1)).tzinfo)
        except ValueError:
            found.problems.append(f"Dates are written 2026-11-25 (not {value[:12]!r}).")
            continue
        setattr(found, key, day if key == "since" else day + timedelta(days=1))
    lead = (query.get("lead") or "").strip()
    found.lead = reader_id if lead == "me" else ""
    found.text = " ".join((query.get("q") or "").split())[:100]
    before = (query.get("before") or "").strip()
    if before.isascii() and before.isdigit() and len(before) < 10:
        found.before = int(before)
    return found


def incident_list(container: Container, filters: Filters, viewer: Viewer) -> tuple[list[dict], int | None]:
    """One page of the incidents `viewer` may see, newest first, and the number to continue before (None: the
    last page)."""
    with session_scope(container.engine) as session:
        rows = reads.incidents_for(session, viewer, limit=PAGE_SIZE + 1, state=filters.state,
                                   severity=filters.severity, since=filters.since, until=filters.until,
                                   lead=filters.lead, text=filters.text, before=filters.before)
    name = namer(container)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    items = [{"id": r.id, "title": r.title, "severity": r.severity, "status": r.status, "lead": name(r.lead_id)
              if r.lead_id else "", "declared_at": as_utc(r.declared_at),
              "acknowledged_at": as_utc(r.acknowledged_at) if r.acknowledged_at else None,
              "resolved_at": as_utc(r.resolved_at) if r.resolved_at else None} for r in rows]
    return items, (rows[-1].id if more and rows else None)


def _minutes(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    minutes = (as_utc(end) - as_utc(start)).total_seconds() / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def incident_page(container: Container, number: int, viewer: Viewer) -> dict[str, Any] | None:
    """Everything the incident page shows; None when there is no incident `number` that `viewer` may see."""
    name = namer(container)
    with session_scope(container.engine) as session:
        record = reads.incident_record(session, viewer, number, timeline_limit=TIMELINE_LIMIT)
    if record is None:
        return None
    incident, events, runs, page = record.incident, record.events, record.runs, record.page
    public, followups, postmortem = record.public, record.followups, record.postmortem
    target = container.settings.sev_response(incident.severity)
    timeline = []
    for event in events:
        data = event.data or {}
        timeline.append({"at": as_utc(event.at), "kind": event.kind.replace("_", " "), "who": name(event.actor),
                         "text": event.text, "steps": read_steps(data.get("steps")),
                         "request_ids": [str(r) for r in data.get("request_ids") or []][:50]})
    playbooks = []
    for run in runs:
        steps = []
        for result in run.results or []:
            calls = [c.get("request_id") for c in result.get("calls", [])
                     if isinstance(c, dict) and c.get("request_id")]
            steps.append({"title": result.get("title") or result.get("step") or "", "status": result.get("status", ""),
                          "summary": result.get("summary", ""), "request_ids": calls})
        playbooks.append({"id": run.id, "playbook": run.playbook, "status": run.status, "dry_run": run.dry_run,
                          "proposed_by": name(run.proposed_by), "confirmed_by": name(run.confirmed_by)
                          if run.confirmed_by else "", "outcome": run.outcome or "", "steps": steps})
    return {
        "incident": incident, "lead": name(incident.lead_id) if incident.lead_id else "nobody yet",
        "declared_by": name(incident.declared_by), "acknowledged_by": name(incident.acknowledged_by)
        if incident.acknowledged_by else "",
        "target": f"{target.total_seconds() / 60:.0f} min" if target else "next business day",
        "tta": _minutes(incident.declared_at, incident.acknowledged_at),
        "ttm": _minutes(incident.declared_at, incident.mitigated_at),
        "ttr": _minutes(incident.declared_at, incident.resolved_at),
        "timeline": timeline, "truncated": len(events) >= TIMELINE_LIMIT, "playbooks": playbooks,
        "page": {"status": page.status, "paged_at": as_utc(page.paged_at), "assignees": page.assignees,
                 "mode": page.mode, "url": page.html_url if (page.html_url or "").startswith("https://") else None}
        if page else None,
        "public": [{"at": as_utc(u.published_at), "stage": u.stage, "title": u.title, "body": u.body,
                    "by": name(u.published_by)} for u in public],
        "followups": [{"text": f.text, "owner": name(f.owner) if f.owner else "nobody yet", "status": f.status}
                      for f in followups],
        "postmortem": postmortem, "postmortem_html": render_markdown(postmortem.markdown) if postmortem else None,
    }


def postmortem_list(container: Container, now: datetime, viewer: Viewer) -> list[dict]:
    with session_scope(container.engine) as session:
        rows = reads.postmortems_for(session, viewer, limit=200)
    name = namer(container)
    items = []
    for r in rows:
        due = as_utc(r.due_at) if r.due_at else None
        done = as_utc(r.done_at) if r.done_at else None
        if done is not None:
            state = "done on time" if due is None or done <= due else "done late"
        elif due is None:
            state = "draft only"
        else:
            state = "overdue" if now > due else "due"
        items.append({"id": r.incident_id, "title": r.title, "severity": r.severity, "lead": name(r.lead_id)
                      if r.lead_id else "nobody", "due_at": due, "done_at": done, "state": state,
                      "link": r.done_link if (r.done_link or "").startswith(("https://", "http://")) else None})
    order = {"overdue": 0, "due": 1}
    return sorted(items, key=lambda item: (order.get(item["state"], 2), -item["id"]))
