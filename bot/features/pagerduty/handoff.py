"""The on-call handoff digest: at each PagerDuty shift change, what the incoming on-call inherits.

Every on-call refresh (bot.features.pagerduty.oncall) knows when each level-1 shift ends; each such end is
armed as one timer whose key names the schedule and the boundary, so every replica and every
refresh (one per PAGERDUTY_ONCALL_REFRESH_MINUTES) arms the same row and the digest goes out once.
At the boundary the job asks PagerDuty who is on call now (the incoming) and sends both people
(found in Slack by their PagerDuty email) a direct message, or posts once in HANDOFF_CHANNEL when set:
open incidents, alerts of the last shift still unresolved, mitigations still running, postmortems due.
Everything is read from the database at that moment: the digest is the record, not a summary of it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from bot.core.chat import Chat
from bot.core.clock import as_utc, fmt_utc
from bot.core.registry import Registry
from bot.core.container import Container
from bot.core.context import job_context
from bot.store.db import session_scope
from bot.store.models import OPEN_STATES, Alert, Incident, PlaybookExecution, Postmortem
from bot.store.models.pagerduty import OnCallSnapshot
from bot.store.models.playbook import ACTIVE
from bot.features.pagerduty import oncall
from bot.features.pagerduty.config import config
from bot.core.reply import Reply, escape
from bot.service import incidents as svc
from bot.service import timers
from bot.service.lookups import shown_title

log = logging.getLogger(__name__)

HANDOFF_JOB = "pagerduty.handoff"
KEY_PREFIX = "handoff:"
DEFAULT_SHIFT = timedelta(hours=24)  # the "last shift" when PagerDuty gave no start
MAX_LINES = 15  # per section; the rest is counted


def arm_from(container: Container, session: Session, row: OnCallSnapshot | None) -> int:
    """Arm a handoff at the end of each level-1 shift in the snapshot; returns how many boundaries are pending."""
    if row is None:
        return 0
    now = container.clock()
    boundaries: dict[tuple[str, datetime], dict[str, Any]] = {}
    for entry in row.entries or []:
        end = oncall.parse_time(entry.get("end"))
        if entry.get("level") != 1 or end is None or end <= as_utc(now):
            continue
        schedule = entry.get("schedule") or "level 1"
        found = boundaries.setdefault((schedule, end), {"schedule": schedule, "boundary": end.isoformat(),
                                                        "start": entry.get("start"), "outgoing": []})
        found["outgoing"].append({"user": entry.get("user"), "email": entry.get("email"),
                                  "user_id": entry.get("user_id")})
    armed = 0
    for (schedule, end), payload in boundaries.items():
        key = timers.timer_key(KEY_PREFIX + schedule[:60], end)
        armed += timers.arm(session, HANDOFF_JOB, key, end, payload, now=now)
    return armed


# -- the digest ---------------------------------------------------------------------------------------------
def _more(rows: list, shown: list[str]) -> list[str]:
    return shown + ([f"    …and {len(rows) - MAX_LINES} more"] if len(rows) > MAX_LINES else [])


def digest(container: Container, payload: dict[str, Any], incoming: list[str]) -> Reply:
    boundary = oncall.parse_time(payload.get("boundary")) or container.clock()
    start = oncall.parse_time(payload.get("start")) or boundary - DEFAULT_SHIFT
    outgoing = [p.get("user") or "unknown" for p in payload.get("outgoing") or []]
    with session_scope(container.engine) as session:
        incidents = list(session.exec(select(Incident).where(col(Incident.status).in_(OPEN_STATES))
                                      .order_by(col(Incident.severity), col(Incident.id))).all())
        alerts = list(session.exec(select(Alert).where(Alert.status == "open", col(Alert.first_seen_at) >= start,
                                                       col(Alert.first_seen_at) <= boundary)
                                   .order_by(col(Alert.level), col(Alert.id))).all())
        running = list(session.exec(select(PlaybookExecution).where(col(PlaybookExecution.status).in_(ACTIVE))
                                    .order_by(col(PlaybookExecution.id))).all())
        due = list(session.exec(select(Postmortem, Incident).join(Incident, Incident.id == Postmortem.incident_id)
                                .where(col(Postmortem.due_at).is_not(None), col(Postmortem.done_at).is_(None))
                                .order_by(col(Postmortem.due_at))).all())
        lines = [f"*Open incidents* ({len(incidents)})" + ("" if incidents else ": none")]
        lines += _more(incidents, [f"    • {svc.summary_line(i)}" if not i.private else
                                   f"    • *#{i.id}* SEV{i.severity} {shown_title(i)} ({i.status})"
                                   for i in incidents[:MAX_LINES]])
        lines.append(f"*Unresolved alerts of the last shift* ({len(alerts)})" + ("" if alerts else ": none"))
        lines += _more(alerts, [f"    • {escape(a.title)} ({escape(a.source)}, first seen {fmt_utc(a.first_seen_at)}"
                                f"{', seen ' + str(a.count) + ' times' if a.count > 1 else ''})"
                                for a in alerts[:MAX_LINES]])
        lines.append(f"*Running mitigations* ({len(running)})" + ("" if running else ": none"))
        lines += _more(running, [f"    • {escape(r.playbook)} on {escape(r.app)} ({r.status}"
                                 f"{', #' + str(r.incident_id) if r.incident_id else ''}"
                                 f"{', started ' + fmt_utc(r.started_at) if r.started_at else ''})"
                                 for r in running[:MAX_LINES]])
        lines.append(f"*Postmortems due* ({len(due)})" + ("" if due else ": none"))
        lines += _more(due, [f"    • #{i.id} {escape(shown_title(i))}: due {fmt_utc(p.due_at)}"
                             + (" (overdue)" if as_utc(p.due_at) < as_utc(boundary) else "")
                             for p, i in due[:MAX_LINES]])
    before = ", ".join(escape(n) for n in outgoing) or "unknown"
    after = ", ".join(escape(n) for n in incoming) or "unknown"
    names = f"{before} -> {after}"
    return Reply(f":arrows_counterclockwise: *On-call handoff* ({escape(payload.get('schedule') or 'level 1')}, "
                 f"{fmt_utc(boundary)}): {names}", lines=lines).public()


def _incoming(container: Container, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Who holds level 1 now: PagerDuty asked at the boundary (the cache if it fails), the outgoing left out."""
    row = oncall.refresh(container)
    gone = {p.get("user_id") or p.get("user") for p in payload.get("outgoing") or []}
    schedule = payload.get("schedule")
    entries = [e for e in row.entries or [] if e.get("level") == 1
               and (e.get("schedule") or "level 1") == schedule and (e.get("user_id") or e.get("user")) not in gone]
    return entries


def _slack_user(chat: Chat, email: str) -> str | None:
    """The chat's user with this email, when the chat can look people up by email (Slack can; the console cannot)."""
    lookup = getattr(chat, "user_by_email", None)
    if not email or lookup is None:
        return None
    try:
        return lookup(email)
    except Exception:
        log.info("no Slack user for an on-call email")
        return None


def handoff_job(container: Container, payload: dict[str, Any], job=None) -> None:
    incoming = _incoming(container, payload)
    reply = digest(container, payload, [e.get("user") or "unknown" for e in incoming])
    ctx = job_context(container)
    channel = container.settings.handoff_channel.strip()
    if channel or ctx.is_console:
        target = channel or container.settings.incidents_channel_name
        ctx.chat.post(target if target.startswith(("C", "G")) and target[1:].isalnum() and target.isupper()
                      else f"#{target.lstrip('#')}", reply)
        return
    people = [*(payload.get("outgoing") or []), *incoming]
    sent = 0
    for person in people:
        user = _slack_user(ctx.chat, person.get("email") or "")
        if user is None:
            continue
        try:
            ctx.chat.post(user, reply)  # a direct message from the app
            sent += 1
        except Exception:
            log.warning("could not send the handoff digest to one on-call person")
    if not sent:  # nobody found in Slack: the digest still goes somewhere people look
        ctx.chat.post(f"#{container.settings.incidents_channel_name}", reply)


def arm_after_refresh(container: Container, row: OnCallSnapshot) -> None:
    """Called by the on-call refresh job with the fresh snapshot."""
    if not config(container).oncall_ready:
        return
    with session_scope(container.engine) as session:
        arm_from(container, session, row)


def register(registry: Registry) -> None:
    registry.job(HANDOFF_JOB)(handoff_job)
