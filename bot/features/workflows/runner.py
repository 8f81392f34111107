"""The runner: an incident's event becomes runs of the workflows that match it, each step a durable job.

Exactly once: a run is claimed by inserting its (workflow, incident, occurrence) row, whose unique constraint
lets one replica (or one retry) win; each step is a job with the key `wf-step:<run>:<index>`, and the run
advances by a conditional UPDATE on `next_step`, the same rule as jobs' claim. The steps a run will take are
copied into its row when it is claimed, so editing the file mid-incident never changes a run under way.

An `alert_received` run may have no incident (the alert arrived and joined none yet): its row has `alert_id`,
whose own unique constraint makes it the same run when the alert later joins an incident, so the workflow does
not run again; its steps that need an incident fail, each saying so, and a failure is said in the incidents
channel (there is no incident channel yet).

A failed step says why in the incident channel and the next one still runs. A step's own effects (a role set,
a severity raised by a playbook) may be events for other workflows: they carry the run's depth plus one, and
an event at `MAX_DEPTH` starts nothing (said once in the timeline), so no workflow can trigger itself forever.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.core.clock import as_utc
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.core.reply import Reply, escape
from bot.service import incidents as svc, jobs
from bot.store.models import Incident, Job, PlaybookAudit, WorkflowRun
from bot.features.workflows import loading, steps as step_kinds
from bot.features.workflows.events import (DEPTH, event_dict, event_from, incident_fields, make_event,
                                           occurrence_key, step_dict)
from bot.features.workflows.steps import StepFailed
from playbooks.workflows import (DEFAULT_FILE, MAX_DEPTH, Event, Step, TemplateRefused, Workflow, matches,
                                step_line)
from playbooks.workflows.conditions import holds, waits_for_an_incident

log = logging.getLogger(__name__)

STEP_JOB = "workflows.step"

def in_timeline(source: str) -> bool:
    """Runs of the default file stay out of the incident's timeline (and so its postmortem) and the audit log:
    with no team file Fireline must read exactly as before workflows were data. They are in workflow_runs (its
    own record of every run and step) and `/incident workflows`; a team file's runs are in all of them."""
    path = source.rsplit(":", 1)[0] if source.rsplit(":", 1)[-1].isdigit() else source
    return not (path == str(DEFAULT_FILE) or path.endswith(f"playbooks/data/{DEFAULT_FILE.name}"))


# -- starting runs --------------------------------------------------------------------------------------------
def fire(ctx: Context, trigger: str, incident: Incident, detail: dict[str, Any] | None = None, *,
         occurrence: str = "") -> list[int]:
    """Start every enabled workflow `trigger` matches for the incident; returns the new runs' ids."""
    event = make_event(ctx, trigger, incident, detail)
    return start(ctx, event, incident.id, occurrence=occurrence)


def start(ctx: Context, event: Event, incident_id: int | None, *, occurrence: str = "",
          only: Workflow | None = None, alert_id: int | None = None) -> list[int]:
    wanted = [only] if only is not None else [wf for wf in loading.current(ctx.app).enabled()
                                               if _matches(wf, event)]
    if incident_id is None:  # an alert with no incident yet: what can only act on an incident waits for one
        wanted = [wf for wf in wanted if not waits_for_an_incident(wf)]
    if not wanted:
        return []
    if event.depth >= MAX_DEPTH and incident_id is not None:
        _refuse_depth(ctx, event, incident_id, wanted)
        return []
    key = occurrence or occurrence_key(event)
    started = []
    for wf in wanted:
        run_id = claim(ctx, wf, event, incident_id, key, alert_id=alert_id)
        if run_id is not None:
            started.append(run_id)
    return started


def _matches(wf: Workflow, event: Event) -> bool:
    try:
        return matches(wf, event)
    except Exception:  # a condition the loader let through but cannot be read now: that workflow only
        log.exception("workflow %r: its conditions could not be read", wf.name)
        return False


def _refuse_depth(ctx: Context, event: Event, incident_id: int, wanted: list[Workflow]) -> None:
    names = ", ".join(wf.name for wf in wanted)
    text = (f"Workflows not started: {names} (a {event.trigger} caused by workflows {event.depth} deep; the limit is "
            f"{MAX_DEPTH}, so a workflow cannot trigger itself forever)")
    with ctx.session() as session:
        incident = svc.get_incident(session, incident_id)
        svc.record(session, incident, "workflow_refused", "fireline", text[:2000],
                   {"workflows": [wf.name for wf in wanted], "depth": event.depth, "trigger": event.trigger},
                   at=ctx.now(), dedup_key=f"wf-depth:{event.trigger}:{event.depth}:{names}"[:200])
        session.add(PlaybookAudit(incident_id=incident_id, actor="fireline", action="workflow_refused",
                                  detail=text[:2000], data={"depth": event.depth}, at=ctx.now()))


def claim(ctx: Context, wf: Workflow, event: Event, incident_id: int | None, occurrence: str, *,
          alert_id: int | None = None) -> int | None:
    """Insert the run's row and queue its first step, in one transaction; None if this occurrence already ran
    (for an alert's run: if this workflow already ran for the alert, with or without an incident)."""
    now = ctx.now()
    run = WorkflowRun(workflow=wf.name[:120], incident_id=incident_id, alert_id=alert_id, occurrence=occurrence,
                      trigger=event.trigger,
                      depth=event.depth, source=wf.where[:300], status="running", next_step=0, steps=[],
                      event={"event": event_dict(event), "plan": [step_dict(s) for s in wf.steps]},
                      started_at=now)
    with ctx.session() as session:
        try:
            with session.begin_nested():
                session.add(run)
                session.flush()
        except IntegrityError:
            return None
        steps = f"{len(wf.steps)} step" + ("s" if len(wf.steps) != 1 else "")  # "1 step", not "1 steps"
        text = f"Workflow “{wf.name}” started ({_trigger_words(event)}; {steps}, {wf.where})"
        if in_timeline(wf.source) and incident_id is not None:
            incident = svc.get_incident(session, incident_id)
            svc.record(session, incident, "workflow_run", "fireline", text,
                       {"run_id": run.id, "workflow": wf.name, "trigger": event.trigger, "depth": event.depth},
                       at=now)
            session.add(PlaybookAudit(incident_id=incident_id, actor="fireline", action="workflow_run", detail=text,
                                      data={"run_id": run.id, "occurrence": occurrence}, at=now))
        if wf.steps:
            jobs.enqueue(session, STEP_JOB, {"run_id": run.id, "index": 0, "incident_id": incident_id},
                         dedup_key=f"wf-step:{run.id}:0", now=now)
        else:
            run.status, run.finished_at = "done", now
            session.add(run)
        return run.id


def _trigger_words(event: Event) -> str:
    d = event.detail
    if event.trigger == "severity_changed":
        return f"severity SEV{d.get('old_severity')} → SEV{d.get('new_severity')}"
    if event.trigger == "state_changed":
        return f"state {d.get('old_state')} → {d.get('new_state')}"
    if event.trigger == "role_assigned":
        return f"{d.get('role')}: {d.get('person')}"
    if event.trigger == "no_update":
        return f"no update for {d.get('minutes')} min"
    return event.trigger.replace("_", " ")


# -- running steps ----------------------------------------------------------------------------------------------
def run_step_job(container: Container, payload: dict[str, Any], job=None) -> None:
    run_id, index = int(payload["run_id"]), int(payload["index"])
    ctx = job_context(container)
    with ctx.session() as session:
        run = session.get(WorkflowRun, run_id)
        if run is None or run.next_step != index or run.status != "running":
            return  # done before (a retried job): nothing twice
        plan = list(run.event.get("plan") or [])
        event = event_from(run.event["event"])
        incident = session.get(Incident, run.incident_id) if run.incident_id is not None else None
        if incident is None and run.incident_id is None and run.alert_id is not None:
            # declared or linked since it arrived: the run is the incident's from here on, so its steps act on it
            # and keep to its rules, and its outcomes are said in its channel, not in #incidents
            incident = step_kinds.joined_incident(session, run.alert_id)
            if incident is not None:
                run.incident_id = incident.id
                session.flush()
        session.expunge(run)
        if incident is not None:
            session.expunge(incident)
    if index >= len(plan) or (incident is None and run.incident_id is not None):
        return
    if index and _wait_over(ctx, run, plan[index - 1], incident, event):
        skip_rest(ctx, run, index, len(plan))
        return
    spec = plan[index]
    step = Step(spec["kind"], spec.get("args") or {}, int(spec.get("line") or 0), index)
    delay: timedelta | None = None
    token = DEPTH.set(run.depth + 1)
    try:
        outcome = step_kinds.run(ctx, run, incident, step, event)
        ok, text = True, outcome.text
        delay = outcome.delay
    except (StepFailed, TemplateRefused) as exc:  # in words already: "no incident yet: ...", a template's fault
        ok, text = False, str(exc)
    except Exception as exc:  # any other failure: said in the channel, the others go on
        log.exception("workflow %r step %s (%s) failed", run.workflow, index + 1, step.kind)
        ok, text = False, f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        DEPTH.reset(token)
    advance(ctx, run, step, ok, text, len(plan), delay)


def _wait_over(ctx: Context, run: WorkflowRun, before: dict[str, Any], incident: Incident | None,
               event: Event) -> bool:
    """The step before was a `wait` with `unless`: do its conditions hold now that the wait ended?"""
    unless = (before.get("args") or {}).get("unless") if before.get("kind") == "wait" else None
    if not unless:
        return False
    waited = next((s for s in reversed(run.steps or []) if s.get("index") == before.get("index")), None)
    since = datetime.fromisoformat(waited["at"]) if waited and waited.get("at") else None
    # an alert's run with no incident: nothing was updated, and only alert conditions hold
    fields = incident_fields(ctx, incident) if incident is not None else {}
    updated = bool(incident is not None and since and incident.last_update_at
                   and as_utc(incident.last_update_at) > as_utc(since))
    return holds(dict(unless), Event(event.trigger, fields, dict(event.detail), ctx.now(), event.depth),
                 {"updated": updated})


def skip_rest(ctx: Context, run: WorkflowRun, index: int, total: int) -> bool:
    """The wait's conditions held: the remaining steps are skipped (recorded once, by the same conditional UPDATE)."""
    now = ctx.now()
    text = f"the wait's `unless` held: the remaining {total - index} step(s) skipped"
    entry = {"index": index, "kind": "skipped", "ok": True, "text": text, "at": now.isoformat(), "line": 0}
    failed_before = any(not s.get("ok") for s in run.steps or [])
    with ctx.session() as session:
        result = session.execute(
            update(WorkflowRun).where(col(WorkflowRun.id) == run.id, col(WorkflowRun.next_step) == index)
            .values(next_step=total, steps=[*(run.steps or []), entry], finished_at=now,
                    status="failed" if failed_before else "done"))
        if result.rowcount != 1:
            return False
        if in_timeline(run.source) and run.incident_id is not None:
            incident = svc.get_incident(session, run.incident_id)
            words = f"Workflow “{run.workflow}”: {text}"
            svc.record(session, incident, "workflow_step", "fireline", words[:2000],
                       {"run_id": run.id, "index": index, "kind": "skipped", "ok": True}, at=now)
            session.add(PlaybookAudit(incident_id=run.incident_id, actor="fireline", action="workflow_step",
                                      detail=words[:2000], data={"run_id": run.id, "index": index}, at=now))
    return True


def advance(ctx: Context, run: WorkflowRun, step: Step, ok: bool, text: str, total: int,
            delay: timedelta | None) -> bool:
    """Record the step's outcome once (conditional UPDATE on next_step) and queue the next step."""
    now = ctx.now()
    entry = {"index": step.index, "kind": step.kind, "ok": ok, "text": text[:500], "at": now.isoformat(),
             "line": step.line}
    last = step.index + 1 >= total
    failed_before = any(not s.get("ok") for s in run.steps or [])
    status = "running" if not last else ("failed" if failed_before or not ok else "done")
    with ctx.session() as session:
        result = session.execute(
            update(WorkflowRun).where(col(WorkflowRun.id) == run.id, col(WorkflowRun.next_step) == step.index)
            .values(next_step=step.index + 1, steps=[*(run.steps or []), entry], status=status,
                    finished_at=now if last else None))
        if result.rowcount != 1:
            return False
        incident = svc.get_incident(session, run.incident_id) if run.incident_id is not None else None
        words = f"Workflow “{run.workflow}” {step_line(entry)}"
        if incident is not None and (in_timeline(run.source) or not ok):
            svc.record(session, incident, "workflow_step", "fireline", words[:2000],
                       {"run_id": run.id, "index": step.index, "kind": step.kind, "ok": ok}, at=now)
            session.add(PlaybookAudit(incident_id=run.incident_id, actor="fireline",
                                      action="workflow_step" if ok else "workflow_step_failed", detail=words[:2000],
                                      data={"run_id": run.id, "index": step.index, "line": step.line}, at=now))
        if not last:
            jobs.enqueue(session, STEP_JOB, {"run_id": run.id, "index": step.index + 1,
                                             "incident_id": run.incident_id},
                         run_at=now + delay if delay else None, dedup_key=f"wf-step:{run.id}:{step.index + 1}",
                         now=now)
    if not ok:
        reply = Reply(
            f":warning: Workflow “{escape(run.workflow)}”, step {step.index + 1} ({step.kind}) failed: {escape(text)}",
            lines=[("The other steps go on. " if not last else "") +
                   f"The step is at {escape(run.source.rsplit(':', 1)[0])}:{step.line}."])
        if incident is not None:
            svc.announce(ctx, incident, reply)
        else:  # an alert's run with no incident: said where the alert itself was posted
            reply.text += f" (alert #{run.alert_id}, no incident yet)"
            ctx.chat.post(f"#{ctx.app.settings.incidents_channel_name}", reply.public())
    return True


# -- reading ---------------------------------------------------------------------------------------------------
def runs_for(session, incident_id: int) -> list[WorkflowRun]:
    return list(session.exec(select(WorkflowRun).where(WorkflowRun.incident_id == incident_id)
                             .order_by(col(WorkflowRun.started_at), col(WorkflowRun.id))).all())


def scheduled_for(session, incident_id: int) -> list[Any]:
    """Pending step and reminder jobs of the incident's runs (what is still to come)."""
    rows = session.exec(select(Job).where(col(Job.status) == "pending",
                                          col(Job.kind).in_([STEP_JOB, step_kinds.REMIND_JOB]))).all()
    return [row for row in rows if int((row.payload or {}).get("incident_id") or 0) == incident_id]
