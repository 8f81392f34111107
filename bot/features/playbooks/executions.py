"""Playbook executions: plan -> Confirm -> run step by step -> audit, stored before anything is said.

The life of an execution (see bot/store/models/playbook.py for the states):

1. `propose()` plans (read-only Fly calls) and stores the plan; the front end shows it with
   Confirm/Cancel buttons carrying the execution id and a random nonce.
2. `confirm()` checks the nonce (a forged or stale button is refused), the person (RESPONDERS),
   the plan's age, then in ONE transaction: `UPDATE ... WHERE status = 'proposed'` (a second
   click matches no row), inserts the app's mitigation lock (a second mitigation fails on the
   primary key), and enqueues the durable job. Refusals are audited too.
3. The job (`execute()`) claims the execution (`queued -> running`), posts ONE progress message
   and edits it after every step, stores each step's result with Fly's request ids, stops at the
   first failure, releases the lock and writes the outcome to the incident's timeline.
4. A step that needs a person (a manual command, or its own Confirm) parks the execution in
   `waiting`; the person's press re-queues it from that step.
5. `recover_interrupted()` (at start-up, and when a lock looks abandoned) marks executions whose
   process died as `interrupted` and says in their channel what was done and what was not.
"""

from __future__ import annotations

import contextvars
import functools
import hmac
import logging
import os
import re
import secrets
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.core import metrics
from bot.core.chat import MessageRef, person
from bot.core.clock import as_utc, fmt_duration, fmt_utc
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.store.db import session_scope
from bot.core.errors import NotAuthorized, UserError
from bot.core.hooks import Hooks
from bot.store.models import CanaryRun, Incident, MitigationLock, PlaybookAudit, PlaybookExecution
from bot.store.models.deploy import CANARY_OPEN
from bot.store.models.playbook import ACTIVE
from bot.core.reply import Button, Reply, escape, mention
from bot.service import incidents as svc
from bot.service import jobs, lookups
from bot.features.playbooks.env import build_env, close_env
from bot.features.playbooks.render import (
    Actions,
    button_value,
    dry_run_words,
    nothing_sent,
    plan_reply,
    progress_reply,
    tally,
)
from bot.service.responders import describe_responders, may_confirm
from playbooks.canary import tag
from playbooks.framework import Blocked, Plan, Playbook, Refused, ServiceError, StepResult, recorded_steps

log = logging.getLogger(__name__)

EXECUTE_JOB = "playbook.execute"
PLAN_TTL = timedelta(minutes=15)
STALE_HEARTBEAT = timedelta(minutes=10)
LIVE_EDIT_SECONDS = 3.0  # at most one live progress edit this often (steps and the outcome always show)
HEARTBEAT_SECONDS = 1.0  # a step's progress lines store the heartbeat at most this often (stale after minutes)


# -- lookups ------------------------------------------------------------------------------------------
def playbook_named(container: Container, name: str) -> Playbook:
    playbook = container.registry.playbooks.get(name)
    if playbook is None:
        raise UserError(f"The playbook `{escape(name)}` is no longer installed, so this cannot continue.")
    return playbook


@functools.cache
def process_identity() -> tuple[str, int, str]:
    """(host, pid, token): the token tells this process from an earlier one that had the same pid."""
    return socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8]


def worker_label() -> str:
    host, pid, token = process_identity()
    return f"{host}:{pid}:{token}"


def attached_incident(ctx: Context, number: int | None, channel: str | None) -> Incident | None:
    """`#N` (`number`) wins; in an incident channel (`channel` as named, or the one typed in), that incident;
    elsewhere none (standalone, said in the plan).

    Resolved by the one rule (bot/service/lookups.py): a private incident is, for a non-member, a number that
    does not exist, before "is resolved" or anything else could say otherwise.
    """
    with ctx.session() as session:
        incident = svc.named_incident(ctx, session, number, channel)
    if incident is not None:
        svc.ensure_open(incident, "Or run the command outside an incident channel to run it standalone.")
    return incident


def audit(session: Session, ctx_user: str, action: str, detail: str, *, execution: PlaybookExecution | None = None,
          data: dict[str, Any] | None = None, at: datetime | None = None) -> None:
    session.add(PlaybookAudit(execution_id=execution.id if execution else None,
                              incident_id=execution.incident_id if execution else None, actor=ctx_user or "unknown",
                              action=action, detail=detail[:2000], data=data or {}, **({"at": at} if at else {})))


def _timeline(session: Session, execution: PlaybookExecution, kind: str, actor: str, text: str,
              data: dict[str, Any] | None = None, at: datetime | None = None) -> None:
    if execution.incident_id is None:
        return
    incident = session.get(Incident, execution.incident_id)
    if incident is not None:
        svc.record(session, incident, kind, actor or "fireline", text,
                   {"execution_id": execution.id, "playbook": execution.playbook, "dry_run": execution.dry_run,
                    **(data or {})}, at=at)


def current_holder(session: Session, app: str) -> PlaybookExecution | None:
    lock = session.get(MitigationLock, app)
    return session.get(PlaybookExecution, lock.execution_id) if lock else None


def busy_sentence(execution: PlaybookExecution) -> str:
    plan = Plan.from_dict(execution.plan)
    if execution.status == "waiting":
        state = f"waiting for a person at step {execution.current_step + 1} of {len(plan.steps)}"
    else:
        state = f"{execution.status}, step {min(execution.current_step + 1, len(plan.steps))} of {len(plan.steps)}"
    where = f" for #{execution.incident_id}" if execution.incident_id else ""
    return (f"{escape(execution.app)} already has a mitigation in progress: {escape(plan.title)}{where} "
            f"(execution {execution.id}), confirmed by {mention(execution.confirmed_by)} at "
            f"{fmt_utc(execution.confirmed_at)}, {state}.")


CANARY_DECISIONS = ("canary-promote", "canary-discard")


def open_canary(session: Session, app: str, dry_run: bool) -> CanaryRun | None:
    """The canary run holding `app` now (from its Confirm to its Promote or Discard), if any.

    A drill's canary holds only drills: it lives on the example fleet, and a forgotten one must not stop a real
    `/restart` during an incident."""
    return session.exec(select(CanaryRun).where(CanaryRun.app == app, col(CanaryRun.status).in_(CANARY_OPEN),
                                                CanaryRun.dry_run == bool(dry_run))
                        .order_by(col(CanaryRun.id))).first()


def canary_hold(ctx: Context, playbook: Playbook, app: str, params: dict[str, Any], dry_run: bool) -> None:
    """Refuse a destructive playbook on an app whose canary is open.

    The mitigation lock is held only while an execution runs, and a canary's watch lies between two executions
    (its create, then Promote or Discard): a `/restart`, `/rollback` or `/scale` there would restart or replace the
    canary machine too, and a second canary would be judged against a fleet holding the first. Only the open
    run's own Promote and Discard pass."""
    if not playbook.destructive or not app:
        return
    with ctx.session() as session:
        run = open_canary(session, app, dry_run)
        if run is None:
            return
        mine = (str(params.get("run", "")) == str(run.id)
                or bool(run.machine_id and params.get("canary") == run.machine_id))
        if playbook.name in CANARY_DECISIONS and mine:
            return
        text = (f"{escape(app)} has a canary open: `{escape(tag(run.image))}` on machine "
                f"`{escape(run.machine_id or '?')}` ({run.status}), started by {mention(run.started_by)}. "
                f"`{escape(playbook.invocation)}` would act on the canary too, so it was not planned.")
        audit(session, ctx.user_id, "refused", f"{playbook.invocation}: canary run {run.id} is open on {app}",
              data={"canary_run": run.id, "playbook": playbook.name}, at=ctx.now())
    raise UserError(text, "Promote or Discard the canary first: `/deploy promote` or `/deploy discard` (or the "
                          f"buttons on its verdict), then run `{playbook.invocation}` again.")


# -- 1. plan ------------------------------------------------------------------------------------------
def propose(ctx: Context, playbook: Playbook, params: dict[str, Any],
            incident: Incident | None, *, dry_run: bool | None = None) -> tuple[PlaybookExecution | None, Plan]:
    """Plan (read-only) and store the plan; a blocked plan is audited but not stored as an execution.

    `dry_run=True`: on the example fleet even with FLY_API_TOKEN set (a canary drill); None: as the settings say."""
    env = build_env(ctx.app, incident_title=incident.title if incident else "",
                    reference=f"#{incident.id}" if incident else "standalone", dry_run=dry_run)
    try:
        plan = make_plan(playbook, env, params)
    finally:
        close_env(env)
    dry_run_words(playbook, env, plan)
    canary_hold(ctx, playbook, plan.app, params, plan.dry_run)  # before a blocked plan's reason: it says what to type
    with ctx.session() as session:
        if plan.blocked:
            audit(session, ctx.user_id, "plan_blocked", f"{playbook.invocation}: {plan.blocked}",
                  data={"params": params, "incident_id": incident.id if incident else None}, at=ctx.now())
            return None, plan
        execution = PlaybookExecution(playbook=playbook.name, app=plan.app,
                                      incident_id=incident.id if incident else None, status="proposed",
                                      dry_run=plan.dry_run, nonce=secrets.token_urlsafe(12),
                                      plan=plan.to_dict(), results=[{"status": "pending"} for _ in plan.steps],
                                      channel_id=(incident.channel_id if incident and incident.channel_id
                                                  else ctx.channel_id),
                                      source=ctx.source, proposed_by=ctx.user_id, proposed_at=ctx.now())
        session.add(execution)
        session.flush()
        audit(session, ctx.user_id, "proposed", f"{playbook.invocation}: {plan.title}", execution=execution,
              data={"params": params}, at=ctx.now())
    ctx.app.registry.emit(Hooks.PLAYBOOK_PROPOSED, ctx, execution=execution, plan=plan)
    return execution, plan


def make_plan(playbook: Playbook, env, params: dict[str, Any]) -> Plan:
    """The playbook's plan; a `Blocked` raised anywhere in it becomes a plan that cannot run."""
    try:
        return playbook.plan(env, params)
    except Blocked as exc:
        return Plan(playbook.name, env.app, playbook.invocation, params=params, blocked=exc.message, hints=exc.hints)


def plan_answer(ctx: Context, playbook: Playbook, execution: PlaybookExecution | None, plan: Plan,
                incident: Incident | None) -> Reply:
    warning = None
    if execution is not None and playbook.destructive:
        with ctx.session() as session:
            holder = current_holder(session, plan.app)
            if holder is not None:
                warning = f"{busy_sentence(holder)} Confirm will be refused until it ends."
    responders = describe_responders(ctx.app.settings.responder_list)
    if ctx.is_console:  # read here, not in Slack: the console's own user may confirm too (responders.may_confirm)
        responders += ", and you at this console"
    return plan_reply(plan, playbook, execution, incident, responders,
                      int(PLAN_TTL.total_seconds() // 60), warning)


def run_now(ctx: Context, playbook: Playbook, params: dict[str, Any],
            incident: Incident | None) -> tuple[Plan, list[StepResult], PlaybookExecution | None]:
    """Read-only playbooks (diagnose): plan and run at once, stored and written to the timeline."""
    env = build_env(ctx.app, incident_title=incident.title if incident else "",
                    reference=f"#{incident.id}" if incident else "standalone",
                    incident_started=incident.declared_at if incident else None)
    results: list[StepResult] = []
    try:
        plan = make_plan(playbook, env, params)
        dry_run_words(playbook, env, plan)
        if plan.blocked:
            return plan, [], None
        for step in plan.steps:
            mark = len(env.fly.journal)
            result = _run_step_safely(playbook, env, plan, step, lambda text: None)
            result.data.setdefault("calls", [c.as_dict() for c in env.fly.journal[mark:]])
            results.append(result)
            if not result.ok:
                break
    finally:
        close_env(env)
    status = "succeeded" if results and all(r.ok for r in results) else "failed"
    metrics.playbook_run(playbook.name, ok=status == "succeeded")
    with ctx.session() as session:
        execution = PlaybookExecution(
            playbook=playbook.name, app=plan.app, incident_id=incident.id if incident else None, status=status,
            dry_run=plan.dry_run, nonce=secrets.token_urlsafe(12), plan=plan.to_dict(),
            results=[_result_dict(r) for r in results], current_step=len(results), channel_id=ctx.channel_id,
            source=ctx.source, proposed_by=ctx.user_id, proposed_at=ctx.now(), confirmed_by=ctx.user_id,
            confirmed_at=ctx.now(), started_at=ctx.now(), finished_at=ctx.now(),
            outcome=results[-1].summary if results else "")
        session.add(execution)
        session.flush()
        audit(session, ctx.user_id, "ran", f"{playbook.invocation}: {plan.title}", execution=execution,
              data={"params": params}, at=ctx.now())
        summary = "; ".join(r.summary for r in results)
        _timeline(session, execution, f"playbook_{playbook.name}"[:40], ctx.user_id,
                  ("[dry run] " if plan.dry_run else "") + f"{plan.title}: {summary}",
                  {"details": [line for r in results for line in r.details][:60]}, at=ctx.now())
    # A read-only run is over once it has run: the same hook as a confirmed run's end, so a workflow's
    # `playbook_finished: {playbook: diagnose}` runs (it never did: only confirmed runs emitted it).
    ctx.app.registry.emit(Hooks.PLAYBOOK_FINISHED, ctx, execution=execution, plan=plan)
    return plan, results, execution


# -- 2. confirm, cancel, stop -------------------------------------------------------------------------
def _parse_value(value: str) -> tuple[int | None, str, int | None]:
    parts = (value or "").split(":")
    execution_id = int(parts[0]) if re.fullmatch(r"[0-9]{1,12}", parts[0]) else None  # "²".isdigit() is true
    nonce = parts[1] if len(parts) > 1 else ""
    step = int(parts[2]) if len(parts) > 2 and re.fullmatch(r"[0-9]{1,6}", parts[2]) else None
    return execution_id, nonce, step


def _checked(ctx: Context, value: str, what: str) -> tuple[PlaybookExecution, Playbook, int | None]:
    """The execution a button names, after checking the nonce and the person; refusals are audited."""
    execution_id, nonce, step = _parse_value(value)
    who = person(ctx.chat, ctx.user_id)  # a name for the record, looked up (cached) outside the transaction
    with ctx.session() as session:  # the refusal is committed before it is raised
        execution = session.get(PlaybookExecution, execution_id) if execution_id else None
        seen = execution is not None and _visible(ctx, session, execution)
        forged = not seen or not nonce or not hmac.compare_digest(execution.nonce, nonce)
        if forged:
            audit(session, ctx.user_id, "refused", f"{what}: the button does not match a plan Fireline showed",
                  execution=execution, data={"value": (value or "")[:120], "source": ctx.source}, at=ctx.now())
            if seen:  # the audit keeps a non-member's try; the private incident's timeline is its members'
                _timeline(session, execution, "playbook_refused", ctx.user_id,
                          f"Refused {what} by {who}: the button did not match the plan shown", at=ctx.now())
    if forged:
        raise NotAuthorized(f"That {what} button does not match a plan Fireline showed, so nothing was done "
                                "(and this was recorded).", "Run the command again to get a fresh plan.")
    playbook = playbook_named(ctx.app, execution.playbook)
    decision = may_confirm(ctx, playbook.who)
    if not decision.allowed:
        plan = Plan.from_dict(execution.plan)
        with ctx.session() as session:
            audit(session, ctx.user_id, "refused", f"{what} of {plan.title}: {decision.why}", execution=execution,
                  at=ctx.now())
            _timeline(session, execution, "playbook_refused", ctx.user_id,
                      f"Refused {what} of {plan.title} by {who}: {decision.why}", at=ctx.now())
        raise NotAuthorized(f"You may not {what.lower()} this: {decision.why}. Nothing was done, and the refusal "
                            "was recorded.",
                            f"Ask one of {describe_responders(ctx.app.settings.responder_list)} to press it.")
    return execution, playbook, step


def _visible(ctx: Context, session: Session, execution: PlaybookExecution) -> bool:
    """A plan of a private incident, pressed by a non-member (a forwarded message), is a plan they never saw."""
    return lookups.sees(ctx, session, execution.incident_id)


def _already(execution: PlaybookExecution) -> str:
    plan = Plan.from_dict(execution.plan)
    if execution.status in ACTIVE:
        return (f"Already confirmed by {mention(execution.confirmed_by)} at {fmt_utc(execution.confirmed_at)}: "
                f"{escape(plan.title)} is {execution.status}. Nothing more was started.")
    if execution.status == "cancelled":
        return "This plan was cancelled. Run the command again for a fresh plan."
    if execution.status == "expired":
        return "This plan expired. Run the command again for a fresh plan."
    return (f"This plan already ran (confirmed by {mention(execution.confirmed_by)} at "
            f"{fmt_utc(execution.confirmed_at)}) and {execution.status}. Run the command again for a fresh plan.")


def confirm(ctx: Context, value: str) -> Reply:
    execution, playbook, _ = _checked(ctx, value, "Confirm")
    if execution.status != "proposed":
        with ctx.session() as session:
            audit(session, ctx.user_id, "confirm_ignored", f"already {execution.status}", execution=execution,
                  at=ctx.now())
        return Reply(_already(execution))
    plan = Plan.from_dict(execution.plan)
    if as_utc(ctx.now()) - as_utc(execution.proposed_at) > PLAN_TTL:
        with ctx.session() as session:
            session.execute(update(PlaybookExecution).where(col(PlaybookExecution.id) == execution.id,
                                                            col(PlaybookExecution.status) == "proposed")
                            .values(status="expired", finished_at=ctx.now()))
            audit(session, ctx.user_id, "expired", "confirmed too late", execution=execution, at=ctx.now())
        age = fmt_duration((as_utc(ctx.now()) - as_utc(execution.proposed_at)).total_seconds())
        raise UserError(f"This plan is {age} old and the fleet may have changed since, so it was not run.",
                        f"Run `{playbook.invocation}` again for a fresh plan.")
    canary_hold(ctx, playbook, execution.app, plan.params, execution.dry_run)  # a plan made before the canary
    for attempt in range(2):
        try:
            started = _start(ctx, execution, playbook, plan)
        except IntegrityError:  # the app's mitigation lock is held
            with ctx.session() as session:
                holder = current_holder(session, execution.app)
            if attempt == 0 and holder is not None and _abandoned(ctx.app, holder):
                recover_interrupted(ctx.app, ctx.chat, only=[holder.id])
                continue
            with ctx.session() as session:
                holder = current_holder(session, execution.app)
                text = busy_sentence(holder) if holder else f"{execution.app} is busy."
                audit(session, ctx.user_id, "refused", f"Confirm: {text}", execution=execution, at=ctx.now())
                _timeline(session, execution, "playbook_refused", ctx.user_id,
                          f"Refused to start {plan.title}: another mitigation is in progress", at=ctx.now())
            raise UserError(text + " Fireline runs one mitigation per app at a time, so this one was not started.",
                            "Wait for it to finish, or press Stop on its progress message, then Confirm again "
                            "(within the plan's 15 minutes) or run the command again.") from None
        break
    if not started:
        with ctx.session() as session:
            fresh = session.get(PlaybookExecution, execution.id)
        return Reply(_already(fresh))
    if execution.incident_id and not execution.dry_run:
        with ctx.session() as session:
            incident = session.get(Incident, execution.incident_id)
        if incident is not None and incident.status in ("declared", "investigating"):
            try:
                svc.set_status(ctx, incident.id, "mitigating")
            except UserError:
                pass
    note = f" (dry run: {nothing_sent(plan)})" if execution.dry_run else ""
    return Reply(f"Confirmed{note}: {escape(plan.title)}. It runs now; progress is shown in one message here.")


def _start(ctx: Context, execution: PlaybookExecution, playbook: Playbook, plan: Plan) -> bool:
    """The atomic part of Confirm: state change, lock and job in one transaction."""
    with ctx.session() as session:
        results = [dict(r) for r in execution.results]
        if plan.steps and plan.steps[0].confirm and not plan.steps[0].manual:
            results[0]["confirmed_by"] = ctx.user_id
        changed = session.execute(
            update(PlaybookExecution).where(col(PlaybookExecution.id) == execution.id,
                                            col(PlaybookExecution.status) == "proposed")
            .values(status="queued", confirmed_by=ctx.user_id, confirmed_at=ctx.now(), results=results))
        if changed.rowcount != 1:
            return False
        if playbook.destructive:
            session.add(MitigationLock(app=execution.app, execution_id=execution.id, acquired_at=ctx.now(),
                                       acquired_by=ctx.user_id))
            session.flush()
        if playbook.name == "canary":  # held from this Confirm on: the lock ends with the create, the run does not
            session.execute(update(CanaryRun).where(col(CanaryRun.execution_id) == execution.id,
                                                    col(CanaryRun.status) == "proposed").values(status="starting"))
        jobs.enqueue(session, EXECUTE_JOB, {"execution_id": execution.id}, now=ctx.now(),
                     dedup_key=f"playbook:{execution.id}:start")
        audit(session, ctx.user_id, "confirmed", plan.title, execution=execution, at=ctx.now())
        _timeline(session, execution, "playbook_confirmed", ctx.user_id,
                  ("[dry run] " if execution.dry_run else "") + f"Confirmed: {plan.title} (execution {execution.id})",
                  {"plan": plan.lines[:20], "steps": recorded_steps(plan)[:60]}, at=ctx.now())
    return True


def cancel(ctx: Context, value: str) -> Reply:
    execution, _, _ = _checked(ctx, value, "Cancel")
    with ctx.session() as session:
        changed = session.execute(update(PlaybookExecution).where(col(PlaybookExecution.id) == execution.id,
                                                                  col(PlaybookExecution.status) == "proposed")
                                  .values(status="cancelled", finished_at=ctx.now(),
                                          outcome=f"cancelled by {person(ctx.chat, ctx.user_id)}"))
        if changed.rowcount != 1:
            return Reply(_already(execution))
        audit(session, ctx.user_id, "cancelled", "plan cancelled before it ran", execution=execution, at=ctx.now())
    return Reply(f"Cancelled: {escape(Plan.from_dict(execution.plan).title)}. Nothing was done.")


def request_stop(ctx: Context, value: str) -> Reply:
    """Stop after the current step (a step is never cut in half); a waiting execution stops at once."""
    execution, playbook, _ = _checked(ctx, value, "Stop")
    with ctx.session() as session:
        changed = session.execute(update(PlaybookExecution).where(
            col(PlaybookExecution.id) == execution.id, col(PlaybookExecution.status) == "waiting")
            .values(status="stopped", stop_requested_by=ctx.user_id, finished_at=ctx.now()))
        stopped_now = changed.rowcount == 1
        if not stopped_now:
            changed = session.execute(update(PlaybookExecution).where(
                col(PlaybookExecution.id) == execution.id, col(PlaybookExecution.status).in_(("queued", "running")),
                col(PlaybookExecution.stop_requested_by).is_(None)).values(stop_requested_by=ctx.user_id))
            if changed.rowcount != 1:
                return Reply("There is nothing to stop: it has already finished or a stop was already requested.")
        audit(session, ctx.user_id, "stop_requested", "stop pressed", execution=execution, at=ctx.now())
        _timeline(session, execution, "playbook_stop", ctx.user_id,
                  f"Stop requested for execution {execution.id}", at=ctx.now())
    if stopped_now:
        with ctx.session() as session:
            fresh = session.get(PlaybookExecution, execution.id)
        finish(ctx, fresh, playbook, "stopped",
               f"stopped by {person(ctx.chat, ctx.user_id)} while waiting for a person")
        return Reply("Stopped. Nothing more will run; the summary is posted.")
    return Reply("Fireline will stop after the step that is running now; the progress message will say what was "
                 "done.")


def confirm_step(ctx: Context, value: str) -> Reply:
    """A person's Confirm (or Done, for a manual step) of one step of a waiting execution."""
    execution, playbook, index = _checked(ctx, value, "Confirm")
    plan = Plan.from_dict(execution.plan)
    if index is None or not 0 <= index < len(plan.steps):
        raise UserError("That button does not name a step; use the buttons on the newest message.")
    if execution.status != "waiting" or execution.current_step != index:
        return Reply(f"Step {index + 1} is not waiting for anyone now (the execution is {execution.status}); nothing "
                     "was done.")
    step = plan.steps[index]
    results = [dict(r) for r in execution.results]
    if step.manual:
        results[index] = {"status": "ok", "summary": f"done by hand, reported by {person(ctx.chat, ctx.user_id)}",
                          "details": [f"Command: {step.manual}"], "done": list(step.targets),
                          "confirmed_by": ctx.user_id, "finished_at": ctx.now().isoformat()}
        next_step = index + 1
    else:
        results[index] = {**results[index], "confirmed_by": ctx.user_id}
        next_step = index
    with ctx.session() as session:
        changed = session.execute(update(PlaybookExecution).where(
            col(PlaybookExecution.id) == execution.id, col(PlaybookExecution.status) == "waiting",
            col(PlaybookExecution.current_step) == index).values(status="queued", results=results,
                                                                 current_step=next_step))
        if changed.rowcount != 1:
            return Reply(f"Step {index + 1} was already confirmed; nothing more was started.")
        jobs.enqueue(session, EXECUTE_JOB, {"execution_id": execution.id}, now=ctx.now(),
                     dedup_key=f"playbook:{execution.id}:step:{index}")
        what = "Done (by hand)" if step.manual else "Confirmed"
        audit(session, ctx.user_id, "step_confirmed", f"step {index + 1}: {step.title}", execution=execution,
              at=ctx.now())
        _timeline(session, execution, "playbook_step", ctx.user_id,
                  f"{what} step {index + 1} of {plan.title}: {step.title}", at=ctx.now())
    if next_step >= len(plan.steps):
        return Reply(f"Step {index + 1} marked done; that was the last step.")
    return Reply(f"{'Marked done' if step.manual else 'Confirmed'}: step {index + 1}. Continuing.")


# -- 3. execute ----------------------------------------------------------------------------------------
def _result_dict(result: StepResult) -> dict[str, Any]:
    return {"status": "ok" if result.ok else "failed", "summary": result.summary, "details": result.details[:80],
            "done": result.done, "failed": result.failed, "calls": result.data.get("calls", [])[:200],
            **{k: v for k, v in result.data.items() if k != "calls"}}


def _run_step_safely(playbook: Playbook, env, plan: Plan, step, progress) -> StepResult:
    try:
        return playbook.run_step(env, plan, step, progress)
    except (ServiceError, UserError, Refused) as exc:  # an IntegrationError is a ServiceError
        text = exc.message if isinstance(exc, UserError | Refused) else str(exc)
        return StepResult(False, text, failed=list(step.targets))
    except Exception as exc:
        log.exception("step %r of %s failed", step.title, plan.playbook)
        return StepResult(False, f"Fireline hit an unexpected error ({type(exc).__name__}); it is logged and this "
                                 "step may be half done: check `fly status` before going on.", failed=[])


class Runner:
    """Runs a claimed execution's steps from `current_step`, keeping its one progress message current."""

    def __init__(self, ctx: Context, execution: PlaybookExecution, playbook: Playbook) -> None:
        self.ctx = ctx
        self.execution = execution
        self.playbook = playbook
        self.plan = Plan.from_dict(execution.plan)
        self.results = [dict(r) for r in execution.results]
        self._shown = ""
        self._showing = threading.Lock()  # a batch's machines report progress from several threads
        self._last_live = float("-inf")
        knob = ctx.app.knobs.progress_live_seconds
        self._live_every = LIVE_EDIT_SECONDS if knob is None else knob
        self.edits = ProgressEdits(ctx, execution)

    # -- storage ------------------------------------------------------------------------------------
    def save(self, **values: Any) -> None:
        with self.ctx.session() as session:
            session.execute(update(PlaybookExecution).where(col(PlaybookExecution.id) == self.execution.id)
                            .values(results=self.results, heartbeat_at=self.ctx.now(), **values))
        for key, value in values.items():
            setattr(self.execution, key, value)
        self.execution.results = [dict(r) for r in self.results]

    def stop_requested(self) -> str | None:
        with self.ctx.session() as session:
            fresh = session.get(PlaybookExecution, self.execution.id)
            self.execution.stop_requested_by = fresh.stop_requested_by
            return fresh.stop_requested_by

    # -- Slack ----------------------------------------------------------------------------------------
    def show(self, live: str = "") -> None:
        """Edit the progress message: at each step, and with a live line at most every few seconds.

        Why the limit: a rolling restart reports several lines per machine, and Slack allows about one
        chat.update a second; edited at every line (81 edits in 8 s for 30 machines) Slack answers 429
        and the waits for it would slow the mitigation itself.
        """
        with self._showing:
            if live and time.monotonic() - self._last_live < self._live_every:
                return
            # Compared without the time: a new second alone is no reason to edit (see `tally`).
            text = progress_reply(self.execution, self.plan, live, playbook=self.playbook).plain_text()
            if text == self._shown:
                return
            self._shown = text
            reply = progress_reply(self.execution, self.plan, live, playbook=self.playbook, now=self.ctx.now())
            if live:
                self._last_live = time.monotonic()
            self.edits.send(reply)

    def heartbeat(self, text: str) -> None:
        """A step's progress line: stored as the heartbeat and shown by the edits' thread, not on the step's path."""
        self.edits.beat()
        self.show(text)

    # -- the loop ---------------------------------------------------------------------------------------
    def run(self) -> None:
        env = build_env(self.ctx.app, dry_run=self.execution.dry_run,
                        reference=f"#{self.execution.incident_id}" if self.execution.incident_id else "standalone")
        outcome, reason = "succeeded", ""
        try:
            self.show()
            for index in range(self.execution.current_step, len(self.plan.steps)):
                step = self.plan.steps[index]
                who = self.stop_requested()
                if who:
                    outcome, reason = "stopped", f"stopped by {who} before step {index + 1}"
                    break
                if step.manual or (step.confirm and not self.results[index].get("confirmed_by")):
                    self.wait_for_person(index)
                    return
                self.results[index] = {**self.results[index], "status": "running",
                                       "started_at": self.ctx.now().isoformat()}
                self.save(current_step=index)
                self.show()
                mark = len(env.fly.journal)
                would = len(getattr(env.fly, "would", []))
                result = _run_step_safely(self.playbook, env, self.plan, step, self.heartbeat)
                result.data["calls"] = [c.as_dict() for c in env.fly.journal[mark:]]
                if env.dry_run:
                    sent = getattr(env.fly, "would", [])[would:]
                    result.details.append("Dry run: a live run would send " + (", ".join(sent) or "nothing"))
                self.results[index] = {**self.results[index], **_result_dict(result),
                                       "finished_at": self.ctx.now().isoformat()}
                self.save(current_step=index + 1)  # shown with the next step, or with the outcome
                if not result.ok:
                    outcome, reason = "failed", f"step {index + 1} failed: {result.summary}"
                    break
        except Exception as exc:  # never leave an execution silently half-done
            log.exception("execution %s failed", self.execution.id)
            outcome, reason = "failed", f"Fireline hit an unexpected error ({type(exc).__name__})"
        finally:
            close_env(env)
        try:
            finish(self.ctx, self.execution, self.playbook, outcome, reason, results=self.results, edits=self.edits)
        finally:
            self.edits.close()  # once more if finish raised: its thread must not wait on its condition for ever

    def wait_for_person(self, index: int) -> None:
        step = self.plan.steps[index]
        self.results[index] = {**self.results[index], "status": "waiting"}
        with self.ctx.session() as session:
            session.execute(update(PlaybookExecution).where(col(PlaybookExecution.id) == self.execution.id,
                                                            col(PlaybookExecution.status) == "running")
                            .values(status="waiting", current_step=index, results=self.results,
                                    heartbeat_at=self.ctx.now()))
            audit(session, "fireline", "waiting", f"step {index + 1}: {step.title}", execution=self.execution,
                  at=self.ctx.now())
        self.execution.status, self.execution.current_step = "waiting", index
        self.execution.results = [dict(r) for r in self.results]
        self.show()
        self.edits.close()  # the message exists (and shows the wait) before the thread under it is posted
        value = button_value(self.execution, index)
        if step.manual:
            reply = Reply(f":raised_hand: *Step {index + 1} of {len(self.plan.steps)} needs you*: {escape(step.title)}",
                          lines=["Fireline cannot do this step itself. Run exactly:", f"```{escape(step.manual)}```",
                                 "When it has finished and worked, press Done. Press Stop to end the procedure here."],
                          buttons=[Button("Done", Actions.STEP, value, "primary"),
                                   Button("Stop", Actions.STOP, button_value(self.execution), "danger")])
        else:
            reply = Reply(f":raised_hand: *Step {index + 1} of {len(self.plan.steps)} waits for Confirm*: "
                          f"{escape(step.title)}", lines=["Check the previous steps went as expected, then press "
                                                          "Confirm to run this step, or Stop to end here."],
                          buttons=[Button("Confirm", Actions.STEP, value, "primary"),
                                   Button("Stop", Actions.STOP, button_value(self.execution), "danger")])
        post_in_thread(self.ctx, self.execution, reply.public())


def execute(ctx: Context, execution_id: int) -> None:
    """The durable job: claim (`queued -> running`), run, finish. A second claim finds nothing to do."""
    now = ctx.now()
    with ctx.session() as session:
        claimed = session.execute(update(PlaybookExecution).where(col(PlaybookExecution.id) == execution_id,
                                                                  col(PlaybookExecution.status) == "queued")
                                  .values(status="running", worker=worker_label(), heartbeat_at=now))
        if claimed.rowcount != 1:
            return
        execution = session.get(PlaybookExecution, execution_id)
        if execution.started_at is None:
            execution.started_at = now
            session.add(execution)
    Runner(ctx, execution, playbook_named(ctx.app, execution.playbook)).run()


# -- 4. finish ---------------------------------------------------------------------------------------------
def _as_results(plan: Plan, results: list[dict[str, Any]]) -> list[StepResult | None]:
    out: list[StepResult | None] = []
    for index in range(len(plan.steps)):
        data = results[index] if index < len(results) else {}
        if data.get("status") in ("ok", "failed"):
            out.append(StepResult(data["status"] == "ok", data.get("summary", ""), list(data.get("details", [])),
                                  list(data.get("done", [])), list(data.get("failed", []))))
        elif data.get("status") in ("running", "unknown"):
            out.append(StepResult(False, "unknown", data={"unknown": list(plan.steps[index].targets)}))
        else:
            out.append(None)
    return out


def closing_lines(playbook: Playbook, plan: Plan, results: list[dict[str, Any]]) -> list[str]:
    lines = playbook.summary(plan, _as_results(plan, results))
    unknown = [f"{n}. {step.title}" for n, (step, r) in enumerate(zip(plan.steps, results, strict=False), start=1)
               if r.get("status") in ("running", "unknown")]
    if unknown:
        lines.append("In progress when it stopped, so its effect is unknown (check `fly status`): "
                     + "; ".join(unknown))
    return lines


def finish(ctx: Context, execution: PlaybookExecution, playbook: Playbook, outcome: str, reason: str = "",
           results: list[dict[str, Any]] | None = None, edits: ProgressEdits | None = None) -> None:
    """Store the outcome, release the lock, write the timeline, then tell Slack (in that order).

    With the runner's `edits`, the final state replaces any edit still waiting, and the outcome is
    posted in the thread while that last edit is on its way (the two calls side by side: 80 ms at the
    end of a restart instead of 160 at Slack's latency); both are sent before this returns.
    """
    plan = Plan.from_dict(execution.plan)
    results = [dict(r) for r in (results if results is not None else execution.results)]
    for r in results:
        if r.get("status") == "running":
            r["status"] = "unknown" if outcome == "interrupted" else r["status"]
        elif r.get("status") in ("pending", "waiting"):
            r["status"] = "skipped"
    done_steps = sum(1 for r in results if r.get("status") == "ok")
    headline = {"succeeded": f"finished: all {len(plan.steps)} steps done" if len(plan.steps) != 1
                else "finished: its one step is done",
                "failed": f"stopped at a failure after {done_steps} of {len(plan.steps)} steps",
                "stopped": f"stopped after {done_steps} of {len(plan.steps)} steps",
                "interrupted": f"was INTERRUPTED after {done_steps} of {len(plan.steps)} steps"}[outcome]
    lines = ([reason[0].upper() + reason[1:]] if reason else []) + closing_lines(playbook, plan, results)
    outcome_text = f"{plan.title} {headline}." + (" " + " ".join(lines) if lines else "")  # plain, as stored
    with ctx.session() as session:
        session.execute(update(PlaybookExecution).where(col(PlaybookExecution.id) == execution.id)
                        .values(status=outcome, results=results, finished_at=ctx.now(), outcome=outcome_text[:4000]))
        session.execute(delete(MitigationLock).where(col(MitigationLock.app) == execution.app,
                                                     col(MitigationLock.execution_id) == execution.id))
        audit(session, "fireline", outcome, outcome_text, execution=execution, at=ctx.now())
        calls = [c for r in results for c in r.get("calls", []) if c.get("request_id")]
        _timeline(session, execution, "playbook_finished", execution.confirmed_by or "fireline",
                  ("[dry run] " if execution.dry_run else "") + outcome_text,
                  {"status": outcome, "steps": recorded_steps(plan, results)[:len(results)],
                   "request_ids": [c["request_id"] for c in calls][:200]}, at=ctx.now())
    metrics.playbook_run(execution.playbook, ok=outcome not in ("failed", "interrupted"))  # stopped by a person: ok
    execution.status, execution.results, execution.finished_at = outcome, results, ctx.now()
    final = progress_reply(execution, plan, playbook=playbook, now=ctx.now())
    if edits is None:
        show_progress(ctx, execution, final)
    else:
        edits.send(final)
        edits.wait_posted()
    count = tally(execution, plan, playbook, ctx.now())
    lines = ([f"{count}."] if count else []) + lines
    icon = {"succeeded": ":white_check_mark:", "failed": ":x:", "stopped": ":octagonal_sign:",
            "interrupted": ":warning:"}[outcome]
    tag = f" [DRY RUN: {nothing_sent(plan, past=True)}]" if execution.dry_run else ""
    post_in_thread(ctx, execution, Reply(f"{icon} *{escape(plan.title)}* {headline}.{tag}",
                                         lines=[escape(line) for line in lines]).public())
    if edits is not None:
        edits.close()
    ctx.app.registry.emit(Hooks.PLAYBOOK_FINISHED, ctx, execution=execution, plan=plan)


# -- Slack (never fatal: the database already has everything) ----------------------------------------------
class ProgressEdits:
    """The progress message and the heartbeat, kept off the steps' path: one thread per running execution.

    Why: a rolling restart edited its message and stored a heartbeat inline, on the thread of the
    machine that reported the line, so every edit (80 ms at Slack's latency) and every write sat between
    two Fly calls that must follow one another. Measured with bench/slack_latency.py, 9 machines: 1.64x
    the Fly chain's bound with Slack at 80 ms a call, most of it the 5 edits and the post in series.

    `send` hands over the latest state and returns at once; the thread sends only the newest one
    waiting (an older one is dropped, never sent late), with at most one call to Slack in flight, so
    there are never more chat.update calls than before (`Runner.show` still decides which states are
    worth an edit). `beat` asks for the heartbeat to be stored, at most once per HEARTBEAT_SECONDS.
    `close` sends what is waiting and ends the thread. The first state handed over is always sent (it
    makes the message); the console, which prints in order with everything else, sends inline.
    """

    def __init__(self, ctx: Context, execution: PlaybookExecution) -> None:
        self.ctx = ctx
        self.execution = execution
        self.inline = ctx.app.mode.is_console
        self._cond = threading.Condition()
        self._latest: Reply | None = None
        self._beat = False
        self._busy = False
        self._closed = False
        self._last_beat = float("-inf")
        self._thread: threading.Thread | None = None

    def send(self, reply: Reply) -> None:
        if self.inline:
            show_progress(self.ctx, self.execution, reply)
            return
        with self._cond:
            if self._thread is None:
                self._start(reply)
            else:
                self._latest = reply
            self._cond.notify_all()

    def beat(self) -> None:
        with self._cond:
            if time.monotonic() - self._last_beat < HEARTBEAT_SECONDS:
                return
            self._last_beat = time.monotonic()
            if self.inline:
                self._store_beat()
                return
            self._beat = True
            if self._thread is None:
                self._start(None)
            self._cond.notify_all()

    def wait_posted(self) -> None:
        """Until the message exists (or nothing more is underway that could make it): the thread needs its ts."""
        with self._cond:
            self._cond.wait_for(lambda: self.execution.progress_ts is not None or self._thread is None
                                or not (self._busy or self._latest is not None or self._beat))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None:
            thread.join()
        with self._cond:
            self._thread, self._closed = None, False  # a runner that goes on (a later step) starts a new one

    def _start(self, first: Reply | None) -> None:
        """Under the lock. The first state goes to the thread itself, so no later one can replace it."""
        self._busy = first is not None
        # in a copy of the caller's context, so its log lines keep the incident and request id
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run, first), daemon=True,
                                        name=f"fireline-progress-{self.execution.id}")
        self._thread.start()

    def _run(self, first: Reply | None) -> None:
        if first is not None:
            try:
                show_progress(self.ctx, self.execution, first)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._latest is not None or self._beat or self._closed)
                if self._latest is None and not self._beat:
                    return  # closed, and nothing left to send
                reply, self._latest = self._latest, None
                beat, self._beat = self._beat, False
                self._busy = True
            try:
                if beat:
                    self._store_beat()
                if reply is not None:
                    show_progress(self.ctx, self.execution, reply)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _store_beat(self) -> None:
        try:
            with self.ctx.session() as session:
                session.execute(update(PlaybookExecution).where(col(PlaybookExecution.id) == self.execution.id)
                                .values(heartbeat_at=self.ctx.now()))
        except Exception as exc:  # the next step's save stores it too
            log.warning("could not store the heartbeat of execution %s: %s", self.execution.id, exc)


def show_progress(ctx: Context, execution: PlaybookExecution, reply: Reply) -> None:
    try:
        if execution.progress_ts and execution.progress_channel:
            ctx.chat.update(MessageRef(execution.progress_channel, execution.progress_ts), reply)
            return
        if not execution.channel_id:
            return
        ref = ctx.chat.post(execution.channel_id, reply)
        with ctx.session() as session:
            session.execute(update(PlaybookExecution).where(col(PlaybookExecution.id) == execution.id)
                            .values(progress_channel=ref.channel, progress_ts=ref.ts))
        execution.progress_channel, execution.progress_ts = ref.channel, ref.ts
    except Exception as exc:
        log.warning("could not show the progress of execution %s: %s", execution.id, exc)


def post_in_thread(ctx: Context, execution: PlaybookExecution, reply: Reply) -> None:
    """Messages that need people's attention (a step waiting for them, the outcome) notify; edits do not."""
    try:
        channel = execution.progress_channel or execution.channel_id
        if channel:
            ctx.chat.post(channel, reply, thread_ts=execution.progress_ts)
    except Exception as exc:
        log.warning("could not post for execution %s: %s", execution.id, exc)


# -- 5. interrupted executions -------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process nobody has reaped yet (a zombie) still answers kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _abandoned(container: Container, execution: PlaybookExecution) -> bool:
    """True when the process running it is gone: same host and dead (or an earlier process), or silent too long."""
    if execution.status != "running":
        return False
    host, pid, token = process_identity()
    parts = (execution.worker or "").split(":")
    if len(parts) == 3 and parts[0] == host and parts[1].isdigit():
        other_pid = int(parts[1])
        if parts[2] == token and other_pid == pid:
            return False  # it is this very process
        if other_pid == pid or not _pid_alive(other_pid):
            return True
    beat = as_utc(execution.heartbeat_at or execution.confirmed_at or execution.proposed_at)
    return as_utc(container.clock()) - beat > STALE_HEARTBEAT


def recover_interrupted(container: Container, chat, *, only: list[int] | None = None) -> list[int]:
    """Mark executions whose process died as interrupted, and say what was and was not done."""
    with session_scope(container.engine) as session:
        query = select(PlaybookExecution).where(col(PlaybookExecution.status) == "running")
        if only:
            query = query.where(col(PlaybookExecution.id).in_(only))
        candidates = [e for e in session.exec(query).all() if _abandoned(container, e)]
    recovered = []
    for execution in candidates:
        with session_scope(container.engine) as session:
            claimed = session.execute(update(PlaybookExecution).where(
                col(PlaybookExecution.id) == execution.id, col(PlaybookExecution.status) == "running",
                col(PlaybookExecution.worker) == execution.worker).values(status="interrupting"))
            if claimed.rowcount != 1:
                continue
        try:
            playbook = playbook_named(container, execution.playbook)
        except UserError:
            playbook = Playbook()
        ctx = job_context(container, channel_id=execution.channel_id, chat=chat)
        last = fmt_utc(execution.heartbeat_at)
        finish(ctx, execution, playbook, "interrupted",
               f"Fireline stopped while running this (last sign of life {last}) and did not resume it, so it is "
               "reported here instead of being redone. Check the app (`fly status`), then run the command again "
               "for what is left")
        recovered.append(execution.id)
    return recovered
