"""`/deploy canary <image>`: one extra machine on the new image, judged against the others, then Promote or Discard.

The three acts that change Fly are playbooks (playbooks/canary.py), so each is a plan, an authorised Confirm, a
run under the app's mitigation lock, an audit trail and, after a crash, the interrupted-execution report, all the
executions service's own. This module adds what lies between them, durable like the deploy watch:

1. `/deploy canary` proposes the `canary` plan and stores a `CanaryRun` beside the execution.
2. When that execution finishes (the `playbook.finished` hook), a good start arms the watch: a timer job each
   minute (`canary.tick`) reads the canary's and the others' 5xx share and p95 (Fly's metrics, per instance),
   Sentry's errors of the new release, and the canary's machine, judges them (playbooks.canary.judge_canary) and
   edits one message. A bad verdict ends the watch at once (a bad canary is not left serving users); otherwise
   it ends after DEPLOY_CANARY_MINUTES.
3. The verdict offers Promote and Discard (each a plan to confirm) and Declare. An incident declared from a
   canary gets its create execution attached, so resolving it offers the undo (discard a canary still running,
   roll back a promotion), and the pre-deploy checklist's answers on its timeline.

A drill (`--drill`, or no FLY_API_TOKEN) runs the same on the example fleet: nothing is sent to Fly and the
figures are the example's, said so in every verdict.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from bot.clients.fly.metrics import (
    FlyMetrics,
    FlyMetricsError,
    by_instance,
    error_rate_5xx,
    p95_seconds,
    responses_by_instance,
)
from bot.clients.sentry import SentryError
from bot.core.chat import MessageRef
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.core.errors import UserError
from bot.core.grammar import Args, parse_args
from bot.core.hooks import Hooks
from bot.core.registry import Registry
from bot.core.reply import Button, Reply, escape
from bot.features.deploy_watch import checklist
from bot.features.deploy_watch.feature import sentry_release
from bot.features.deploy_watch.releases import channel
from bot.features.deploy_watch.sentry import sentry_client
from bot.features.playbooks import executions
from bot.features.playbooks.env import build_env, close_env
from bot.service import incidents as svc
from bot.service import timers
from bot.store.db import session_scope
from bot.store.models import CanaryRun, DeployChecklist, Incident, MitigationLock, PlaybookExecution
from bot.store.models.deploy import CANARY_OPEN
from playbooks.canary import (
    Canary,
    adopt_drill_canary,
    CanaryDiscard,
    CanaryObservations,
    CanaryPromote,
    CanaryThresholds,
    InstanceFigures,
    judge_canary,
    parse_canary_thresholds,
    split_fleet,
    tag,
)
from playbooks.deploy_verdict import Verdict
from playbooks.fleet import recent_crashes
from playbooks.fleet_models import Release
from playbooks.framework import Refused, ServiceError
from playbooks.timefmt import as_utc

TICK_JOB = "canary.tick"
PROMOTE_ACTION = "canary_promote"
DISCARD_ACTION = "canary_discard"
DECLARE_ACTION = "canary_declare"
TICK = timedelta(minutes=1)
LIVE = CANARY_OPEN
STARTING = ("proposed", "starting")  # "proposed": confirmed before Confirm marked the run (an older process)
SERVING = ("watching", "judged")  # the canary machine exists: it can vanish under the run
ICONS = {"healthy": ":white_check_mark:", "suspicious": ":warning:", "bad": ":rotating_light:"}


def minutes(container: Container) -> int:
    return container.settings.deploy_canary_minutes


# -- 1. the command ---------------------------------------------------------------------------------------------
def canary_command(ctx: Context, args: Args) -> Reply:
    playbook = ctx.app.registry.playbooks["canary"]
    if args.words and args.words[0].lower() in ("help", "--help", "-h"):
        return Reply(f"*{playbook.invocation}*: {escape(playbook.help)}",
                     lines=[f"`{playbook.invocation} {escape(playbook.usage)}`"] +
                     [f"`{escape(p.usage)}`  {escape(p.help)}" for p in playbook.params])
    params = {**playbook.parse(args), "minutes": minutes(ctx.app)}
    # one canary per app is the rule of every destructive playbook (executions.canary_hold, in propose): a drill's
    # canary holds only drills, a real one only real runs
    incident = executions.attached_incident(ctx, args.incident_ref, args.channel_ref)
    execution, plan = executions.propose(ctx, playbook, params, incident,
                                         dry_run=True if params.get("drill") else None)
    if execution is not None:
        row = checklist.for_deploy(ctx, plan.app, params["image"])
        with ctx.session() as session:
            session.add(CanaryRun(app=plan.app, checklist_id=row.id if row else None, image=params["image"], previous_image=plan.params.get("current", ""),
                                  execution_id=execution.id, dry_run=execution.dry_run, status="proposed",
                                  started_by=ctx.user_id or "fireline", incident_id=incident.id if incident else None,
                                  sentry_release=release_name(ctx.app, params["image"]),
                                  previous_sentry_release=release_name(ctx.app, plan.params.get("current", ""))))
    return executions.plan_answer(ctx, playbook, execution, plan, incident)


def release_name(container: Container, image: str) -> str:
    """The Sentry release of an image; "" when DEPLOY_SENTRY_RELEASE names releases by Fly's release number: a
    canary's image is no Fly release, so "cgraph-api@{version}" named the canary's release and the old one alike
    ("cgraph-api@") and the canary was judged against itself."""
    if not image or "{version}" in (container.settings.deploy_sentry_release or ""):
        return ""
    return sentry_release(container, Release(None, image, None))


def promote_command(ctx: Context, args: Args) -> Reply:
    return decide(ctx, "canary-promote", live_run(ctx, ctx.app.settings.fly_app), list(args.words))


def discard_command(ctx: Context, args: Args) -> Reply:
    return decide(ctx, "canary-discard", live_run(ctx, ctx.app.settings.fly_app), list(args.words))


def decide(ctx: Context, name: str, run: CanaryRun | None, words: list[str]) -> Reply:
    """Promote or Discard, typed or pressed: the same refusals before a plan (`not_yet`), then the plan."""
    refusal = not_yet(run, name) if run is not None else None
    return refusal or propose_decision(ctx, name, run, words)


def not_yet(run: CanaryRun, name: str) -> Reply | None:
    """Why this run cannot be promoted or discarded now: done already, still starting, or (Promote) not judged."""
    if run.status in ("promoted", "discarded"):
        return Reply(f"This canary was already {run.status}; nothing more to do.")
    if run.status in ("proposed", "starting"):
        return Reply("The canary is still being created: Promote and Discard come once it runs (its progress message "
                     "has Stop).")
    if run.status == "watching" and name == "canary-promote":
        return Reply("The canary is still being watched: Promote comes with the verdict. Discard is offered at any "
                     "time.", buttons=[Button("Discard", DISCARD_ACTION, str(run.id), "danger")])
    return None


def live_run(ctx: Context, app: str) -> CanaryRun | None:
    query = select(CanaryRun).where(col(CanaryRun.status).in_(LIVE)).order_by(col(CanaryRun.id).desc())
    with ctx.session() as session:
        run = session.exec(query.where(CanaryRun.app == app) if app else query).first()
        if run is not None:
            session.expunge(run)
    return run


def propose_decision(ctx: Context, name: str, run: CanaryRun | None, words: list[str]) -> Reply:
    playbook = ctx.app.registry.playbooks[name]
    try:
        params = playbook.parse(parse_args(words))
    except Refused as exc:
        raise UserError(exc.message, *exc.hints) from None
    incident = None
    dry_run = None
    if run is not None:
        params.setdefault("canary", run.machine_id)
        params["run"] = run.id
        if run.verdict:
            params["verdict"] = run.verdict
        if run.dry_run:
            dry_run = True
            params["drill_canary"] = drill_machine(ctx.app, run)
        if run.incident_id is not None:
            with ctx.session() as session:
                found = svc.incident_for(ctx, session, run.incident_id)
            incident = found if found.is_open else None
    execution, plan = executions.propose(ctx, playbook, params, incident, dry_run=dry_run)
    if execution is None and run is not None:  # blocked: the canary may be gone, and then the run must end
        gone = machine_gone(ctx.app, run)
        if gone:
            end_gone(ctx, run, gone, f"{playbook.verb.capitalize()}")
            return Reply(f"The canary of `{escape(tag(run.image))}` is gone: {escape(gone)}. The canary run is ended "
                         f"(discarded) and {escape(run.app)} is free for `/restart`, `/rollback`, `/scale` or a new "
                         "canary.")
    return executions.plan_answer(ctx, playbook, execution, plan, incident)


# -- a canary destroyed outside Fireline ------------------------------------------------------------------------
def gone_sentence(env, run: CanaryRun) -> str:
    """Fly's word that the canary's machine no longer exists (404, or listed as destroyed); "" while it exists or
    when Fly could not say (an outage must not end a run whose canary still serves)."""
    try:
        machine = env.fly.get_machine(run.machine_id)
    except ServiceError as exc:
        if getattr(exc, "status", None) == 404:
            return f"Fly has no machine {run.machine_id} any more (404): it was destroyed outside Fireline"
        return ""
    if machine.state in ("destroyed", "destroying"):
        return f"Fly lists machine {run.machine_id} as {machine.state}: it was destroyed outside Fireline"
    return ""


def machine_gone(container: Container, run: CanaryRun) -> str:
    """`gone_sentence` of a run whose canary was created (a drill's canary lives in its record: never gone)."""
    if run.dry_run or not run.machine_id or run.status not in SERVING:
        return ""
    env = build_env(container)
    try:
        return gone_sentence(env, run)
    finally:
        close_env(env)


def deciding(container: Container, run: CanaryRun) -> bool:
    """A Promote or Discard of this app's canary holds the app's lock right now. Its Discard destroys the machine
    before it finishes, and a watch that looked in between called the canary "destroyed outside Fireline"."""
    with session_scope(container.engine) as session:
        return session.exec(select(PlaybookExecution.id).join(
            MitigationLock, col(MitigationLock.execution_id) == col(PlaybookExecution.id)).where(
            col(MitigationLock.app) == run.app,
            col(PlaybookExecution.playbook).in_(executions.CANARY_DECISIONS))).first() is not None


def end_gone(ctx: Context, run: CanaryRun, why: str, found_by: str) -> None:
    """The run of a vanished canary ends as discarded, so it no longer holds its app; audited, on the incident's
    timeline, and said in the canary's thread. Before, the run stayed open and refused every /restart for ever."""
    text = f"The canary {run.machine_id} of {tag(run.image)} on {run.app} is gone ({why}); {found_by} ended its run " \
           "as discarded, so the app is free again"
    with session_scope(ctx.app.engine) as session:
        changed = session.execute(update(CanaryRun).where(col(CanaryRun.id) == run.id,
                                                          col(CanaryRun.status).in_(SERVING))
                                  .values(status="discarded", reasons=[*run.reasons, why][-20:]))
        if changed.rowcount != 1:
            return
        execution = session.get(PlaybookExecution, run.execution_id)
        executions.audit(session, ctx.user_id or "fireline", "canary_gone", text, execution=execution,
                         data={"canary_run": run.id, "machine": run.machine_id}, at=ctx.now())
        if run.incident_id is not None:
            incident = session.get(Incident, run.incident_id)
            if incident is not None:
                svc.record(session, incident, "canary", ctx.user_id or "fireline", text,
                           {"canary_run": run.id, "machine": run.machine_id, "gone": True}, at=ctx.now())
    run.status = "discarded"
    post(ctx, run, Reply(f":wastebasket: *Canary of {escape(tag(run.image))}* on {escape(run.app)}: its machine "
                         f"`{escape(run.machine_id)}` is gone ({escape(why)}).",
                         lines=[f"The canary run is ended as discarded: {escape(run.app)} is free again for "
                                "`/restart`, `/rollback`, `/scale` or a new `/deploy canary`.",
                                f"The other machines were never changed: they run `{escape(tag(run.previous_image))}`."
                                ]).public())


def drill_machine(container: Container, run: CanaryRun) -> dict[str, Any]:
    with session_scope(container.engine) as session:
        execution = session.get(PlaybookExecution, run.execution_id)
        results = list(execution.results) if execution else []
    return (results[0] or {}).get("machine", {}) if results else {}


# -- 2. when an execution finishes --------------------------------------------------------------------------------
def on_finished(ctx: Context, execution: PlaybookExecution, plan, **_: Any) -> None:
    if execution.playbook == "canary":
        started(ctx, execution)
    elif execution.playbook in executions.CANARY_DECISIONS:
        run_id = plan.params.get("run")
        if not run_id:  # typed with a machine id, or offered by the undo: the run whose canary it is
            with ctx.session() as session:
                run_id = session.exec(select(CanaryRun.id).where(CanaryRun.machine_id == plan.params.get("canary", ""),
                                                                 col(CanaryRun.status).in_(LIVE))).first()
        if run_id:
            decided(ctx, execution, int(run_id))


def started(ctx: Context, execution: PlaybookExecution) -> None:
    container = ctx.app
    now = ctx.now()
    result = (execution.results or [{}])[0] or {}
    machine_id = str(result.get("canary") or "")
    with session_scope(container.engine) as session:
        run = session.exec(select(CanaryRun).where(CanaryRun.execution_id == execution.id)).first()
        if run is None:
            return
        if execution.status == "succeeded" and machine_id:
            ends = now + timedelta(minutes=minutes(container))
            changed = session.execute(update(CanaryRun).where(col(CanaryRun.id) == run.id,
                                                              col(CanaryRun.status).in_(STARTING))
                                      .values(status="watching", machine_id=machine_id, started_at=now, ends_at=ends))
            if changed.rowcount != 1:
                return
            timers.arm(session, TICK_JOB, timers.timer_key("canary", run.id, now + TICK), now + TICK,
                       {"run_id": run.id}, now=now)
        else:
            session.execute(update(CanaryRun).where(col(CanaryRun.id) == run.id, col(CanaryRun.status).in_(STARTING))
                            .values(status="failed", machine_id=machine_id, verdict="bad",
                                    reasons=[f"the canary did not start well: {execution.outcome or execution.status}"]))
        session.flush()
        session.refresh(run)
        session.expunge(run)
    if run.status == "failed":
        buttons = [Button("Discard", DISCARD_ACTION, str(run.id), "danger")] if machine_id else []
        post(ctx, run, Reply(f":x: *Canary of {escape(tag(run.image))}* on {escape(run.app)} did not start well, so it "
                             "is not watched.", lines=[escape(r) for r in run.reasons] +
                             (["It was created: Discard removes it."] if machine_id else
                              ["Nothing is left to remove: the other machines were never changed."]),
                             buttons=buttons).public())
        return
    post(ctx, run, render(container, run, None, now))


def run_checklist(ctx: Context, run: CanaryRun) -> DeployChecklist | None:
    """The run's pre-deploy checklist: the one stored with it, else (none when it started) the one made since for its
    image, which is then stored with it. One read by id each minute, not the (app, image) search of for_deploy."""
    if run.checklist_id is not None:
        with ctx.session() as session:
            row = session.get(DeployChecklist, run.checklist_id)
            if row is not None:
                session.expunge(row)
        return row
    row = checklist.for_deploy(ctx, run.app, run.image)
    if row is not None:
        with ctx.session() as session:
            session.execute(update(CanaryRun).where(col(CanaryRun.id) == run.id,
                                                    col(CanaryRun.checklist_id).is_(None)).values(checklist_id=row.id))
        run.checklist_id = row.id
    return row


def decided(ctx: Context, execution: PlaybookExecution, run_id: int) -> None:
    promote = execution.playbook == "canary-promote"
    ok = execution.status == "succeeded"
    final = ("promoted" if promote else "discarded") if ok else "judged"
    with session_scope(ctx.app.engine) as session:
        session.execute(update(CanaryRun).where(col(CanaryRun.id) == run_id,  # Discard may come mid-watch
                                                col(CanaryRun.status).in_(LIVE))
                        .values(status=final, decision_execution_id=execution.id))
        run = session.get(CanaryRun, run_id)
        if run is None:
            return
        session.expunge(run)
    if not ok and run.status == "judged":  # failed because the canary vanished under it: the run ends
        gone = machine_gone(ctx.app, run)
        if gone:
            end_gone(ctx, run, gone, f"the {execution.playbook[7:]}")
            return
    if ok:
        what = (f"promoted: every machine of {run.app} runs `{tag(run.image)}`" if promote else
                f"discarded: the canary is gone and {run.app} runs `{tag(run.previous_image)}` as before")
        post(ctx, run, Reply(f":white_check_mark: *Canary of {escape(tag(run.image))}* {escape(what)}.").public())
    else:
        post(ctx, run, Reply(f":x: *Canary of {escape(tag(run.image))}*: the {escape(execution.playbook[7:])} "
                             f"{escape(execution.status)}; the canary run is open again for Promote or Discard.",
                             buttons=decision_buttons(run)).public())


# -- 3. each minute -------------------------------------------------------------------------------------------------
def instance_figures(container: Container, app: str, since: datetime, now: datetime) -> list[InstanceFigures]:
    """Responses, 5xx and p95 per machine over the canary's time so far (at least 5 minutes, as `rate` needs
    samples; Fly scrapes each 15 s to a minute)."""
    window = f"{max(5, math.ceil((as_utc(now) - as_utc(since)).total_seconds() / 60))}m"
    with FlyMetrics.from_settings(container.settings, sleep=container.knobs.sleep) as client:
        responses = by_instance(client.query(responses_by_instance(app, window), at=now))
        shares = by_instance(client.query(error_rate_5xx(app, window, by_instance=True), at=now))
        p95 = by_instance(client.query(p95_seconds(app, window, by_instance=True), at=now))
    return [InstanceFigures(instance, responses.get(instance), (shares.get(instance) or 0.0) * responses[instance]
                            if instance in responses else None,
                            p95[instance] * 1000 if instance in p95 and math.isfinite(p95[instance]) else None)
            for instance in sorted(set(responses) | set(p95))]


def drill_figures(canary: str, others: list[str]) -> list[InstanceFigures]:
    """The example fleet has no metrics: every machine answers alike, so a drill's verdict is about the flow."""
    return [InstanceFigures(i, 600.0, 1.0, 180.0) for i in others] + [InstanceFigures(canary, 600.0, 1.0, 185.0)]


def observe(container: Container, run: CanaryRun, now: datetime) -> CanaryObservations:
    since = as_utc(run.started_at or now)
    elapsed = (as_utc(now) - since).total_seconds() / 60
    observed = CanaryObservations(canary=run.machine_id, minutes=elapsed)
    env = build_env(container, dry_run=True if run.dry_run else None)
    others: list[str] = []
    try:
        if run.dry_run:
            drill = drill_machine(container, run)
            adopt_drill_canary(env, {"drill_canary": drill})
        machines = env.fly.list_machines()
        _, canaries, rest = split_fleet(machines)
        others = [m.id for m in rest]
        observed.others, observed.other_ids = len(rest), tuple(others)
        mine = next((m for m in machines if m.id == run.machine_id), None)
        if mine is None:
            observed.fly_error = f"the canary {run.machine_id} is not among {run.app}'s machines any more"
            observed.gone = gone_sentence(env, run)
        else:
            observed.state, observed.checks_passing = mine.state, mine.checks_passing
            observed.crashes = sum(1 for e in recent_crashes(mine, now) if e.at and as_utc(e.at) >= since)
    except ServiceError as exc:
        observed.fly_error = str(exc)
    finally:
        close_env(env)
    if run.dry_run:
        observed.drill = "DRILL: the example fleet, with example figures; nothing was read from your app"
        observed.figures = drill_figures(run.machine_id, others)
        return observed
    if container.settings.fly_metrics_readable:
        try:
            observed.figures = instance_figures(container, run.app, since, now)
        except FlyMetricsError as exc:
            observed.metrics_error = str(exc)
    client = sentry_client(container)
    if client is not None and not (run.sentry_release and run.previous_sentry_release):
        client.close()
        client = None
        observed.sentry_unjudged = ("DEPLOY_SENTRY_RELEASE names releases by Fly's release number ({version}), which "
                                    "a canary's image does not have: name them by {tag} or {image} to judge a "
                                    "canary on Sentry")
    if client is not None:
        window_end = max(as_utc(now), since + TICK)
        try:
            with client:
                observed.sentry_new = client.error_count(run.sentry_release, since, window_end)
                observed.sentry_old = client.error_count(run.previous_sentry_release, since, window_end)
            observed.sentry_minutes = max((window_end - since).total_seconds() / 60, 1.0)
        except SentryError as exc:
            observed.sentry_error = str(exc)
    return observed


def tick(container: Container, payload: dict[str, Any], job=None) -> None:
    run_id = int(payload["run_id"])
    now = container.clock()
    with session_scope(container.engine) as session:
        run = session.get(CanaryRun, run_id)
        if run is None or run.status != "watching":
            return
        session.expunge(run)
    limits = parse_canary_thresholds(container.settings.deploy_canary_thresholds)
    observed = observe(container, run, now)
    if observed.gone:
        if deciding(container, run):  # a Discard (or Promote) of it is running: its own end settles the run
            return
        end_gone(job_context(container), run, observed.gone, "the watch")
        return
    verdict = judge_canary(observed, limits)
    finished = verdict.level == "bad" or as_utc(now) >= as_utc(run.ends_at or now)
    sample = {"at": now.isoformat(), "level": verdict.level}
    with session_scope(container.engine) as session:
        changed = session.execute(update(CanaryRun).where(col(CanaryRun.id) == run_id,
                                                          col(CanaryRun.status) == "watching")
                                  .values(verdict=verdict.level, reasons=verdict.lines(),
                                          samples=[*run.samples, sample][-240:],
                                          status="judged" if finished else "watching"))
        if not changed.rowcount:
            return
        if not finished:
            run_at = min(as_utc(now) + TICK, as_utc(run.ends_at or now + TICK))
            timers.arm(session, TICK_JOB, timers.timer_key("canary", run_id, run_at), run_at, {"run_id": run_id},
                       now=now)
    run.verdict, run.reasons = verdict.level, verdict.lines()
    run.status = "judged" if finished else "watching"
    ctx = job_context(container)
    reply = render(container, run, verdict, now, finished=finished, limits=limits)
    if ctx.is_console:  # a terminal cannot edit what it printed: it prints the verdict when it is known
        if finished:
            ctx.chat.post(where(container, run), reply)
        return
    if run.message.get("ts"):
        ctx.chat.update(MessageRef(run.message["channel"], run.message["ts"]), reply)
    if finished:
        ctx.chat.post(where(container, run), verdict_reply(run, verdict), thread_ts=run.message.get("ts") or None)


def where(container: Container, run: CanaryRun) -> str:
    return run.message.get("channel") or channel(container)


def post(ctx: Context, run: CanaryRun, reply: Reply) -> None:
    """The run's one message (posted first, then edited); later news in its thread."""
    if run.message.get("ts"):
        ctx.chat.post(run.message["channel"], reply, thread_ts=run.message["ts"])
        return
    ref = ctx.chat.post(channel(ctx.app), reply)
    with session_scope(ctx.app.engine) as session:
        session.execute(update(CanaryRun).where(col(CanaryRun.id) == run.id).values(message=ref.as_dict()))
    run.message = ref.as_dict()


def decision_buttons(run: CanaryRun) -> list[Button]:
    return [Button("Promote", PROMOTE_ACTION, str(run.id), "primary"),
            Button("Discard", DISCARD_ACTION, str(run.id), "danger"),
            Button("Declare", DECLARE_ACTION, str(run.id))]


def render(container: Container, run: CanaryRun, verdict: Verdict | None, now: datetime, *,
           finished: bool = False, limits: CanaryThresholds | None = None) -> Reply:
    total = minutes(container)
    gone = int((as_utc(now) - as_utc(run.started_at or now)).total_seconds() // 60)
    state = "finished" if finished else f"watching, {min(gone, total)} of {total} min"
    level = verdict.level if verdict else ""
    drill = " [DRILL]" if run.dry_run else ""
    head = (f"{ICONS.get(level, ':hatching_chick:')} *Canary* `{escape(tag(run.image))}` on {escape(run.app)}{drill}: "
            + (f"*{level}*" if level else "healthy start, first look in a minute") + f" ({state})")
    lines = [f"Canary machine `{escape(run.machine_id)}` against the other machines on "
             f"`{escape(tag(run.previous_image) or '?')}`; Sentry release `{escape(run.sentry_release or '?')}`",
             escape(checklist.summary_line(run_checklist(job_context(container), run)))]
    if verdict is not None:
        lines.append(f"Verdict: *{verdict.level}*, the worst of:")
        lines += [f"• {escape(line)}" for line in verdict.lines()]
        limits = limits or parse_canary_thresholds(container.settings.deploy_canary_thresholds)
        lines.append(f"Thresholds (DEPLOY_CANARY_THRESHOLDS changes them): {escape(limits.summary())}.")
    return Reply(head, lines=lines, buttons=decision_buttons(run) if finished else []).public()


def verdict_reply(run: CanaryRun, verdict: Verdict) -> Reply:
    advice = {"bad": "Discard it: the other machines never changed.",
              "suspicious": "Look at the reasons, then Promote or Discard.",
              "healthy": "Promote rolls it to the rest of the app, health-gated."}[verdict.level]
    return Reply(f"{ICONS[verdict.level]} *Canary verdict: {verdict.level}* for `{escape(tag(run.image))}` on "
                 f"{escape(run.app)}. {advice}", lines=[f"• {escape(line)}" for line in verdict.lines()],
                 buttons=decision_buttons(run)).public()


# -- 4. the verdict's buttons -----------------------------------------------------------------------------------------
def run_named(ctx: Context, run_id: int) -> CanaryRun:
    with ctx.session() as session:
        run = session.get(CanaryRun, run_id)
        if run is None:
            raise UserError("That canary run is not known any more.", "Type `/deploy canary <image>` to start one.")
        session.expunge(run)
    return run


def press_promote(ctx: Context, run_id: int) -> Reply:
    return press_decision(ctx, run_id, "canary-promote")


def press_discard(ctx: Context, run_id: int) -> Reply:
    return press_decision(ctx, run_id, "canary-discard")


def press_decision(ctx: Context, run_id: int, name: str) -> Reply:
    return decide(ctx, name, run_named(ctx, run_id), [])


def press_declare(ctx: Context, run_id: int) -> Reply:
    run = run_named(ctx, run_id)
    if run.incident_id is not None:
        with ctx.session() as session:
            incident = svc.incident_for(ctx, session, run.incident_id)
        if incident.is_open:
            return Reply(f"This canary is already incident #{incident.id}.")
    title = f"Canary {tag(run.image)} of {run.app} judged {run.verdict or 'bad'}"
    incident, _ = svc.declare(ctx, title, 2, f"canary: {run.verdict or 'bad'} verdict", source={"canary": run.id})
    with ctx.session() as session:
        session.execute(update(CanaryRun).where(col(CanaryRun.id) == run.id).values(incident_id=incident.id))
        # the create execution belongs to the incident now: resolving it offers the undo of what is still in place
        session.execute(update(PlaybookExecution).where(col(PlaybookExecution.id) == run.execution_id,
                                                        col(PlaybookExecution.incident_id).is_(None))
                        .values(incident_id=incident.id))
        svc.record(session, session.get(Incident, incident.id), "canary", ctx.user_id,
                   f"Canary of {run.image}: " + "; ".join(run.reasons)[:1500],
                   {"canary_run": run.id, "machine": run.machine_id, "verdict": run.verdict}, at=ctx.now())
    checklist.record_on_incident(ctx, incident, run_checklist(ctx, run),
                                 f"the canary of {tag(run.image)}")
    return Reply(f"Declared #{incident.id}: {escape(incident.title)}.")


def register(registry: Registry) -> None:
    for playbook in (Canary(), CanaryPromote(), CanaryDiscard()):
        registry.playbooks[playbook.name] = playbook
    deploy = registry.command("deploy", help="/deploy: watch a deploy, try it on a canary, its pre-deploy checklist")
    deploy.sub("canary", f"canary {Canary.usage}", Canary.help, canary_command)
    deploy.sub("promote", f"promote {CanaryPromote.usage}", CanaryPromote.help, promote_command)
    deploy.sub("discard", f"discard {CanaryDiscard.usage}", CanaryDiscard.help, discard_command)
    registry.job(TICK_JOB)(tick)
    registry.action(PROMOTE_ACTION, press_promote, value=int)
    registry.action(DISCARD_ACTION, press_discard, value=int)
    registry.action(DECLARE_ACTION, press_declare, value=int)
    registry.on(Hooks.PLAYBOOK_FINISHED)(on_finished)
