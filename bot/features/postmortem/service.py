"""Postmortem drafts: render from the store, keep the latest in the database, post it, remind the lead.

The draft is stored before Slack hears of it, and the reminder is a timer row written in the same
transaction as the draft job, so a restart loses neither.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from bot.core.chat import person
from bot.core.clock import as_utc, fmt_utc
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.core.errors import UserError
from bot.core.hooks import Hooks
from bot.store.models import FollowUp, Incident, IncidentRole, Postmortem, TimelineEvent
from bot.core.reply import Button, Reply, escape, mention
from bot.service import incidents as svc, jobs
from playbooks import postmortem as pm
from bot.features.roles.service import definitions
from bot.store.db import session_scope

log = logging.getLogger(__name__)

DRAFT_JOB = "postmortem.draft"
REMINDER_JOB = "postmortem.reminder"
DUE_JOB = "postmortem.due"
DONE_ACTION = "postmortem_done"


@dataclass
class Draft:
    incident: Incident
    markdown: str
    warning: str | None
    events: int
    todos: int
    due_at: datetime | None
    owed: bool


# -- reading --------------------------------------------------------------------------------------------
def followups(session: Session, incident_id: int) -> list[FollowUp]:
    query = select(FollowUp).where(FollowUp.incident_id == incident_id).order_by(col(FollowUp.id))
    return list(session.exec(query).all())


def timeline_rows(session: Session, incident_id: int) -> list[Any]:
    """The timeline as plain rows (at, kind, actor, text, data) in time order.

    Only the columns the draft needs, without building ORM objects: for a 5,000-event incident this
    is the larger part of the time to a draft (see bench/postmortem_bench.py).
    """
    query = select(TimelineEvent.at, TimelineEvent.kind, TimelineEvent.actor, TimelineEvent.text,
                   TimelineEvent.data).where(TimelineEvent.incident_id == incident_id)
    return list(session.exec(query.order_by(col(TimelineEvent.at), col(TimelineEvent.id))).all())


def stored(session: Session, incident_id: int) -> Postmortem | None:
    return session.exec(select(Postmortem).where(Postmortem.incident_id == incident_id)).first()


def owed(container: Container, incident: Incident, events: list[Any]) -> bool:
    """Whether this incident owes a postmortem by a due date (the most severe level it reached counts)."""
    return pm.owes_postmortem(pm.peak_level(incident, events), container.settings.postmortem_required_severity)


def names_for(container: Container, users: set[str]) -> dict[str, str]:
    """How the draft shows each person: Slack display names (users.info, cached), agents, Fireline."""
    chat = job_context(container).chat
    return {user: person(chat, user) for user in sorted(users)}


def render(container: Container, session: Session, incident: Incident, *, now: datetime,
           due: datetime | None = None) -> Draft:
    """Render the draft from what is stored now (nothing is written)."""
    events = timeline_rows(session, incident.id)
    row = stored(session, incident.id)
    is_owed = owed(container, incident, events)
    if due is None and row is not None:
        due = as_utc(row.due_at)
    if due is None and is_owed and incident.resolved_at:
        due = pm.due_at(incident.resolved_at)
    items = followups(session, incident.id)
    names = names_for(container, pm.people_ids(incident, events, items))

    held = {r.role: r.user_id for r in session.exec(select(IncidentRole).where(
        IncidentRole.incident_id == incident.id)).all()}
    role_rows = [(r.label, held[r.key]) for r in definitions(container.settings) if held.get(r.key)]
    names = {**names, **names_for(container, set(held.values()) - set(names))}
    table = {level: container.settings.severity(level) for level in (1, 2, 3, 4)}  # SEV_RESPONSE_MINUTES applied
    doc = pm.build(incident, events, items, generated_at=now, due=due, owed=is_owed, names=names, roles=role_rows,
                   table=table)
    result = pm.render(doc, container.settings.postmortem_template)
    markdown = result.markdown + automation_section(incident, events)
    return Draft(incident, markdown, result.warning, len(doc.timeline), result.markdown.count("_TODO:"), due,
                 is_owed)


def automation_section(incident: Incident, events: list[Any]) -> str:
    """What the team's workflows did, each step timed from the declaration ("page: ... 0:12 after declare").

    From the timeline's workflow events, so only a team file's runs appear: the default file's (today's
    behaviour) stay out, and a postmortem of an incident without team workflows reads as it did before. Those
    events are here only: playbooks.postmortem keeps them out of the Timeline (NOT_IN_TIMELINE), where each run
    and step was listed a second time."""
    lines = []
    start = as_utc(incident.declared_at)
    for event in events:
        if event.kind not in ("workflow_run", "workflow_step", "workflow_refused"):
            continue
        seconds = max(0, int((as_utc(event.at) - start).total_seconds()))
        hours, rest = divmod(seconds // 60, 60)
        after = f"{hours}:{rest:02d}" if hours else f"0:{rest:02d}"
        lines.append(f"- {after} after declare: {pm.cell(event.text)}")
    if not lines:
        return ""
    return "\n## Automation\n\nWhat the team's workflows did (Fireline's workflow runner):\n\n" + "\n".join(lines) + "\n"


def _row(session: Session, incident_id: int) -> Postmortem:
    """The incident's postmortem row, created if missing (one per incident: a unique column)."""
    row = stored(session, incident_id)
    if row is None:
        from sqlalchemy.exc import IntegrityError

        try:
            with session.begin_nested():
                row = Postmortem(incident_id=incident_id)
                session.add(row)
                session.flush()
        except IntegrityError:  # another worker created it first
            row = stored(session, incident_id)
    return row


def generate(container: Container, incident_id: int) -> Draft:
    """Render and store the draft (replacing the previous one)."""
    now = container.clock()

    with session_scope(container.engine) as session:
        incident = svc.get_incident(session, incident_id)
        draft = render(container, session, incident, now=now)
        row = _row(session, incident_id)
        row.markdown, row.generated_at, row.warning = draft.markdown, now, draft.warning
        session.add(row)
    return draft


# -- on resolve -------------------------------------------------------------------------------------------
def reminder_key(incident_id: int, due: datetime) -> str:
    return f"postmortem-reminder:{incident_id}:{as_utc(due).strftime('%Y%m%dT%H%M%S')}"


def due_key(incident_id: int, due: datetime) -> str:
    return f"postmortem-due:{incident_id}:{as_utc(due).strftime('%Y%m%dT%H%M%S')}"


def _cancel_timers(session, incident_id: int, due: datetime) -> None:
    jobs.cancel(session, reminder_key(incident_id, due))
    jobs.cancel(session, due_key(incident_id, due))


def schedule(ctx: Context, incident: Incident) -> None:
    """At resolution: queue the draft, set the due date and the reminder timer, in one transaction."""
    with ctx.session() as session:
        incident = svc.get_incident(session, incident.id)
        events = timeline_rows(session, incident.id)
        row = _row(session, incident.id)
        resolved = as_utc(incident.resolved_at) or ctx.now()
        jobs.enqueue(session, DRAFT_JOB, {"incident_id": incident.id, "user_id": ctx.user_id},
                     dedup_key=f"postmortem-draft:{incident.id}:{resolved.isoformat()}", now=ctx.now())
        if row.done_at is not None:
            return
        if row.due_at is not None:  # resolved before, then reopened: the old reminder no longer applies
            _cancel_timers(session, incident.id, row.due_at)
        if not owed(ctx.app, incident, events):
            row.due_at = None
            session.add(row)
            return
        row.due_at = pm.due_at(resolved)
        session.add(row)
        jobs.enqueue(session, REMINDER_JOB, {"incident_id": incident.id, "due_at": row.due_at.isoformat()},
                     run_at=pm.remind_at(row.due_at), dedup_key=reminder_key(incident.id, row.due_at), now=ctx.now())
        jobs.enqueue(session, DUE_JOB, {"incident_id": incident.id, "due_at": row.due_at.isoformat()},
                     run_at=row.due_at, dedup_key=due_key(incident.id, row.due_at), now=ctx.now())


# -- telling people -------------------------------------------------------------------------------------
def _where(incident: Incident) -> str | None:
    """The incident channel; without one, the channel of its card in #incidents (an id uploads need)."""
    if incident.channel_id:
        return incident.channel_id
    return next((card["channel"] for card in incident.cards or []), None)


def channel_label(ctx: Context, incident: Incident) -> str:
    if not incident.channel_id:
        return f"#{ctx.app.settings.incidents_channel_name}"
    if ctx.is_console:
        return f"#{incident.channel_name}"
    return f"<#{incident.channel_id}|{incident.channel_name}>"


def filename(incident: Incident) -> str:
    return f"postmortem-incident-{incident.id}.md"


def publish(ctx: Context, draft: Draft) -> list[str]:
    """Post the draft in the incident's channel as a Markdown file. Returns what failed, in words."""
    incident = draft.incident
    channel = _where(incident)
    if channel is None:
        return ["the incident has no channel to post the draft in; export it with "
                f"`fireline postmortem {incident.id}`"]
    lines = [f"{draft.todos} places marked _TODO_ need the people who were there; Fireline wrote only what it "
             "recorded."]
    if draft.owed and draft.due_at:
        lines.append(f"Due {fmt_utc(draft.due_at)} (48 h after resolution); {mention(incident.lead_id)} gets a "
                     "reminder 24 h before.")
    elif not draft.owed:
        lines.append("Not required at this severity; share it if there is a lesson in it.")
    page = ctx.app.settings.team_page_url(f"/team/incidents/{incident.id}/postmortem")
    if page:
        lines.append(f"<{page}|Read it on the team pages> (sign in with `/incident web`).")
    lines.append("`/postmortem` regenerates it. Once it is published, *Done* (or "
                 f"`/postmortem done <link> #{incident.id}`) records where.")
    if draft.warning:
        lines.append(f":warning: {escape(draft.warning)}")
    problems = []
    message = Reply(f":memo: *Postmortem draft for #{incident.id}*: {escape(incident.title)}", lines=lines,
                    buttons=[Button("Done", DONE_ACTION, str(incident.id), style="primary")]).public()
    try:
        ctx.chat.post(channel, message)
    except Exception as exc:
        problems.append(f"could not post in the incident channel ({exc})")
    try:
        ctx.chat.upload(channel, filename(incident), draft.markdown,
                        f"Postmortem draft: #{incident.id} {incident.title}")
    except Exception as exc:
        log.warning("could not upload the postmortem of #%s: %s", incident.id, exc)
        problems.append(f"could not attach the draft file ({exc}); it is saved: `/postmortem` tries again, "
                        f"`fireline postmortem {incident.id}` exports it")
        try:
            ctx.chat.post(channel, Reply(f":warning: The postmortem draft of #{incident.id} is saved but could not be "
                                         "attached here.", lines=[escape(problems[-1])]).public())
        except Exception:
            log.warning("could not tell #%s about the failed upload", incident.id)
    return problems


def _still_due(incident: Incident, row, due_text: str) -> bool:
    """A postmortem timer still stands: not done, its due date not moved since it was set, the incident resolved."""
    return (row is not None and row.done_at is None and row.due_at is not None
            and as_utc(row.due_at).isoformat() == due_text and not incident.is_open)


def remind(ctx: Context, incident_id: int, due_text: str) -> bool:
    """The reminder timer: tell the lead, unless the postmortem is done or the due date moved."""
    with ctx.session() as session:
        incident, row = svc.get_incident(session, incident_id), stored(session, incident_id)
        if not _still_due(incident, row, due_text):
            return False
        lead_name = person(ctx.chat, incident.lead_id) if incident.lead_id else "nobody"  # a name, not an id
        svc.record(session, incident, "postmortem_reminded", "fireline",
                   f"Reminded {lead_name}: postmortem due {fmt_utc(row.due_at)}",
                   {"lead": incident.lead_id, "due_at": due_text}, at=ctx.now())
    reply = Reply(f":alarm_clock: The postmortem of *#{incident.id}* ({escape(incident.title)}) is due "
                  f"{fmt_utc(row.due_at)}, in 24 hours.",
                  lines=[f"{mention(incident.lead_id)}, you lead it. The draft is in {channel_label(ctx, incident)}; "
                         "when the final version is published, type "
                         f"`/postmortem done <link> #{incident.id}`."]).public()
    lead = incident.lead_id or ""
    if lead.startswith(("U", "W")) and not ctx.is_console:
        try:
            ctx.chat.post(lead, reply)  # a direct message from the app
            return True
        except Exception as exc:
            log.warning("could not message the lead of #%s directly (%s); posting in the channel", incident.id, exc)
    channel = _where(incident)
    if channel:
        ctx.chat.post(channel, reply)
    return True


def due(ctx: Context, incident_id: int, due_text: str) -> bool:
    """The due timer: the due time passed without `/postmortem done`; says so to listeners (the team's workflows).

    Nothing is posted here: the reminder 24 hours before is today's message; what happens at the due time is
    the team's to decide (a `postmortem_due` workflow), so with no team file nothing changes."""
    with ctx.session() as session:
        incident, row = svc.get_incident(session, incident_id), stored(session, incident_id)
        if not _still_due(incident, row, due_text):
            return False
        session.expunge(incident)
        when = as_utc(row.due_at)
    ctx.app.registry.emit(Hooks.POSTMORTEM_DUE, ctx, incident=incident, due=when)
    return True


def mark_done(ctx: Context, incident_id: int, link: str) -> tuple[Incident, bool]:
    """Record where the published postmortem lives; stops the reminder. Returns (incident, was_done_before)."""
    with ctx.session() as session:
        incident = svc.get_incident(session, incident_id)
        if incident.is_open:
            raise UserError(f"#{incident.id} is still open, so its postmortem cannot be done yet.",
                            f"Resolve it first with `/incident resolve #{incident.id}`.")
        row = _row(session, incident.id)
        before = row.done_at is not None
        if row.due_at is not None:
            _cancel_timers(session, incident.id, row.due_at)
        row.done_link, row.done_at, row.done_by = link, ctx.now(), ctx.user_id
        session.add(row)
        verb = "link updated" if before else "published"
        svc.record(session, incident, "postmortem_done", ctx.user_id, f"Postmortem {verb}: {link}",
                   {"link": link}, at=ctx.now())
    svc.announce(ctx, incident, Reply(f":white_check_mark: The postmortem of #{incident.id} is "
                                      f"{'updated' if before else 'done'}: {escape(link)} "
                                      f"(recorded by {mention(ctx.user_id)})."))
    ctx.app.registry.emit(Hooks.POSTMORTEM_DONE, ctx, incident=incident, link=link, first=not before)
    return incident, before


__all__ = ["DONE_ACTION", "DRAFT_JOB", "DUE_JOB", "REMINDER_JOB", "Draft", "due", "due_key", "followups", "generate", "mark_done", "publish", "remind", "render",
           "reminder_key", "schedule", "stored"]
