"""Fireline's App Home tab: open incidents by severity, who is on call, my follow-ups, the postmortems I owe.

Built from the database only (the on-call part from PagerDuty's cache, bot/features/pagerduty/oncall.py), so
publishing never waits on PagerDuty. Published (`views.publish`) by a durable job:

- when someone opens the tab (`app_home_opened`), at once;
- after any incident change (declare, severity, ack, lead, roles, state, resolve), for everyone who
  opened the tab in the last day (`home_viewers`).

Rate limit: at most one publish per person per HOME_REFRESH_SECONDS (N, at most 30), decided by a
conditional UPDATE on `home_viewers.published_at`, so two workers never both publish. A trigger's job
is dedup-keyed on the person and the N-second slot; a later trigger in the same slot queues one
trailing job at the next slot, and a job that finds the last publish too recent re-queues itself for
when the N seconds are over. A change therefore shows within 2N <= 60 s: never stale by more than a minute.
The console (and Slack, as a reply) shows the same content with `/incident home`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.core.chat import person
from bot.core.clock import as_utc, fmt_utc
from bot.core.grammar import Args
from bot.core.registry import Registry
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.store.db import session_scope
from bot.core.hooks import Hooks
from bot.store.models import FollowUp, HomeViewer, Incident, OnCallSnapshot, Postmortem
from bot.core.reply import Reply, escape
from bot.service import incidents as svc, jobs
from bot.features.roles.service import rows as role_rows
from playbooks.severity import SEVERITIES
from bot.adapters.slack.modals import OPEN_ACTION
from bot.adapters.slack.render import blocks_json
from bot.adapters.slack.slack_chat import slack_client

log = logging.getLogger(__name__)

HOME_JOB = "slack.home"
VIEWERS_WITHIN = timedelta(days=1)  # who gets refreshed on a change: opened the tab in the last day
MAX_VIEWERS = 200
MAX_INCIDENTS = 30
CHANGES = (Hooks.INCIDENT_DECLARED, Hooks.INCIDENT_SEVERITY_CHANGED, Hooks.INCIDENT_ACKNOWLEDGED,
           Hooks.INCIDENT_LEAD_CHANGED, Hooks.INCIDENT_STATUS_CHANGED, Hooks.INCIDENT_RESOLVED,
           Hooks.INCIDENT_ROLE_CHANGED)


def seconds(container: Container) -> int:
    return int(container.settings.home_refresh_seconds)  # 1..30 (the setting says so)


# -- what the tab shows ----------------------------------------------------------------------------------------
def sections(ctx: Context, user_id: str) -> list[Reply]:
    """The tab's content as neutral replies: one renderer for Slack (blocks), one for the console."""
    chat = ctx.chat
    out: list[Reply] = []
    with ctx.session() as session:
        shown = svc.open_incidents(session, limit=MAX_INCIDENTS,  # private ones: their members only
                                   viewer=None if ctx.is_console else user_id)
        by_level: dict[int, list[str]] = {}
        for incident in shown:
            roles = [f"{label} {escape(person(chat, user))}" for label, user in role_rows(ctx, session, incident)]
            where = f" in <#{incident.channel_id}|{incident.channel_name}>" if incident.channel_id and \
                not ctx.is_console else (f" in #{incident.channel_name}" if incident.channel_name else "")
            by_level.setdefault(incident.severity, []).append(
                f"*#{incident.id}* {escape(incident.title)}{where}: {incident.status}"
                f"{', ' + ', '.join(roles) if roles else ''}, declared {fmt_utc(incident.declared_at)}")
        if by_level:
            lines = []
            for level in sorted(by_level):
                sev = SEVERITIES[level]
                lines.append(f"*{sev.label}: {sev.description}* ({len(by_level[level])})")
                lines += [f"  {line}" for line in by_level[level]]
            out.append(Reply(f":rotating_light: *Open incidents* ({len(shown)})", lines=lines))
        else:
            out.append(Reply(":white_check_mark: *No open incidents.*"))
        out.append(_oncall(ctx, session))
        mine = session.exec(select(FollowUp).where(FollowUp.owner == user_id, FollowUp.status == "open")
                            .order_by(col(FollowUp.incident_id), col(FollowUp.id)).limit(20)).all()
        viewer = replace(ctx, user_id=user_id)  # the tab's reader, not the job that publishes it
        mine = [f for f in mine if ctx.is_console or svc.sees(viewer, session, f.incident_id)]  # left a private one
        out.append(Reply("*My follow-ups*", lines=[f"#{f.incident_id}: {escape(f.text[:200])}" for f in mine]
                         or ["None open."]))
        owed = session.exec(select(Postmortem, Incident).join(Incident, col(Incident.id) == Postmortem.incident_id)
                            .where(Incident.lead_id == user_id, col(Postmortem.due_at).is_not(None),
                                   col(Postmortem.done_at).is_(None))
                            .order_by(col(Postmortem.due_at)).limit(20)).all()
        now = ctx.now()
        lines = [f"#{incident.id} {escape(incident.title)}: due {fmt_utc(row.due_at)}"
                 + (" (overdue)" if as_utc(row.due_at) < now else "") for row, incident in owed
                 if ctx.is_console or svc.sees(viewer, session, incident.id)]
        out.append(Reply("*Postmortems I owe*", lines=lines or ["None."],
                         footer="`/postmortem done <link> #N` when it is written." if lines else None))
    return out


def _oncall(ctx: Context, session: Session) -> Reply:
    policy = ctx.app.settings.pagerduty_escalation_policy_id
    row = session.exec(select(OnCallSnapshot).where(OnCallSnapshot.policy_id == policy)).first() if policy else None
    if row is None or row.fetched_at is None:
        return Reply(":pager: *On call now*", lines=["Not known yet: `/oncall` asks PagerDuty."
                                                     if policy else "PagerDuty is not configured."])
    entries = sorted(row.entries or [], key=lambda e: int(e.get("level") or 0))
    lines = [f"Level {e.get('level')}: {escape(str(e.get('user')))}" for e in entries] or ["Nobody is on call."]
    return Reply(":pager: *On call now*", lines=lines, footer=f"As of {fmt_utc(row.fetched_at)}")


def home_view(ctx: Context, user_id: str) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "actions", "elements": [
        {"type": "button", "action_id": OPEN_ACTION, "style": "danger",
         "text": {"type": "plain_text", "text": "Declare incident"}}]}]
    for section in sections(ctx, user_id):
        blocks.append({"type": "divider"})
        blocks += blocks_json(section)
    return {"type": "home", "blocks": blocks[:100]}


# -- when to publish ---------------------------------------------------------------------------------------------
def request(container: Container, session: Session, user_id: str, now: datetime) -> None:
    """Queue a publish for this person: now, or at the next slot if this slot's job is already queued."""
    n = seconds(container)
    slot = int(now.timestamp()) // n
    if jobs.enqueue(session, HOME_JOB, {"user_id": user_id}, dedup_key=f"home:{user_id}:{slot}", now=now) is None:
        at = datetime.fromtimestamp((slot + 1) * n, now.tzinfo)
        jobs.enqueue(session, HOME_JOB, {"user_id": user_id}, run_at=at, dedup_key=f"home:{user_id}:{slot + 1}",
                     now=now)


def opened(container: Container, user_id: str) -> None:
    now = container.clock()
    with session_scope(container.engine) as session:
        viewer = session.get(HomeViewer, user_id)
        if viewer is None:
            session.add(HomeViewer(user_id=user_id, opened_at=now))
            session.flush()
        else:
            viewer.opened_at = now
            session.add(viewer)
        request(container, session, user_id, now)


def on_change(ctx: Context, **_: Any) -> None:
    """Any incident change: refresh the tab of everyone who looked at it lately."""
    container = ctx.app
    now = container.clock()
    with session_scope(container.engine) as session:
        viewers = session.exec(select(HomeViewer.user_id).where(col(HomeViewer.opened_at) >= now - VIEWERS_WITHIN)
                               .order_by(col(HomeViewer.opened_at).desc()).limit(MAX_VIEWERS)).all()
        for user_id in viewers:
            request(container, session, user_id, now)


def publish_job(container: Container, payload: dict[str, Any], job=None) -> None:
    user_id = str(payload.get("user_id") or "")
    now = container.clock()
    n = seconds(container)
    with session_scope(container.engine) as session:
        claimed = session.execute(update(HomeViewer).where(
            col(HomeViewer.user_id) == user_id,
            (col(HomeViewer.published_at).is_(None)) | (col(HomeViewer.published_at) <= now - timedelta(seconds=n)))
            .values(published_at=now)).rowcount
        if not claimed:
            viewer = session.get(HomeViewer, user_id)
            if viewer is not None and viewer.published_at is not None:
                at = as_utc(viewer.published_at) + timedelta(seconds=n)
                jobs.enqueue(session, HOME_JOB, {"user_id": user_id}, run_at=at,
                             dedup_key=f"home:{user_id}:after:{int(at.timestamp())}", now=now)
            return
    ctx = job_context(container)

    slack_client(container).views_publish(user_id=user_id, view=home_view(ctx, user_id))


def show(ctx: Context, args: Args) -> Reply:
    """`/incident home`: the App Home's content as a reply (the console's App Home)."""
    parts = sections(ctx, ctx.user_id)
    reply = Reply("*Fireline home*")
    for part in parts:
        reply.lines += [part.text, *(f"  {line}" for line in part.lines)]
        if part.footer:
            reply.lines.append(f"  _{part.footer}_")
    return reply


def install(app=None, container=None, **_: Any) -> None:
    @app.event("app_home_opened")
    def on_home_opened(ack, event):
        ack()
        if event.get("tab", "home") == "home" and event.get("user"):
            opened(container, str(event["user"])[:64])


def register(registry: Registry) -> None:
    registry.on(Hooks.SLACK_APP)(install)
    registry.job(HOME_JOB)(publish_job)
    for hook in CHANGES:
        registry.on(hook)(on_change)
    registry.command("incident", "declare and run incidents").sub(
        "home", "home", "what Slack's App Home tab shows: open incidents, on call, my follow-ups and postmortems",
        show)
