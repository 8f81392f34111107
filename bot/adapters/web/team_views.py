"""What the team pages read: incidents by filter, one incident with everything about it, postmortems.

Read for the signed-in reader through bot/service/reads.py, which leaves out the private incidents they
are not a member of (plain reads with a LIMIT over indexed columns: declared_at, status, incident_id;
migration 0011_web_sessions); shaped here into plain values the templates show as they are. People are names here
(`bot.core.chat.person`), never Slack ids. The Markdown of a postmortem is rendered by markdown-it-py with
raw HTML off (it is escaped, so a `<script>` in a pasted log line is text), its link check on
(`javascript:` and `data:` links are dropped) and its table rule on: the draft's summary, Impact, Timeline and
"Response against the SEV targets" are GFM tables, which CommonMark alone leaves as `| --- |` text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from bot.core.chat import person
from bot.core.clock import as_utc
from bot.core.container import Container
from bot.service import reads
from bot.service.reads import STATES, Viewer
from bot.store.db import session_scope
from bot.features.workflows import loading as workflows_loading
from playbooks.framework import read_steps
from playbooks.workflows import step_line
from bot.adapters.slack.slack_chat import SlackChat, slack_client

PAGE_SIZE = 50
OPEN_LIMIT = 200  # open incidents shown at the top; a team with more has bigger problems than this list
TIMELINE_LIMIT = 2000
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\""


def render_markdown(text: str) -> Markup:
    return Markup(_MARKDOWN.render(text or ""))


def _url_end(url: str) -> str:
    """A URL as a person meant it in a sentence: without the full stop after it or the `)` closing a bracket
    opened before it (`(see https://x/y)`, `[runbook](https://x/y)`), keeping a `)` the URL itself opened."""
    while url:
        if url[-1] in _TRAILING:
            url = url[:-1]
        elif url[-1] == ")" and url.count(")") > url.count("("):
            url = url[:-1]
        else:
            return url
    return url


def linkify(text: str | None) -> Markup:
    """Plain text (a note, an update) escaped, its http(s) URLs made links; nothing else becomes a link, so a
    `javascript:` pasted into a note stays text. `rel="noopener"`: the page opened cannot reach back into ours."""
    text = text or ""
    parts: list[Markup] = []
    last = 0
    for match in _URL.finditer(text):
        url = _url_end(match.group(0))
        if match.start() < last or not urlsplit(url).netloc:
            continue
        parts.append(escape(text[last:match.start()]))
        parts.append(Markup('<a href="{0}" rel="noopener">{0}</a>').format(url))
        last = match.start() + len(url)
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


# What an event says when its text alone would not (a note's text is only what was typed); the rest of the
# kinds are recorded with a sentence that already starts with what happened ("Acknowledged after 6m").
_SAID = {"update": "Update", "note": "Note", "pinned": "Pinned message", "message": "Message",
         "timeline": "Added to the timeline"}


def event_words(kind: str, text: str, data: dict[str, Any]) -> tuple[str, str]:
    """An event as a person says it: (a short lead-in or "", the sentence); never the raw kind."""
    if kind == "status_changed" and data.get("from") and data.get("to"):
        return "", f"State changed from {data['from']} to {data['to']}"
    if kind in _SAID:
        return _SAID[kind], text
    if text:
        return "", text
    return "", kind.replace("_", " ").capitalize()


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


def _list_rows(session, filters: Filters, viewer: Viewer, *, state: str, limit: int, before: int | None) -> list[Any]:
    return reads.incidents_for(session, viewer, limit=limit, state=state, severity=filters.severity,
                               since=filters.since, until=filters.until, lead=filters.lead, text=filters.text,
                               before=before)


def incident_list(container: Container, filters: Filters,
                  viewer: Viewer) -> tuple[list[dict], list[dict], int | None]:
    """The list as the reader takes it in: (the open incidents matching the filters, most severe first; one
    page of the other incidents, newest first; the number to continue before, None on the last page).

    The open ones are read on their own (up to OPEN_LIMIT, on the first page only) so an open SEV1 older than
    the fifty newest is still at the top, not on page two among the resolved."""
    open_state = filters.state if filters.state in ("open", *reads.OPEN_STATES) else ("open" if not filters.state
                                                                                      else None)
    opened = []
    with session_scope(container.engine) as session:
        if open_state and filters.before is None:
            opened = _list_rows(session, filters, viewer, state=open_state, limit=OPEN_LIMIT, before=None)
        rows = _list_rows(session, filters, viewer, state=filters.state, limit=PAGE_SIZE + 1, before=filters.before)
    name = namer(container)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]

    def item(r) -> dict:
        return {"id": r.id, "title": r.title, "severity": r.severity, "status": r.status, "lead": name(r.lead_id)
                if r.lead_id else "", "declared_at": as_utc(r.declared_at),
                "acknowledged_at": as_utc(r.acknowledged_at) if r.acknowledged_at else None,
                "resolved_at": as_utc(r.resolved_at) if r.resolved_at else None,
                "open": r.status in reads.OPEN_STATES}

    open_items = sorted((item(r) for r in opened), key=lambda i: (i["severity"], -i["id"]))
    rest = [item(r) for r in rows if r.status not in reads.OPEN_STATES]
    return open_items, rest, (rows[-1].id if more and rows else None)


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
        lead_in, words = event_words(event.kind, event.text or "", data)
        timeline.append({"at": as_utc(event.at), "lead_in": lead_in, "words": linkify(words),
                         "who": name(event.actor), "steps": read_steps(data.get("steps")),
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
        "public": [{"at": as_utc(u.published_at), "stage": u.stage, "title": u.title, "body": linkify(u.body),
                    "by": name(u.published_by)} for u in public],
        "followups": [{"text": linkify(f.text), "owner": name(f.owner) if f.owner else "nobody yet", "status": f.status}
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


LAST_RUNS = 3  # per workflow on the page: enough to see a pattern (it failed twice), short on a phone


def workflow_list(container: Container, viewer: Viewer) -> dict:
    """The workflows in force (name, trigger, file:line, on or off) with each one's last runs that `viewer` may
    see: a run on a private incident is left out for a non-member, as the incident itself is."""
    held = workflows_loading.current(container)
    with session_scope(container.engine) as session:
        rows = reads.workflow_runs_for(session, viewer)
    runs: dict[str, list[dict]] = {}
    for r in rows:
        mine = runs.setdefault(r.workflow, [])
        if len(mine) < LAST_RUNS:
            failed = [s for s in (r.steps or []) if not s.get("ok", True)]
            mine.append({"incident": r.incident_id, "alert": r.alert_id, "title": r.title, "severity": r.severity, "trigger": r.trigger,
                         "status": r.status, "at": as_utc(r.started_at), "steps": len(r.steps or []),
                         "failed": [step_line(f) for f in failed]})
    items = [{"name": wf.name, "trigger": wf.trigger, "where": f"{wf.source.rsplit('/', 1)[-1]}:{wf.line}",
              "path": wf.where, "enabled": wf.enabled,
              "steps": len(wf.steps), "runs": runs.get(wf.name, [])} for wf in held.workflows]
    return {"items": items, "source": held.source, "problem": held.problem}
