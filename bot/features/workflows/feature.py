"""Workflows as data, the runner's half: the incident's hooks become workflow events; `/incident workflows` shows them.

The decisions (which workflow matches, what a template says) are in `playbooks.workflows`; this feature turns
hooks into `Event`s with plain fields (`events`), claims and runs them once (`runner`), and does each step
through the existing services (`steps`). The `no_update` trigger with the named duration `update_nudge` is the
response clock's nudge timer (its re-arming on every update and its three-nudge limit stay the clock's; when it
comes, INCIDENT_QUIET runs the matching workflows' steps, a remind step's `nudge: true` saying it as the clock
did); any other `no_update` duration is a timer of this feature's own.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from bot.core.chat import person
from bot.core.clock import as_utc, fmt_utc
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.core.hooks import Hooks
from bot.core.registry import Registry
from bot.core.reply import Reply, escape
from bot.service import timers
from bot.store.models import Incident
from bot.features.pagerduty import response_clock as clock
from bot.features.status import feature as status_feature
from bot.features.workflows import loading, runner, steps
from bot.features.workflows import events
from bot.features.workflows.events import current_depth, make_event
from playbooks.workflows import Event, TemplateRefused, Workflow, matches, parse_duration, step_line

QUIET_JOB = "workflows.no_update"


# -- hooks -> events -------------------------------------------------------------------------------------------
def on_declared(ctx: Context, incident: Incident, **_: Any) -> None:
    event = make_event(ctx, "declared", incident)  # the incident's fields read once, for the runs and the timers
    runner.start(ctx, event, incident.id)
    arm_quiet(ctx, incident, incident.last_update_at or incident.declared_at, event.incident)


def on_severity_changed(ctx: Context, incident: Incident, old: int, new: int, **_: Any) -> None:
    event = make_event(ctx, "severity_changed", incident, {"old_severity": old, "new_severity": new,
                                                           "direction": "up" if new < old else "down"})
    runner.start(ctx, event, incident.id)
    arm_quiet(ctx, incident, ctx.now() if new == 1 and old != 1 else (incident.last_update_at or ctx.now()),
              event.incident)


def on_acknowledged(ctx: Context, incident: Incident, old: str = "", **_: Any) -> None:
    """`old`: the state before the acknowledgement (which moves a declared incident to investigating)."""
    runner.fire(ctx, "state_changed", incident, {"old_state": old or incident.status, "new_state": "acknowledged"})


def on_status_changed(ctx: Context, incident: Incident, old: str, new: str, **_: Any) -> None:
    reopened = old == "resolved" and incident.is_open
    event = make_event(ctx, "state_changed", incident, {"old_state": old, "new_state": "reopened" if reopened else
                                                        ("mitigated" if new == "monitoring" else new)})
    runner.start(ctx, event, incident.id)
    if reopened:
        arm_quiet(ctx, incident, ctx.now(), event.incident)


def on_resolved(ctx: Context, incident: Incident, old: str = "", **_: Any) -> None:
    """A workflow drafting the closing status update on resolve shows the draft to the resolver at once, as
    before workflows were data (their answer, not a channel post); its step then finds the draft waiting.
    `old`: the state it was resolved from (investigating, monitoring, ...)."""
    event = make_event(ctx, "state_changed", incident, {"old_state": old or "investigating", "new_state": "resolved"})
    drafting = [s for wf in loading.current(ctx.app).enabled() if matches(wf, event) for s in wf.steps
                if s.kind == "draft_status" and s.args.get("stage") in (None, "resolved")]
    if drafting:  # the first such step's words and components: the step itself then finds its draft waiting
        try:
            request = steps.status_request(drafting[0], event)
        except TemplateRefused:  # Fireline's words; the step itself then says why its own were refused
            request = None
        status_feature.offer_closing_update(ctx, incident, request)
    runner.start(ctx, event, incident.id)


def on_updated(ctx: Context, incident: Incident, **_: Any) -> None:
    arm_quiet(ctx, incident, ctx.now())


def on_lead_changed(ctx: Context, incident: Incident, old: str | None = None, new: str | None = None,
                    **_: Any) -> None:
    runner.fire(ctx, "role_assigned", incident, {"role": "lead", "person": person(ctx.chat, new)})


def on_role_changed(ctx: Context, incident: Incident, role: str = "", old: str | None = None,
                    new: str | None = None, **_: Any) -> None:
    runner.fire(ctx, "role_assigned", incident, {"role": role, "person": person(ctx.chat, new)})


def on_playbook_finished(ctx: Context, execution=None, plan=None, **_: Any) -> None:
    if execution is None or execution.incident_id is None:
        return
    with ctx.session() as session:
        incident = session.get(Incident, execution.incident_id)
        if incident is None:
            return
        session.expunge(incident)
    outcome = {"succeeded": "done", "failed": "failed", "proposed": "planned"}.get(execution.status, "not_done")
    # the plan shown and the run's end are two occurrences: one key for both let a workflow without an `outcome`
    # run at the plan, then find its run claimed when the playbook finished
    stage = "planned" if outcome == "planned" else "finished"
    runner.fire(ctx, "playbook_finished", incident, {"playbook": execution.playbook, "outcome": outcome},
                occurrence=f"playbook_{stage}:{execution.id}")


def on_alert_received(ctx: Context, incident: Incident | None = None, alert=None, **_: Any) -> None:
    """An alert arrived (incident None: it joined none), or joined an incident: its source, title, text and labels
    are the event's. Once per alert and workflow: the run's `alert_id` is unique per workflow, so the arrival's run
    (no incident yet) is the same run when the alert is later declared or linked, and the workflow does not run
    again; one whose conditions read the incident (`state: open`) did not run on arrival, and runs then."""
    if alert is None:
        return
    labels = (alert.details or {}).get("labels") if isinstance(alert.details, dict) else None
    detail = {
        "alert_source": alert.source or "", "alert_title": alert.title or "",
        "alert_text": alert.text or alert.title or "",
        "alert_labels": {str(k): str(v) for k, v in (labels or {}).items()} if isinstance(labels, dict) else {}}
    event = make_event(ctx, "alert_received", incident, detail) if incident is not None else \
        Event("alert_received", {}, detail, ctx.now(), current_depth())
    runner.start(ctx, event, incident.id if incident is not None else None,
                 occurrence=f"alert_received:{alert.id}", alert_id=alert.id)


def on_postmortem_due(ctx: Context, incident: Incident, due: datetime | None = None, **_: Any) -> None:
    when = as_utc(due if due is not None else ctx.now())
    # `{{ postmortem.due }}` reads as the rehearsal prints it (2026-12-09 09:00 UTC), not 2026-12-09T09:00:00+00:00
    runner.fire(ctx, "postmortem_due", incident, {"due": fmt_utc(when), "overdue": as_utc(ctx.now()) >= when},
                occurrence=f"postmortem_due:{when.isoformat()}")


# -- no_update ---------------------------------------------------------------------------------------------------
def _quiet_workflows(container: Container) -> list[Workflow]:
    return [wf for wf in loading.current(container).enabled() if wf.trigger == "no_update"]


def _probe(ctx: Context, fields: dict[str, Any], minutes: int) -> Event:
    return Event("no_update", fields, {"minutes": minutes}, ctx.now(), current_depth())


def _wf_key(wf: Workflow) -> str:
    return hashlib.sha1(wf.name.encode()).hexdigest()[:10]


def arm_quiet(ctx: Context, incident: Incident, base: datetime, fields: dict[str, Any] | None = None) -> None:
    """(Re)arm each `no_update` workflow's timer from `base` (the last update); disarm those that cannot match.
    `fields`: the incident's, when the hook has read them already (else read here once, for all the workflows)."""
    nudge = False
    quiet = _quiet_workflows(ctx.app)
    if fields is None and any(wf.trigger_args.get("after") == "update_nudge" for wf in quiet):
        fields = events.incident_fields(ctx, incident)  # the nudge's workflows are matched now; the others when due
    for wf in quiet:
        after = wf.trigger_args.get("after")
        if after == "update_nudge":
            nudge = nudge or matches(wf, _probe(ctx, fields or {}, ctx.app.settings.update_nudge_minutes))
            continue
        prefix = f"wf-quiet:{incident.id}:{_wf_key(wf)}:"
        seconds = parse_duration(str(after)) if after else None
        with ctx.session() as session:
            timers.cancel_prefix(session, prefix)
            if not incident.is_open or not seconds:
                continue
            due = as_utc(base) + clock.fast(ctx.app.settings, timedelta(seconds=seconds))
            timers.arm(session, QUIET_JOB, timers.timer_key(prefix.rstrip(":"), due), due,
                       {"incident_id": incident.id, "workflow": wf.name, "base": as_utc(base).isoformat(),
                        "seconds": seconds}, now=ctx.now())
    if nudge:
        clock.arm_nudge(ctx, incident, base)
    else:
        clock.stop_all(ctx, incident, ("nudge",))


def on_quiet(ctx: Context, incident: Incident, seconds: float = 0, nudge: int = 1, due: str = "", **_: Any) -> None:
    """The response clock's update nudge came without an update: the `update_nudge` workflows that match now run
    their steps (once per nudge: its due time is the occurrence)."""
    event = make_event(ctx, "no_update", incident, {"minutes": int(seconds // 60), "nudge": nudge,
                                                    "quiet_seconds": seconds})
    for wf in _quiet_workflows(ctx.app):
        if wf.trigger_args.get("after") == "update_nudge" and matches(wf, event):
            runner.start(ctx, event, incident.id, occurrence=f"no_update:nudge:{due or nudge}", only=wf)


def quiet_job(container: Container, payload: dict[str, Any], job=None) -> None:
    """A `no_update` timer: still quiet since `base`? Then the workflow runs (once per quiet spell)."""
    ctx = job_context(container)
    incident = steps.job_incident(ctx, payload)
    if incident is None:
        return
    base = datetime.fromisoformat(payload["base"])
    last = as_utc(incident.last_update_at or incident.declared_at)
    if not incident.is_open or last > as_utc(base):
        return
    wf = next((w for w in _quiet_workflows(container) if w.name == payload.get("workflow")), None)
    if wf is None:
        return
    minutes = int((ctx.now() - last).total_seconds() // 60)
    event = make_event(ctx, "no_update", incident, {"minutes": minutes})
    if matches(wf, event):
        runner.start(ctx, event, incident.id, occurrence=f"no_update:{as_utc(base).isoformat()}", only=wf)


# -- /incident workflows -----------------------------------------------------------------------------------------
def workflows_command(ctx: Context, args, incident: Incident) -> Reply:
    """What ran for this incident, step by step, and what is still to come."""
    with ctx.session() as session:
        runs = runner.runs_for(session, incident.id)
        pending = runner.scheduled_for(session, incident.id)
        for row in [*runs, *pending]:
            session.expunge(row)
    held = loading.current(ctx.app)
    lines: list[str] = []
    for run in runs:
        mark = {"done": ":white_check_mark:", "failed": ":warning:", "running": ":hourglass_flowing_sand:"}.get(
            run.status, "")
        lines.append(f"{mark} *{escape(run.workflow)}* ({run.trigger}, {fmt_utc(run.started_at)}): {run.status}")
        for entry in run.steps or []:
            lines.append(f"    {escape(step_line(entry))}")
    for job in pending:
        what = f"step {int(job.payload.get('index', 0)) + 1} of run {job.payload.get('run_id')}" \
            if job.kind == runner.STEP_JOB else f"reminder of “{escape(str(job.payload.get('workflow')))}”"
        lines.append(f":clock3: scheduled {fmt_utc(job.run_at)}: {what}")
    if not lines:
        lines.append("No workflow has run for this incident yet.")
    lines.append(f"Workflows in force: {escape(held.source)}" + (f" (:warning: {escape(held.problem)})"
                                                                  if held.problem else ""))
    return Reply(f"*Workflows for #{incident.id}*", lines=lines[:45])


def register(registry: Registry) -> None:
    registry.on(Hooks.INCIDENT_DECLARED)(on_declared)
    registry.on(Hooks.INCIDENT_SEVERITY_CHANGED)(on_severity_changed)
    registry.on(Hooks.INCIDENT_ACKNOWLEDGED)(on_acknowledged)
    registry.on(Hooks.INCIDENT_STATUS_CHANGED)(on_status_changed)
    registry.on(Hooks.INCIDENT_RESOLVED)(on_resolved)
    registry.on(Hooks.INCIDENT_UPDATED)(on_updated)
    registry.on(Hooks.INCIDENT_LEAD_CHANGED)(on_lead_changed)
    registry.on(Hooks.INCIDENT_ROLE_CHANGED)(on_role_changed)
    registry.on(Hooks.PLAYBOOK_FINISHED)(on_playbook_finished)
    registry.on(Hooks.PLAYBOOK_PROPOSED)(on_playbook_finished)  # outcome "planned"
    registry.on(Hooks.ALERT_RECEIVED)(on_alert_received)
    registry.on(Hooks.POSTMORTEM_DUE)(on_postmortem_due)
    registry.on(Hooks.INCIDENT_QUIET)(on_quiet)
    registry.job(runner.STEP_JOB)(runner.run_step_job)
    registry.job(steps.REMIND_JOB)(steps.remind_job)
    registry.job(QUIET_JOB)(quiet_job)
    incident_cmd = registry.command("incident", "declare and run incidents")
    incident_cmd.sub("workflows", "workflows [#N]", "what the team's workflows did for this incident and what is "
                                                   "scheduled", workflows_command, incident="any")


def register_check(registry: Registry) -> None:
    registry.check("workflows")(loading.check_workflows)
