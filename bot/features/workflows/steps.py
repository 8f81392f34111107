"""What each workflow step does, through the services that already do it (paging, roles, playbooks, status page).

No second copies: `page` queues the page job `/incident page` queues; `plan_playbook` plans as `/restart` plans
(a destructive playbook is only PLANNED: the plan with Confirm is posted and waits for someone in RESPONDERS,
never executed here); `draft_status` drafts as `/incident statuspage` does (a person still presses Publish);
`escalate` is `/incident escalate <area>`. The response clock's named duration (`response_target`) is the
clock's own timer, so a default file reproduces today's ack escalation and SEV3 reminder word for word.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from bot.core.chat import person
from bot.core.clock import as_utc, fmt_duration, fmt_utc
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.core.errors import UserError
from bot.core.grammar import parse, parse_user
from bot.core.reply import Reply, escape, mention
from bot.service import incidents as svc, jobs
from bot.store.models import Alert, Incident, WorkflowRun
from bot.features.workflows.events import incident_fields
from bot.features.pagerduty import feature as pagerduty, paging, response_clock as clock
from bot.features.playbooks import executions
from bot.features.playbooks.feature import report_reply
from bot.features.postmortem import followups
from bot.features.providers import feature as providers
from bot.features.roles import service as roles
from bot.features.status import service as status_service
from bot.features.status.feature import plan_reply as status_plan_reply
from playbooks.severity import SEVERITIES
from playbooks.workflows import Event, Step, parse_duration, render
from playbooks.workflows.conditions import holds
from playbooks.workflows.schema import STEPS_NEED_INCIDENT

log = logging.getLogger(__name__)

REMIND_JOB = "workflows.remind"
ROLE_WORDS = ("lead", "comms", "scribe", "oncall", "declared_by")


class StepFailed(Exception):
    """A step that could not do its work, in words for the incident channel."""


@dataclass
class Outcome:
    text: str
    delay: timedelta | None = None


def duration(ctx: Context, value: Any, incident: Incident | None) -> timedelta:
    """A step's duration: `30m`, or a named one read from settings, run at RESPONSE_CLOCK_SPEED like the clock."""
    if value in (None, ""):
        return timedelta(0)
    seconds = parse_duration(str(value))
    if seconds is None and incident is None:
        raise StepFailed(f"no incident yet: `{escape(str(value))}` is the incident's own duration, and the alert "
                         "has joined no incident; give a length such as 30m")
    if seconds is None:
        if value == "update_nudge":
            nominal = timedelta(minutes=ctx.app.settings.update_nudge_minutes)
        else:
            nominal = clock.ack_target(incident.severity, ctx.app.settings) or timedelta(0)
        return clock.fast(ctx.app.settings, nominal)
    return clock.fast(ctx.app.settings, timedelta(seconds=seconds))


def text_of(step: Step, name: str, event: Event) -> str:
    value = step.args.get(name)
    return render(str(value), event) if value not in (None, "") else ""


def _user_for(ctx: Context, incident: Incident, who: str) -> str | None:
    """A role word or a person as a Slack id (mention, id or @handle); None when nobody holds that role."""
    word = (who or "").strip()
    if word in ("lead", "comms", "scribe", "declared_by"):
        if word == "declared_by":
            return incident.declared_by
        with ctx.session() as session:
            held = roles.holders(session, svc.get_incident(session, incident.id))
        return held.get("commander" if word == "lead" else word) or (incident.lead_id if word == "lead" else None)
    if word == "oncall":
        with ctx.session() as session:
            link = paging.link_for(session, incident.id)
        names = list(link.assignees or []) if link is not None else []
        return f"pagerduty:{names[0]}" if names else None
    return parse_user(word) or parse_user(word.lstrip("@")) or (word.lstrip("@") or None)


# -- the steps ------------------------------------------------------------------------------------------------
def page(ctx: Context, run: WorkflowRun, incident: Incident, step: Step, event: Event) -> Outcome:
    policy, who = step.args.get("policy"), step.args.get("person")
    targets: list[list[str]] = []
    if who:
        targets.append(["user", str(who).lstrip("@"), f"@{str(who).lstrip('@')}"])
    elif policy and policy != "default":
        targets.append(["policy", str(policy), f"escalation policy {policy}"])
    label = SEVERITIES[incident.severity].label
    reason = (f"raised to {label}" if event.trigger == "severity_changed" else
              f"declared {label}" if event.trigger == "declared" else f"workflow “{run.workflow}”")
    # the page goes out before the run records this step done: its key is the step, so a retry never pages twice
    queued = paging.queue_page(ctx, incident, reason=reason, targets=targets or None, automatic=not targets,
                               dedup_key=f"pd-page:wf:{run.id}:{step.index}")
    words = ("queued a page of " + (targets[0][2] if targets else "the on-call")) if queued else \
        f"the page of {targets[0][2]} was already queued by this step" if targets else \
        "the on-call was already paged for this incident"
    after = step.args.get("escalate_after")
    if after == "response_target":
        start = incident.declared_at if event.trigger == "declared" else (event.at or ctx.now())
        clock.arm_ack(ctx, incident, start)
        words += "; escalates in PagerDuty if not acknowledged within the response target"
    elif after:  # the response clock's ack timer, due after this step's own duration
        seconds = parse_duration(str(after))
        if seconds:
            clock.arm_ack(ctx, incident, ctx.now(), after=timedelta(seconds=seconds))
            words += f"; escalates in PagerDuty if not acknowledged within {after}"
    return Outcome(words)


def invite(ctx: Context, run: WorkflowRun, incident: Incident, step: Step, event: Event) -> Outcome:
    if not incident.channel_id:
        raise StepFailed("the incident has no channel to invite to")
    people = [str(p) for p in step.args.get("people") or []]
    groups = [str(g) for g in step.args.get("groups") or []]
    ids, unknown = [], []
    for who in people:
        found = _user_for(ctx, incident, who)
        (ids if found and found[:1] in "UW" and found[1:].isalnum() else unknown).append(found or who)
    members = getattr(ctx.chat, "group_members", None)  # Slack's usergroups.list; the console has none
    for group in groups:
        handle = group.lstrip("@")
        listed = (members(handle) or members(handle.lower())) if members is not None else []  # an id, or a handle
        found = [u for u in listed if u not in ids]
        if found:
            ids += found
        else:
            unknown.append(f"@{handle} (" + ("no such user group, or it has nobody" if members is not None
                                             else "user groups are read from Slack; this chat has none") + ")")
    if ids:
        ctx.chat.invite(incident.channel_id, ids)
    if unknown and not ids:
        raise StepFailed("could not invite " + ", ".join(escape(u) for u in unknown)
                         + ": give Slack mentions or ids (<@U123>)")
    return Outcome("invited " + ", ".join(person(ctx.chat, i) for i in ids)
                   + (f"; not invited: {', '.join(unknown)}" if unknown else ""))


def _members_only(incident: Incident, channel: str) -> None:
    """A private incident is read only by its members: a workflow never writes about it in another channel
    (a template usually names its title), whatever the team's file says."""
    if incident.private:
        raise StepFailed(f"not posted in {escape(channel)}: #{incident.id} is private, so its workflows write only "
                         "in its own channel (add `private: false` under `when:` to leave private incidents out)")


def post(ctx: Context, run: WorkflowRun, incident: Incident | None, step: Step, event: Event) -> Outcome:
    channel = str(step.args.get("channel") or "incident")
    if channel == "incident" and incident is None:
        raise StepFailed(no_incident(run, "post in the incident channel"))
    text = text_of(step, "text", event)
    reply = Reply(escape(text)).public()
    if channel == "incident":
        svc.announce(ctx, incident, reply)
        return Outcome("posted in the incident channel")
    if incident is not None:  # an alert that joined no incident is not private: nothing to keep in
        _members_only(incident, channel)
    ctx.chat.post(channel if channel.startswith(("C", "G", "#")) else f"#{channel}", reply)
    return Outcome(f"posted in {channel}")


def status_request(step: Step, event: Event) -> status_service.Request:
    """A draft_status step as the status page's request: its components, status, stage and rendered text."""
    comps = step.args.get("components")
    comps = [comps] if isinstance(comps, str) else comps
    return status_service.Request(components=[str(c) for c in comps] if comps else None,
                                  status=step.args.get("status"), stage=step.args.get("stage"),
                                  text=text_of(step, "text", event) or None)


def draft_status(ctx: Context, run: WorkflowRun, incident: Incident, step: Step, event: Event) -> Outcome:
    request = status_request(step, event)
    with ctx.session() as session:
        waiting = status_service.open_draft(session, incident.id)
        if waiting is not None:
            session.expunge(waiting)
        done = status_service.published(session, incident.id)
        last_stage = done[-1].stage if done else None
    if request.stage == "resolved" and last_stage == "resolved":
        return Outcome("the public page already shows it resolved; nothing drafted")
    if waiting is not None and (request.stage is None or waiting.stage == request.stage):
        return Outcome(f"a draft ({waiting.stage}) is already waiting for Publish; left as it is")
    try:
        update = status_service.draft(ctx, incident, request, suggested=True)
    except UserError as exc:  # e.g. no components named and none known for the incident: said, not a traceback
        raise StepFailed(" ".join([exc.message, *exc.hints])) from None
    svc.announce(ctx, incident, status_plan_reply(update, incident.id,
                                                  f"Drafted by the workflow “{escape(run.workflow)}”."))
    return Outcome(f"drafted the status page update ({update.stage}); it waits for a person's Publish")


def plan_playbook(ctx: Context, run: WorkflowRun, incident: Incident, step: Step, event: Event) -> Outcome:
    name = str(step.args.get("playbook") or "")
    if name == "providers":
        providers.queue_check(ctx, incident)
        return Outcome("reading the providers' status pages")
    playbook = ctx.app.registry.playbooks.get(name)
    if playbook is None:
        raise StepFailed(f"there is no playbook `{escape(name)}`")
    try:
        params = playbook.parse(parse(playbook.command, str(step.args.get("args") or ""),
                                      has_subcommands=False).args)
    except UserError as exc:
        raise StepFailed(exc.message) from None
    if playbook.destructive:  # planned only: a person in RESPONDERS presses Confirm, or nothing happens
        execution, plan = executions.propose(ctx, playbook, params, incident)
        svc.announce(ctx, incident, executions.plan_answer(ctx, playbook, execution, plan, incident))
        if execution is None:
            raise StepFailed(f"{playbook.invocation} could not be planned: {plan.blocked}")
        return Outcome(f"planned {playbook.invocation}; it waits for an authorised Confirm")
    plan, results, _ = executions.run_now(ctx, playbook, params, incident)
    svc.announce(ctx, incident, report_reply(ctx, playbook, plan, results, incident))
    if plan.blocked:
        raise StepFailed(f"{playbook.invocation} could not run: {plan.blocked}")
    return Outcome(f"ran {playbook.invocation}" + ("" if all(r.ok for r in results) else " (a check failed)"))


def set_role(ctx: Context, run: WorkflowRun, incident: Incident, step: Step, event: Event) -> Outcome:
    word = str(step.args.get("person") or "")
    user = _user_for(ctx, incident, word)
    if not user:
        raise StepFailed(f"nobody to make {escape(str(step.args.get('role')))}: `{escape(word)}` names nobody yet")
    try:
        role = roles.role_named(ctx, str(step.args.get("role")))
        roles.assign(ctx, incident.id, role, user)
    except UserError as exc:
        raise StepFailed(exc.message) from None
    return Outcome(f"{role.label}: {person(ctx.chat, user)}")


def add_followup(ctx: Context, run: WorkflowRun, incident: Incident, step: Step, event: Event) -> Outcome:
    owner_word = step.args.get("owner")
    owner = _user_for(ctx, incident, str(owner_word)) if owner_word else None
    _, _, number = followups.add(ctx, incident.id, text_of(step, "text", event), owner)
    return Outcome(f"follow-up {number} added")


def remind(ctx: Context, run: WorkflowRun, incident: Incident | None, step: Step, event: Event) -> Outcome:
    after, unless = step.args.get("after"), dict(step.args.get("unless") or {})
    if incident is None and not str(step.args.get("to") or "").startswith("#"):
        raise StepFailed(no_incident(run, f"remind {step.args.get('to') or 'lead'}"))
    if step.args.get("nudge") and event.trigger == "no_update":  # the response clock's nudge, with its buttons
        return Outcome(clock.nudge(ctx, incident, int(event.detail.get("nudge") or 1),
                                   float(event.detail.get("quiet_seconds") or 0), text_of(step, "text", event)))
    if after == "response_target" and unless == {"acknowledged": True} and incident is not None:
        clock.arm_ack(ctx, incident, incident.declared_at)  # the clock's own reminder (SEV3) or escalation
        return Outcome("the response clock reminds the channel if nobody acknowledges within the response target")
    if str(step.args.get("to") or "").startswith("#") and incident is not None:
        _members_only(incident, str(step.args["to"]))
    wait = duration(ctx, after, incident)
    due = ctx.now() + wait
    payload = {"incident_id": incident.id if incident is not None else None, "alert_id": run.alert_id,
               "run_id": run.id, "workflow": run.workflow, "to": step.args.get("to"),
               "text": text_of(step, "text", event), "unless": unless, "queued_at": ctx.now().isoformat(),
               "trigger": event.trigger, "detail": dict(event.detail)}
    with ctx.session() as session:
        jobs.enqueue(session, REMIND_JOB, payload, run_at=due, dedup_key=f"wf-remind:{run.id}:{step.index}",
                     now=ctx.now())
    # the date too: a reminder a day or more away read "due 09:00:00 UTC", which day not said
    return Outcome(f"reminder due {fmt_utc(due)}" + (" unless its conditions hold" if unless else ""))


def escalate(ctx: Context, run: WorkflowRun, incident: Incident, step: Step, event: Event) -> Outcome:
    area = str(step.args.get("area") or "")
    try:
        reply = pagerduty.escalate(ctx, parse("incident", area, has_subcommands=False).args, incident)
    except UserError as exc:
        raise StepFailed(exc.message) from None
    return Outcome(reply.text.replace("*", ""))


def bookmark(ctx: Context, run: WorkflowRun, incident: Incident, step: Step, event: Event) -> Outcome:
    title, url = text_of(step, "title", event), text_of(step, "url", event)
    if not url.startswith(("https://", "http://")):
        raise StepFailed(f"`{escape(url[:80])}` is not a link")
    with ctx.session() as session:
        svc.record(session, svc.get_incident(session, incident.id), "bookmark", "fireline", f"{title}: {url}",
                   {"title": title, "url": url}, at=ctx.now(), dedup_key=f"bookmark:{url}"[:200])
    svc.announce(ctx, incident, Reply(f":bookmark: <{url}|{escape(title)}>"))
    return Outcome(f"bookmarked {title}")


def wait(ctx: Context, run: WorkflowRun, incident: Incident, step: Step, event: Event) -> Outcome:
    delay = duration(ctx, step.args.get("for"), incident)
    return Outcome(f"the next step waits {fmt_duration(delay.total_seconds())}", delay)  # 24h 00m, not 86400 s


KINDS: dict[str, Callable[..., Outcome]] = {
    "page": page, "invite": invite, "post": post, "draft_status": draft_status, "plan_playbook": plan_playbook,
    "set_role": set_role, "add_followup": add_followup, "remind": remind, "escalate": escalate,
    "bookmark": bookmark, "wait": wait,
}


def no_incident(run: WorkflowRun, what: str) -> str:
    return (f"no incident yet: cannot {what}, alert #{run.alert_id} has joined no incident (add a condition such "
            "as `state: open` under `when:` to run when it joins one)")


def run(ctx: Context, run_row: WorkflowRun, incident: Incident | None, step: Step, event: Event) -> Outcome:
    handler = KINDS.get(step.kind)
    if handler is None:
        raise StepFailed(f"Fireline does not know the step `{step.kind}`")
    if incident is None and step.kind in STEPS_NEED_INCIDENT:
        raise StepFailed(no_incident(run_row, step.kind.replace("_", " ")))
    return handler(ctx, run_row, incident, step, event)


# -- a reminder when it is due ---------------------------------------------------------------------------------
def job_incident(ctx: Context, payload: dict[str, Any]) -> Incident | None:
    """A timer job's incident, read once and detached (None when it is gone)."""
    with ctx.session() as session:
        incident = session.get(Incident, int(payload["incident_id"]))
        if incident is not None:
            session.expunge(incident)
        return incident


def remind_job(container: Container, payload: dict[str, Any], job=None) -> None:
    """Send the reminder unless its `unless` conditions hold now (or the incident is resolved)."""
    ctx = job_context(container)
    if payload.get("incident_id") is None:  # an alert's run with no incident: only a channel is reminded
        _remind_channel(ctx, payload)
        return
    incident = job_incident(ctx, payload)
    if incident is None:
        return
    queued = datetime.fromisoformat(payload["queued_at"])
    updated = bool(incident.last_update_at and as_utc(incident.last_update_at) > as_utc(queued))
    now_event = Event(payload.get("trigger") or "declared", incident_fields(ctx, incident),
                      payload.get("detail") or {}, ctx.now(), 0)
    unless = payload.get("unless") or {}
    if unless and holds(unless, now_event, {"updated": updated}):
        with ctx.session() as session:
            svc.record(session, svc.get_incident(session, incident.id), "workflow_remind", "fireline",
                       f"Reminder of “{payload.get('workflow')}” not sent: its conditions hold", at=ctx.now())
        return
    to = str(payload.get("to") or "lead")
    text = escape(str(payload.get("text") or ""))
    if to.startswith("#") and not incident.private:  # made private since: its own channel only
        ctx.chat.post(to, Reply(f":alarm_clock: {text}").public())
    else:
        who = _user_for(ctx, incident, to)
        svc.announce(ctx, incident, Reply(f":alarm_clock: {mention(who) if who else ''} {text}".strip()))
    with ctx.session() as session:
        svc.record(session, svc.get_incident(session, incident.id), "workflow_remind", "fireline",
                   f"Reminder of “{payload.get('workflow')}” sent to {to}: {payload.get('text')}"[:2000], at=ctx.now())


def joined_incident(session, alert_id: int) -> Incident | None:
    """The incident an alert has joined since its workflow started with none (declared from it, or linked): the
    run's later steps act on it and keep to its rules; a private one is written about only in its own channel."""
    alert = session.get(Alert, alert_id)
    return session.get(Incident, alert.incident_id) if alert is not None and alert.incident_id else None


def _remind_channel(ctx: Context, payload: dict[str, Any]) -> None:
    if payload.get("alert_id") is not None:
        with ctx.session() as session:
            joined = joined_incident(session, int(payload["alert_id"]))
        if joined is not None and joined.private:
            log.info("workflow %r: reminder not sent to %s: alert #%s joined private incident #%s",
                     payload.get("workflow"), payload.get("to"), payload["alert_id"], joined.id)
            return
    now_event = Event(payload.get("trigger") or "alert_received", {}, payload.get("detail") or {}, ctx.now(), 0)
    unless = payload.get("unless") or {}
    if unless and holds(unless, now_event, {"updated": False}):
        return
    to = str(payload.get("to") or "")
    if to.startswith("#"):
        ctx.chat.post(to, Reply(f":alarm_clock: {escape(str(payload.get('text') or ''))}").public())
