"""Fireline's App Home tab: open incidents by severity, who is on call, my follow-ups, the postmortems I owe,
and the workflow steps that failed on the open incidents I command.

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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.core.chat import person
from bot.core.clock import as_utc, fmt_utc
from bot.core.grammar import Args
from bot.core.registry import Registry
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.store.db import session_scope
from bot.core.hooks import Hooks
from bot.core.reply import Reply, escape
from bot.service import home_viewers, jobs, reads
from bot.service import incidents as svc
from bot.features.pagerduty.oncall import snapshot as oncall_snapshot
from bot.features.roles.service import rows as role_rows
from playbooks.severity import SEVERITIES
from playbooks.workflows import step_line
from bot.adapters.slack.modals import OPEN_ACTION
from bot.adapters.slack.render import blocks_json
from bot.adapters.slack.slack_chat import slack_client

if TYPE_CHECKING:
    from sqlmodel import Session

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
    viewer = None if ctx.is_console else user_id  # the tab's reader, not the job that publishes it
    with ctx.session() as session:
        shown = svc.open_incidents(session, limit=MAX_INCIDENTS, viewer=viewer)  # private ones: their members only
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
        mine = reads.open_followups_of(session, user_id, viewer=viewer, limit=20)  # less a private one they left
        out.append(Reply("*My follow-ups*", lines=[f"#{f.incident_id}: {escape(f.text[:200])}" for f in mine]
                         or ["None open."]))
        owed = reads.postmortems_owed(session, user_id, viewer=viewer, limit=20)
        now = ctx.now()
        lines = [f"#{incident.id} {escape(incident.title)}: due {fmt_utc(row.due_at)}"
                 + (" (overdue)" if as_utc(row.due_at) < now else "") for row, incident in owed]
        out.append(Reply("*Postmortems I owe*", lines=lines or ["None."],
                         footer="`/postmortem done <link> #N` when it is written." if lines else None))
        failed = reads.failed_workflow_steps(session, user_id, viewer=viewer, limit=10)
        if failed:  # only when there is one: a commander with none sees no empty section
            out.append(Reply(":warning: *Workflow steps that failed on my incidents*", lines=[
                f"#{f.incident_id} {escape(f.title)}: “{escape(f.workflow)}” "
                + escape(step_line({"index": f.number - 1, "kind": f.kind, "ok": False, "text": f.why[:200]}))
                for f in failed],
                footer="The other steps went on. `/incident workflows #N` shows the whole run."))
    return out


def _oncall(ctx: Context, session: Session) -> Reply:
    policy = ctx.app.settings.pagerduty_escalation_policy_id
    row = oncall_snapshot(session, policy)
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
        home_viewers.opened(session, user_id, now)
        request(container, session, user_id, now)


def on_change(ctx: Context, **_: Any) -> None:
    """Any incident change: refresh the tab of everyone who looked at it lately."""
    container = ctx.app
    now = container.clock()
    with session_scope(container.engine) as session:
        for user_id in home_viewers.recent(session, now - VIEWERS_WITHIN, MAX_VIEWERS):
            request(container, session, user_id, now)


def publish_job(container: Container, payload: dict[str, Any], job=None) -> None:
    user_id = str(payload.get("user_id") or "")
    now = container.clock()
    n = seconds(container)
    with session_scope(container.engine) as session:
        claimed, last = home_viewers.claim_publish(session, user_id, now, timedelta(seconds=n))
        if not claimed:
            if last is not None:
                at = as_utc(last) + timedelta(seconds=n)
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
