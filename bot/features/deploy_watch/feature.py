"""`/deploy watch [release]` and DEPLOY_WATCH: judge a new Fly release for a window, in one message edited as it runs.

Durable all the way: the watch is a row (bot.store.models.DeployWatch), each minute's look is a timer job
(`deploy.tick`) that probes HEALTH_URL once, reads Sentry's counts and Fly's machines, judges
(playbooks.deploy_verdict, a pure decision) and edits the one message; the next tick is armed in the
same transaction that stores the probe, so a restart loses nothing and a tick runs once. The
automatic watch is another timer chain (`deploy.poll`, each minute) over the releases `/rollback`
already reads; the row's unique key (app and image) makes a release watched once however it was found.

A bad verdict offers **Roll back** (the rollback playbook's plan to the release before, attached to the
incident declared for this deploy or a new one: the usual Confirm by a responder still decides) and
**Declare**. Nothing is rolled back by the watch itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.core.chat import MessageRef
from bot.core.grammar import Args, parse_args
from bot.core.registry import Registry
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.store.db import session_scope
from bot.features.deploy_watch import checklist
from bot.features.deploy_watch.releases import channel, read_releases
from bot.features.deploy_watch.sentry import check_sentry_api, error_rate_line, sentry_client
from bot.core.errors import UserError
from bot.clients.fly.health import HealthProbe
from bot.core.hooks import Hooks
from bot.store.models import DeployWatch
from bot.core.reply import Button, Reply, escape
from bot.clients.fly.metrics import FlyMetrics, FlyMetricsError, error_rate_5xx, p95_seconds, single
from bot.clients.sentry import SentryError
from bot.features.playbooks import executions
from bot.service import timers
from bot.service import incidents as svc
from bot.features.playbooks.env import build_env, close_env, is_live
from playbooks.deploy_verdict import (ErrorCounts, Observations, Probe, Thresholds, TrafficChange, Verdict, judge,
                                     parse_thresholds, regions_from)
from playbooks.fleet import in_group, main_group
from playbooks.fleet_models import Release, image_tag
from playbooks.framework import ServiceError
from playbooks.timefmt import as_utc

TICK_JOB = "deploy.tick"
POLL_JOB = "deploy.poll"
ROLLBACK_ACTION = "deploy_rollback"
DECLARE_ACTION = "deploy_declare"
TICK = timedelta(minutes=1)
USAGE = "watch [v43]"


def window(container: Container) -> timedelta:
    return timedelta(minutes=container.settings.deploy_watch_minutes)


def sentry_release(container: Container, release: Release) -> str:
    template = container.settings.deploy_sentry_release or "{tag}"
    return (template.replace("{tag}", image_tag(release.image)).replace("{image}", release.image)
            .replace("{version}", str(release.version if release.version is not None else "")))[:200]


# -- starting a watch -------------------------------------------------------------------------------------------
def start(ctx: Context, releases: list[Release], app: str, wanted: str | None, *,
          automatic: bool) -> DeployWatch | None:
    """Store the watch, post its message, arm its first tick. None: that release is already watched."""
    container = ctx.app
    if not releases:
        raise UserError(f"Fly lists no release of {app} to watch.", "Check FLY_APP, then `/deploy watch`.")
    index = 0
    if wanted:
        number = wanted.lower().removeprefix("v")
        found = [i for i, r in enumerate(releases)
                 if r.label == wanted or str(r.version) == number or r.image == wanted]
        if not found:
            shown = ", ".join(r.label for r in releases[:5])
            raise UserError(f"{app} has no release {wanted} among its latest ({shown}).",
                            "Type `/deploy watch` for the newest, or `/deploy watch v43` with one of those.")
        index = found[0]
    release = releases[index]
    previous = next((r for r in releases[index + 1:] if r.image != release.image), None)
    now = ctx.now()
    deployed = release.created_at or now
    watch = DeployWatch(key=f"{app}:{release.image}"[:400], app=app, release=release.label, image=release.image,
                        sentry_release=sentry_release(container, release), previous=previous.label if previous else "",
                        previous_image=previous.image if previous else "",
                        previous_sentry_release=sentry_release(container, previous) if previous else "",
                        deployed_at=deployed, started_at=now, ends_at=now + window(container),
                        started_by=ctx.user_id or "fireline")
    try:
        with ctx.session() as session:
            session.add(watch)
            session.flush()
            timers.arm(session, TICK_JOB, timers.timer_key("deploy", watch.id, now + TICK), now + TICK,
                       {"watch_id": watch.id}, now=now)
            session.expunge(watch)
    except IntegrityError:
        return None
    ref = ctx.chat.post(channel(container), render(watch, None, now, automatic=automatic,
                                                   checklist_row=checklist.for_deploy(ctx, app, release.image)))
    with ctx.session() as session:
        session.execute(update(DeployWatch).where(col(DeployWatch.id) == watch.id).values(message=ref.as_dict()))
    watch.message = ref.as_dict()
    return watch


def watch_command(ctx: Context, args: Args) -> Reply:
    if len(args.words) > 1:
        raise UserError("Watch one release at a time.", "For example `/deploy watch` (the newest) or "
                        "`/deploy watch v43`.")
    releases, app, _ = read_releases(ctx.app)
    wanted = args.words[0] if args.words else None
    watch = start(ctx, releases, app, wanted, automatic=False)
    label = wanted or (releases[0].label if releases else "")
    if watch is None:
        return Reply(f"Fireline is already watching {escape(label)} of {escape(app)} (or has watched it): see "
                     f"its message in {escape(channel(ctx.app))}.")
    return Reply(f"Watching {escape(watch.release)} of {escape(app)} for {ctx.app.settings.deploy_watch_minutes} min "
                 f"against {escape(watch.previous or 'no earlier release')}; the verdict is in "
                 f"{escape(channel(ctx.app))}.")


# -- each minute ------------------------------------------------------------------------------------------------
def observe(container: Container, watch: DeployWatch, probes: list[dict[str, Any]], now: datetime) -> Observations:
    span = window(container)
    deployed = as_utc(watch.deployed_at)
    new_end = min(as_utc(now), deployed + span)
    observed = Observations(release=watch.release, previous=watch.previous or "the release before",
                            minutes=(as_utc(now) - as_utc(watch.started_at)).total_seconds() / 60,
                            health_url=container.settings.health_url)
    client = sentry_client(container)
    if client is not None:
        if not watch.previous_sentry_release:
            observed.errors = ErrorCounts(error="no earlier release to compare with")
        else:
            try:
                with client:
                    new = client.error_count(watch.sentry_release, deployed, max(new_end, deployed + TICK))
                    old = client.error_count(watch.previous_sentry_release, deployed - span, deployed)
                observed.errors = ErrorCounts(new, old, max((new_end - deployed).total_seconds() / 60, 1.0),
                                              span.total_seconds() / 60)
            except SentryError as exc:
                observed.errors = ErrorCounts(error=str(exc))
    if container.settings.health_url:
        observed.probes = [Probe(bool(p["ok"]), p.get("status"), p.get("ms")) for p in probes]
    if container.settings.fly_metrics_readable:
        observed.traffic = traffic_change(container, watch.app, deployed, as_utc(now), span)
    env = build_env(container)
    try:
        machines = env.fly.list_machines()
        machines = in_group(machines, main_group(machines))
        observed.regions = regions_from(machines, deployed, now)
        if env.dry_run:
            observed.fly_error = env.dry_run_reason
    except ServiceError as exc:
        observed.regions, observed.fly_error = None, str(exc)
    finally:
        close_env(env)
    return observed


def traffic_change(container: Container, app: str, deployed: datetime, now: datetime,
                   span: timedelta) -> TrafficChange:
    """Fly's p95 and 5xx share of the app since the deploy (at least 2 minutes: two of Fly's 15 s scrapes apart
    is the least a rate needs, with margin) against the same span before it."""
    since = max(timedelta(minutes=2), min(span, now - deployed))
    before = f"{int(span.total_seconds() // 60)}m"
    after = f"{int(since.total_seconds() // 60)}m"
    try:
        with FlyMetrics.from_settings(container.settings, sleep=container.knobs.sleep) as metrics:
            return TrafficChange(
                single(metrics.query(p95_seconds(app, before), deployed)),
                single(metrics.query(p95_seconds(app, after), now)),
                single(metrics.query(error_rate_5xx(app, before), deployed)),
                single(metrics.query(error_rate_5xx(app, after), now)))
    except FlyMetricsError as exc:
        return TrafficChange(error=str(exc))


def probe(container: Container) -> dict[str, Any] | None:
    url = container.settings.health_url
    if not url:
        return None
    health = HealthProbe()
    try:
        result = health.check(url)
    finally:
        health.close()
    return {"ok": result.ok, "status": result.status, "ms": result.latency_ms}


def tick(container: Container, payload: dict[str, Any], job=None) -> None:
    watch_id = int(payload["watch_id"])
    now = container.clock()
    with session_scope(container.engine) as session:
        watch = session.get(DeployWatch, watch_id)
        if watch is None or watch.status != "watching":
            return
        session.expunge(watch)
    probes = list(watch.probes)
    sample = probe(container)
    if sample is not None:
        probes.append(sample)
    limits = parse_thresholds(container.settings.deploy_thresholds)
    verdict = judge(observe(container, watch, probes, now), limits)
    finished = as_utc(now) >= as_utc(watch.ends_at)
    with session_scope(container.engine) as session:
        changed = session.execute(
            update(DeployWatch).where(col(DeployWatch.id) == watch_id, col(DeployWatch.status) == "watching")
            .values(probes=probes, verdict=verdict.level, reasons=verdict.lines(),
                    status="done" if finished else "watching"))
        if not changed.rowcount:
            return
        if not finished:
            run_at = min(as_utc(now) + TICK, as_utc(watch.ends_at))
            timers.arm(session, TICK_JOB, timers.timer_key("deploy", watch_id, run_at), run_at,
                       {"watch_id": watch_id}, now=now)
    watch.verdict = verdict.level
    ctx = job_context(container)
    reply = render(watch, verdict, now, finished=finished, limits=limits,
                   checklist_row=checklist.for_deploy(ctx, watch.app, watch.image))
    if ctx.is_console:  # a terminal cannot edit what it printed: it prints the verdict when it is known
        if finished or verdict.level == "bad":
            ctx.chat.post(channel(container), reply)
        return
    if watch.message.get("ts"):
        ctx.chat.update(MessageRef(watch.message["channel"], watch.message["ts"]), reply)


ICONS = {"healthy": ":white_check_mark:", "suspicious": ":warning:", "bad": ":rotating_light:"}


def render(watch: DeployWatch, verdict: Verdict | None, now: datetime, *, finished: bool = False,
           automatic: bool = False, limits: Thresholds | None = None, checklist_row=False) -> Reply:
    """`checklist_row`: the deploy's pre-deploy checklist (None: there is none; False: not looked up)."""
    minutes = int((as_utc(watch.ends_at) - as_utc(watch.started_at)).total_seconds() // 60)
    gone = min(minutes, int((as_utc(now) - as_utc(watch.started_at)).total_seconds() // 60))
    state = "finished" if finished else f"watching, {gone} of {minutes} min"
    level = verdict.level if verdict else ""
    head = (f"{ICONS.get(level, ':eyes:')} *Deploy watch* of {escape(watch.app)} {escape(watch.release)} "
            f"({escape(image_tag(watch.image))}): " + (f"*{escape(verdict.summary())}*" if verdict
                                                       else "first look in a minute")
            + f" ({state})")
    lines = [f"Against {escape(watch.previous or 'no earlier release')}; Sentry release "
             f"`{escape(watch.sentry_release)}`" + (" · started automatically (DEPLOY_WATCH)" if automatic else "")]
    if checklist_row is not False:
        lines.append(escape(checklist.summary_line(checklist_row)))
    if verdict is not None:
        lines.append(f"Verdict: *{escape(verdict.summary())}*, the worst of:")
        lines += [f"• {escape(line)}" for line in verdict.lines()]
        limits = limits or Thresholds()
        changed = limits.changed()
        lines.append(f"Thresholds ({'DEPLOY_THRESHOLDS sets ' + ', '.join(changed) if changed else 'the defaults'}"
                     f"; DEPLOY_THRESHOLDS changes them): {limits.summary()}.")
    buttons = []
    if level == "bad":
        buttons = [Button("Roll back", ROLLBACK_ACTION, str(watch.id), "danger"),
                   Button("Declare", DECLARE_ACTION, str(watch.id))]
    return Reply(head, lines=lines, buttons=buttons).public()


# -- the buttons of a bad verdict ------------------------------------------------------------------------------
def watched(ctx: Context, watch_id: int) -> DeployWatch:
    with ctx.session() as session:
        watch = session.get(DeployWatch, watch_id)
        if watch is None:
            raise UserError("That deploy watch is not known any more.", "Type `/deploy watch` to watch again.")
        session.expunge(watch)
    return watch


def incident_for(ctx: Context, watch: DeployWatch):
    """The incident this deploy was declared as (still open), else a new SEV2 one; returns (incident, new?)."""
    if watch.incident_id is not None:
        with ctx.session() as session:  # a private incident is its members' (bot/service/lookups.py)
            incident = svc.incident_for(ctx, session, watch.incident_id, missing=UserError(
                "That deploy watch is not known any more.", "Type `/deploy watch` to watch again."))
        if incident.is_open:
            return incident, False
    title = f"Deploy {watch.release} of {watch.app} judged {watch.verdict or 'bad'}"
    incident, _ = svc.declare(ctx, title, 2, f"deploy watch: {watch.verdict or 'bad'} verdict",
                              source={"deploy_watch": watch.id})
    with ctx.session() as session:
        session.execute(update(DeployWatch).where(col(DeployWatch.id) == watch.id)
                        .values(incident_id=incident.id))
        svc.record(session, incident, "deploy_watch", ctx.user_id, "Deploy watch: " + "; ".join(watch.reasons)[:1500],
                   {"watch": watch.id, "release": watch.release, "verdict": watch.verdict}, at=ctx.now())
    checklist.record_on_incident(ctx, incident, checklist.for_deploy(ctx, watch.app, watch.image),
                                 f"{watch.release} ({image_tag(watch.image)})")
    return incident, True


def press_rollback(ctx: Context, watch_id: int) -> Reply:
    watch = watched(ctx, watch_id)
    playbook = ctx.app.registry.playbooks.get("rollback")
    if playbook is None:
        raise UserError("The rollback playbook is not installed.")
    if not watch.previous:
        raise UserError(f"{watch.release} has no earlier release to roll back to.", "Type `/rollback <image>`.")
    incident, _ = incident_for(ctx, watch)
    params = playbook.parse(parse_args([watch.previous]))
    execution, plan = executions.propose(ctx, playbook, params, incident)
    return executions.plan_answer(ctx, playbook, execution, plan, incident)


def press_declare(ctx: Context, watch_id: int) -> Reply:
    watch = watched(ctx, watch_id)
    incident, new = incident_for(ctx, watch)
    if not new:
        return Reply(f"This deploy is already incident #{incident.id}.")
    return Reply(f"Declared #{incident.id}: {escape(incident.title)}.")


# -- DEPLOY_WATCH=true: each new release ------------------------------------------------------------------------
def arm_poll(container: Container, run_at: datetime) -> None:
    with session_scope(container.engine) as session:
        timers.arm(session, POLL_JOB, timers.timer_key("deploy:poll", run_at.replace(second=0, microsecond=0)),
                   run_at, {}, now=container.clock())


def start_polling(ctx, container: Container) -> None:
    if container.settings.deploy_watch and is_live(container):
        arm_poll(container, container.clock())


def poll(container: Container, payload: dict[str, Any], job=None) -> None:
    """Watch the newest release when it went out within the window and is not watched yet; then the next poll."""
    now = container.clock()
    try:
        releases, app, _ = read_releases(container)
        newest = releases[0] if releases else None
        if newest is not None and newest.created_at is not None and \
                as_utc(now) - as_utc(newest.created_at) <= window(container):
            with session_scope(container.engine) as session:
                known = session.exec(select(DeployWatch.id).where(
                    DeployWatch.key == f"{app}:{newest.image}"[:400])).first()
            if known is None:
                start(job_context(container), releases, app, None, automatic=True)
    finally:
        if container.settings.deploy_watch:
            arm_poll(container, as_utc(now) + TICK)


def register(registry: Registry) -> None:
    deploy = registry.command("deploy", help="/deploy: watch a deploy, try it on a canary, its pre-deploy checklist")
    deploy.sub("watch", USAGE, "judge a Fly release (default the newest) for DEPLOY_WATCH_MINUTES from Sentry's "
               "error rate, HEALTH_URL and Fly's machines, in one message edited as it runs", watch_command)
    deploy.sub("checklist", checklist.USAGE, "the guide's pre-deploy checklist for an image: what Fireline sees "
               "(on call, the image to roll back to, Sentry and the watch, CI) and what a person ticks",
               checklist.checklist_command)
    registry.action(checklist.TICK_ACTION, checklist.press_tick)
    registry.action(checklist.TELL_ACTION, checklist.press_tell, value=int)
    registry.job(TICK_JOB)(tick)
    registry.job(POLL_JOB)(poll)
    registry.action(ROLLBACK_ACTION, press_rollback, value=int)
    registry.action(DECLARE_ACTION, press_declare, value=int)
    registry.on(Hooks.RUNTIME_STARTED)(start_polling)
    registry.check("sentry-api")(check_sentry_api)
    registry.env_piece("sentry")(error_rate_line)  # /diagnose's "Sentry errors" line
