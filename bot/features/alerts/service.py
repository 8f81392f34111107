"""Alerts: store with dedup windows, link to open incidents, answer in a thread, declare or dismiss.

The HTTP answer and the Slack event ack only store the alert and queue a job (`receive`); the jobs
post and update the thread at the pace Slack allows (`bot.features.alerts.pacing`). Repeats within the
window bump a counter and queue at most one pending update per alert, so a storm of a thousand
alerts over a hundred keys becomes a hundred threads and a bounded number of edits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.features.alerts import pacing, render
from bot.features.alerts.payloads import IncomingAlert, derive_key
from bot.core.chat import MessageRef
from bot.core.clock import as_utc
from bot.core.container import Container
from bot.core.context import Context, job_context, webhook_context
from bot.store.db import session_scope
from bot.core.errors import IntegrationError, UserError
from bot.core.hooks import Hooks
from bot.store.models import Alert, Incident, ProcessedRequest
from bot.core.reply import Reply, escape, mention
from bot.service import incidents as svc, jobs
from playbooks.severity import Classification, RuleSet, Signals, classify, in_words, rules_for
from bot.features.alerts.signals import live_signals

log = logging.getLogger(__name__)

POST_JOB = "alerts.post"
REFRESH_JOB = "alerts.refresh"
DIGEST_JOB = "alerts.digest"
ARRIVED_JOB = "alerts.arrived"  # listeners (the `alert_received` workflows) hear a new alert, after the ack
PACED_JOBS = (POST_JOB, REFRESH_JOB)  # jobs whose payload names the pacing lane (and slots) they hold
URGENT_LEVEL = 2  # SEV1 and SEV2 post in their own lane: no storm of lesser alerts is ahead of them
DIGEST_WAIT = timedelta(seconds=60)  # the alerts a full lane turns away in a minute share one message
DIGEST_GRACE = timedelta(seconds=10)  # the digest of a minute runs this long after it, once its alerts are stored
COALESCE = timedelta(seconds=10)  # repeats within this long share one thread update
ACTOR = "fireline"


@dataclass(frozen=True)
class Received:
    alert_id: int | None
    new: bool
    level: int
    count: int = 1
    incident_id: int | None = None
    duplicate: bool = False


def rules(container: Container) -> RuleSet:
    return rules_for(container.settings.severity_rules or None)[0]


def latest_alert(session: Session, key: str) -> Alert | None:
    """The newest alert stored under this dedup key (a key fires again as a new row once resolved)."""
    return session.exec(select(Alert).where(col(Alert.dedup_key) == key)
                        .order_by(col(Alert.epoch).desc()).limit(1)).first()


def analysis_of(ctx: Context, alert: Alert, ruleset: RuleSet) -> Reply:
    """The thread's analysis with the SEV's response time as configured (SEV_RESPONSE_MINUTES), as cards print it."""
    return render.analysis(alert, ruleset, ctx.app.settings.severity(alert.level))


def window(container: Container) -> timedelta:
    return timedelta(minutes=container.settings.alerts_dedup_minutes)


def paced(container: Container) -> bool:
    """The console prints at once; only Slack needs its rate limits respected."""
    return not container.mode.is_console


def classify_alert(container: Container, incoming: IncomingAlert, signals: Signals | None = None) -> Classification:
    return classify(incoming.classify_text, signals or incoming.signals, source=incoming.source,
                    rules=rules(container))


def _linked_incident(session: Session, key: str, incoming: IncomingAlert) -> Incident | None:
    """An open incident this alert belongs to: one declared from (or linked to) the same key, or named in it."""
    candidates: list[int] = []
    named = incoming.details.get("fireline_incident")
    if isinstance(named, int):
        candidates.append(named)
    rows = session.exec(select(Alert.incident_id)
                        .where(col(Alert.dedup_key) == key, col(Alert.incident_id).is_not(None))
                        .order_by(col(Alert.epoch).desc()).limit(3)).all()
    candidates += [row for row in rows if row is not None]
    for incident_id in candidates:
        incident = session.get(Incident, incident_id)
        if incident is not None and incident.is_open:
            return incident
    return None


def person_key(session: Session, key: str, viewer: Context | None) -> str:
    """The dedup key of an alert a person typed or pasted: the alert's own, unless the alert it would join belongs
    to an incident they may not see; then theirs alone (`key~U123`), so their paste becomes an alert of its own,
    exactly as a key nobody used before would, and never counts into, links to or posts in a private incident."""
    if viewer is None or viewer.is_console:
        return key
    latest = latest_alert(session, key)
    if latest is None or svc.sees(viewer, session, latest.incident_id):
        return key
    return f"{key}~{viewer.user_id}"[:200]


class _LostRace(Exception):
    """Another request opened this alert's window between our read and our insert: start again."""


def receive(container: Container, incoming: IncomingAlert, viewer: Context | None = None) -> Received:
    """Store an alert (or count a repeat) and queue its thread. Fast: no network, a few queries.

    All of it is one transaction, retried whole when another request (or replica) opened the same
    alert's window first: the delivery id recorded by the lost attempt is rolled back with it, so
    the retry counts the delivery as a repeat instead of mistaking it for a replay of itself. (No
    savepoints here: on SQLite, releasing a savepoint that began the transaction commits it.)
    """
    now = container.clock()
    key = incoming.dedup_key or derive_key(incoming.source, incoming.title)
    result = classify_alert(container, incoming)
    for _ in range(5):
        try:
            with session_scope(container.engine) as session:
                return _receive_once(container, session, incoming, person_key(session, key, viewer), result, now,
                                     viewer)
        except _LostRace:
            continue
    raise RuntimeError(f"could not store alert {key!r}: the window kept changing under us")


def _receive_once(container: Container, session: Session, incoming: IncomingAlert, key: str,
                  result: Classification, now: datetime, viewer: Context | None = None) -> Received:
    if incoming.delivery_id and not _first_delivery(session, incoming, now):
        return Received(None, False, result.level, duplicate=True)
    latest = latest_alert(session, key)
    if latest is not None and as_utc(latest.last_seen_at) >= now - window(container) \
            and not (latest.details or {}).get("resolved_at"):  # resolved: the next firing is a new thread
        return _repeat(container, session, latest, now)
    alert = Alert(source=incoming.source, dedup_key=key, epoch=(latest.epoch + 1) if latest else 1,
                  title=incoming.title, text=incoming.text, link=incoming.link,
                  severity_hint=incoming.severity_hint, level=result.level, reasons=list(result.reasons),
                  playbook=result.playbook, guide_row=result.row.key if result.row else None,
                  signals=incoming.signals.as_dict(), details=incoming.details, first_seen_at=now,
                  last_seen_at=now, render_pending=True, own_root=incoming.root_ts is None,
                  channel=incoming.root_channel, root_ts=incoming.root_ts)
    incident = _linked_incident(session, key, incoming)
    if incident is not None and viewer is not None and not svc.sees(viewer, session, incident.id):
        incident = None  # a person's alert names an incident they may not see (`fireline_incident`): no link
    if incident is not None:
        alert.status, alert.incident_id = "linked", incident.id
    try:
        session.add(alert)
        session.flush()
    except IntegrityError:
        raise _LostRace from None  # the whole transaction rolls back, our delivery id included
    if incident is not None:
        svc.record(session, incident, "alert", ACTOR, f"Alert from {incoming.source}: {incoming.title}",
                   {"alert_id": alert.id, "level": alert.level, "link": alert.link}, at=now,
                   dedup_key=f"alert:{alert.id}")
    _queue_post(container, session, alert, incident, now)
    # a new alert (not a repeat): its listeners hear it once, in a job (a retry or a second replica finds the
    # workflow's run already claimed), whether it joined an incident or none
    jobs.enqueue(session, ARRIVED_JOB, {"alert_id": alert.id}, now=now, dedup_key=f"alert-arrived:{alert.id}")
    return Received(alert.id, True, alert.level, 1, alert.incident_id)


def _first_delivery(session: Session, incoming: IncomingAlert, now: datetime) -> bool:
    """Replays of one delivery (a sender's retry) are dropped, in the same transaction as the alert."""
    table = ProcessedRequest.__table__
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = (insert(table).values(key=f"alert-delivery:{incoming.source}:{incoming.delivery_id}"[:200],
                                      created_at=now)
                 .on_conflict_do_nothing(index_elements=["key"]).returning(table.c.key))
    return session.execute(statement).first() is not None


def _repeat(container: Container, session: Session, alert: Alert, now: datetime) -> Received:
    session.execute(update(Alert).where(col(Alert.id) == alert.id)
                    .values(count=Alert.count + 1, last_seen_at=now))
    # At most one queued render per alert: the first repeat after a render queues the next one.
    claimed = session.execute(update(Alert).where(col(Alert.id) == alert.id, col(Alert.render_pending).is_(False))
                              .values(render_pending=True)).rowcount
    if claimed:
        run_at = now
        payload: dict[str, Any] = {"alert_id": alert.id}
        if paced(container):
            run_at = pacing.reserve(session, pacing.UPDATE_LANE, now, pacing.UPDATE_INTERVAL, not_before=now + COALESCE,
                                    held_by=PACED_JOBS)
            payload["lane"] = pacing.UPDATE_LANE
        jobs.enqueue(session, REFRESH_JOB, payload, run_at=run_at, now=now)
    session.refresh(alert)
    return Received(alert.id, False, alert.level, alert.count, alert.incident_id)


def _queue_post(container: Container, session: Session, alert: Alert, incident: Incident | None,
                now: datetime) -> None:
    """Queue the alert's thread in its channel's lane; when the lane is full for the next minute, the digest's.

    An alert that belongs to an incident always gets its post (it goes to the incident's channel, which
    has people waiting on it); so does one posted as an integration's message (its thread exists already).
    """
    run_at: datetime | None = now
    payload: dict[str, Any] = {"alert_id": alert.id}
    if paced(container):
        urgent = alert.level <= URGENT_LEVEL
        if incident is not None:
            lane, slots = (incident.channel_id or container.settings.incidents_channel_name), 2 if alert.root_ts else 1
        elif alert.root_ts:
            lane, slots = alert.channel or "", 1
        else:
            lane, slots = container.settings.incidents_channel_name, 2
        capped = incident is None and not alert.root_ts
        payload.update(lane=pacing.post_lane(lane, urgent), slots=slots)
        run_at = pacing.reserve(session, payload["lane"], now, pacing.POST_INTERVAL, slots=slots,
                                horizon=pacing.HORIZON if capped else None, held_by=PACED_JOBS)
        if run_at is None:
            _queue_digest(session, alert, payload["lane"], now)
            return
    jobs.enqueue(session, POST_JOB, payload, run_at=run_at, now=now, dedup_key=f"alert-post:{alert.id}")


def _queue_digest(session: Session, alert: Alert, lane: str, now: datetime) -> None:
    """The alert is stored and listed (`/alert list`), and shown in its lane's next digest: one message a minute."""
    session.execute(update(Alert).where(col(Alert.id) == alert.id)
                    .values(details={**(alert.details or {}), "digest": lane}))
    width = DIGEST_WAIT.total_seconds()
    bucket = int(as_utc(now).timestamp() // width)
    ends = datetime.fromtimestamp((bucket + 1) * width, tz=as_utc(now).tzinfo)
    # One job per lane and minute, run after the minute (and the grace) ended: every alert of that minute
    # is committed by then, so none is left out of its digest because it was stored as the job ran.
    jobs.enqueue(session, DIGEST_JOB, {"lane": lane, "since": (ends - 2 * DIGEST_WAIT).isoformat()},
                 run_at=ends + DIGEST_GRACE, now=now, dedup_key=f"alert-digest:{lane}:{bucket}"[:200])


# -- jobs: post and update the thread ------------------------------------------------------------------
def _take_render(container: Container, alert_id: int) -> Alert | None:
    """Clear the pending flag first, then read: a repeat after this point queues its own render."""
    with session_scope(container.engine) as session:
        session.execute(update(Alert).where(col(Alert.id) == alert_id).values(render_pending=False))
    with session_scope(container.engine) as session:
        return session.get(Alert, alert_id)


POST_BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=5))


def post_thread(container: Container, payload: dict[str, Any], job=None) -> None:
    """Post an alert's thread; when Slack still fails after the client's own retries, try again later.

    An alert that never reaches Slack is an alert nobody sees: the post is queued again after 30 s,
    2 min and 5 min (the client has already retried 429s and 5xx within seconds), then the job fails
    with Slack's reason, which `fireline` logs and the alert keeps (`/alert recent` lists it). Parts
    already posted are not posted again.
    """
    attempt = int(payload.get("attempt") or 1)
    done: dict[str, bool] = {}  # what went out before a failure, so a retry does not say it twice
    try:
        _post_thread(container, payload, done)
    except IntegrationError as exc:
        if attempt > len(POST_BACKOFF):
            raise
        wait, now = POST_BACKOFF[attempt - 1], container.clock()
        log.warning("alert #%s: Slack failed (%s); posting again in %s (try %d of %d)", payload["alert_id"], exc,
                    wait, attempt, len(POST_BACKOFF) + 1)
        with session_scope(container.engine) as session:
            again = {k: v for k, v in payload.items() if k not in ("lane", "slots")}  # a retry holds no slot
            jobs.enqueue(session, POST_JOB, {**again, **done, "attempt": attempt + 1}, run_at=now + wait, now=now,
                         dedup_key=f"alert-post:{payload['alert_id']}:try{attempt + 1}")


def _post_thread(container: Container, payload: dict[str, Any], done: dict[str, bool]) -> None:
    alert = _take_render(container, int(payload["alert_id"]))
    if alert is None:
        return
    alert = _with_live_signals(container, alert)
    ctx = webhook_context(container)
    ruleset = rules(container)
    incident = None
    if alert.incident_id and alert.status == "linked":
        with session_scope(container.engine) as session:
            incident = session.get(Incident, alert.incident_id)
    if incident is not None:
        if not payload.get("announced"):
            svc.announce(ctx, incident, render.incident_post(alert))
            done["announced"] = True
            received(ctx, incident, alert)
        if alert.root_ts and not alert.reply_ts:  # an integration's message in ALERTS_CHANNEL: say where it went
            ref = ctx.chat.post(alert.channel or "", analysis_of(ctx, alert, ruleset), thread_ts=alert.root_ts)
            _save(container, alert.id, reply_ts=ref.ts)
        return
    if alert.reply_ts:  # posted in full by an earlier try
        return
    if alert.own_root and not alert.root_ts:
        target = alert.channel or f"#{container.settings.incidents_channel_name}"
        root = ctx.chat.post(target, render.alert_message(alert))
        _save(container, alert.id, channel=root.channel, root_ts=root.ts)
        alert.channel, alert.root_ts = root.channel, root.ts
    reply = ctx.chat.post(alert.channel or "", analysis_of(ctx, alert, ruleset), thread_ts=alert.root_ts)
    _save(container, alert.id, reply_ts=reply.ts)


DIGEST_SHOWN = 20  # alerts listed in one digest message; the rest are counted (`/alert list` shows the latest)


def post_digest(container: Container, payload: dict[str, Any], job=None) -> None:
    """One message for the alerts a full lane turned away: most severe first, each with its number."""
    lane = str(payload["lane"])
    since = as_utc(datetime.fromisoformat(str(payload["since"])))
    with session_scope(container.engine) as session:
        candidates = session.exec(select(Alert).where(col(Alert.first_seen_at) >= since,
                                                      col(Alert.root_ts).is_(None), col(Alert.own_root).is_(True))
                                  .order_by(col(Alert.level), col(Alert.id))).all()
        waiting = [alert for alert in candidates if (alert.details or {}).get("digest") == lane
                   and not (alert.details or {}).get("digest_ts")]
        for alert in waiting:
            session.expunge(alert)
    if not waiting:
        return
    ctx = webhook_context(container)
    target = f"#{container.settings.incidents_channel_name}"
    try:
        ref = ctx.chat.post(target, render.digest(waiting, DIGEST_SHOWN))
    except IntegrationError as exc:  # as a thread's post: again after 30 s, 2 and 5 min, then the job fails
        attempt = int(payload.get("attempt") or 1)
        if attempt > len(POST_BACKOFF):
            raise
        now, wait = container.clock(), POST_BACKOFF[attempt - 1]
        log.warning("alert digest: Slack failed (%s); posting again in %s", exc, wait)
        with session_scope(container.engine) as session:
            jobs.enqueue(session, DIGEST_JOB, {**payload, "attempt": attempt + 1}, run_at=now + wait, now=now,
                         dedup_key=f"alert-digest:{lane}:{payload['since']}:try{attempt + 1}"[:200])
        return
    with session_scope(container.engine) as session:
        for alert in waiting:
            stored = session.get(Alert, alert.id)
            if stored is not None:
                stored.details = {**(stored.details or {}), "digest_ts": ref.ts, "digest_channel": ref.channel}
                stored.render_pending = False
                session.add(stored)


def _with_live_signals(container: Container, alert: Alert) -> Alert:
    """Re-classify with what is true right now (health endpoint, machines); keep the alert's own signals."""
    live = live_signals(container).as_dict()
    if not live:
        return alert
    merged = Signals.from_mapping({**alert.signals, **live})
    text = f"{alert.title}\n{alert.text}" if alert.text else alert.title
    result = classify(text, merged, source=alert.source, rules=rules(container))
    with session_scope(container.engine) as session:
        stored = session.get(Alert, alert.id)
        stored.level, stored.reasons, stored.playbook = result.level, list(result.reasons), result.playbook
        stored.guide_row = result.row.key if result.row else None
        stored.signals = merged.as_dict()
        session.add(stored)
    return stored


def _save(container: Container, alert_id: int, **values: Any) -> None:
    with session_scope(container.engine) as session:
        session.execute(update(Alert).where(col(Alert.id) == alert_id).values(**values))


def refresh_thread(container: Container, payload: dict[str, Any], job=None) -> None:
    alert = _take_render(container, int(payload["alert_id"]))
    if alert is None:
        return
    if alert.incident_id and alert.status in ("linked", "declared") and alert.count > 1:
        _repeat_to_incident(container, alert)
    if not alert.channel:
        return
    update_messages(job_context(container), alert, status_only=True)


def _repeat_to_incident(container: Container, alert: Alert) -> None:
    """A repeat of the alert behind an open incident: its timeline and channel hear of it, once per render.

    Repeats are coalesced by the render flag (one queued refresh per alert, at most every
    COALESCE): a storm of repeats becomes one "seen N times" line per refresh, not one per delivery.
    """
    with session_scope(container.engine) as session:
        incident = session.get(Incident, alert.incident_id)
        if incident is None or not incident.is_open:
            return
        event = svc.record(session, incident, "alert_repeat", ACTOR,
                           f"Alert from {alert.source} seen again ({alert.count} times): {alert.title}",
                           {"alert_id": alert.id, "count": alert.count}, at=container.clock(),
                           dedup_key=f"alert-repeat:{alert.id}:{alert.count}")
    if event is not None:
        svc.announce(job_context(container), incident, render.repeat_post(alert))


def update_messages(ctx: Context, alert: Alert, *, status_only: bool = False) -> None:
    """Edit Fireline's messages of an alert: the alert message (ours) and the answer in its thread."""
    if not alert.channel:
        return
    targets = []
    if alert.own_root and alert.root_ts:
        targets.append((alert.root_ts, render.alert_message(alert)))
    if alert.reply_ts and (not status_only or not alert.own_root):
        targets.append((alert.reply_ts, analysis_of(ctx, alert, rules(ctx.app))))
    for ts, reply in targets:
        try:
            ctx.chat.update(MessageRef(alert.channel, ts), reply)
        except Exception:
            log.warning("could not update the thread of alert %s", alert.id)


# -- buttons: declare and dismiss ----------------------------------------------------------------------------
def no_such_alert(alert_id: int) -> UserError:
    return UserError(f"There is no alert #{alert_id}; it may have been cleaned up.")


def get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise no_such_alert(alert_id)
    return alert


def _claim(ctx: Context, alert_id: int, new_status: str, allowed: tuple[str, ...]) -> Alert:
    """Move the alert's state only if nobody else did (double clicks, two people at once)."""
    with ctx.session() as session:
        claimed = session.execute(update(Alert).where(col(Alert.id) == alert_id, col(Alert.status).in_(allowed))
                                  .values(status=new_status, acted_by=ctx.user_id, acted_at=ctx.now())).rowcount
        alert = get_alert(session, alert_id)
    if claimed:
        return alert
    if alert.status == "declared" or (alert.status == "linked" and alert.incident_id):
        raise UserError(f"Alert #{alert.id} is already part of incident #{alert.incident_id}.",
                        f"Type `/incident show #{alert.incident_id}` to see it.")
    if alert.status == "declaring":
        raise UserError(f"Alert #{alert.id} is being declared by {mention(alert.acted_by)} right now.")
    if alert.status == "dismissed":
        raise UserError(f"Alert #{alert.id} was already dismissed by {mention(alert.acted_by)}.")
    raise UserError(f"Alert #{alert.id} is {alert.status}; nothing to do.")


def declare_from_alert(ctx: Context, alert_id: int) -> Reply:
    """Declare an incident with the alert's title and suggested SEV; the two link to each other."""
    before = None
    with ctx.session() as session:
        before = get_alert(session, alert_id).status
    alert = _claim(ctx, alert_id, "declaring", ("open", "dismissed"))
    thread = {"channel": alert.channel, "ts": alert.root_ts or alert.reply_ts} if alert.channel else None
    said = in_words(alert.reasons[0], rules(ctx.app)) if alert.reasons else ""
    reason = f"suggested from alert #{alert.id} ({alert.source}): {said}"
    try:
        incident, problems = svc.declare(ctx, alert.title, alert.level, reason,
                                         source={"alert_id": alert.id, "alert_source": alert.source,
                                                 "dedup_key": alert.dedup_key, "thread": thread, "link": alert.link})
    except Exception:
        with ctx.session() as session:
            session.execute(update(Alert).where(col(Alert.id) == alert_id).values(status=before))
        raise
    permalink = _permalink(ctx, alert)
    with ctx.session() as session:
        stored = get_alert(session, alert_id)
        stored.status, stored.incident_id = "declared", incident.id
        session.add(stored)
        svc.record(session, session.get(Incident, incident.id), "alert", ctx.user_id,
                   f"Declared from alert #{alert.id} ({alert.source}): {alert.title}",
                   {"alert_id": alert.id, "thread": thread, "permalink": permalink, "link": alert.link},
                   at=ctx.now(), dedup_key=f"alert:{alert.id}")
        alert = stored
    where = f"<{escape(permalink)}|the alert thread>" if permalink else "the alert thread" + (
        f" in <#{alert.channel}>" if alert.channel and alert.channel.startswith(("C", "G")) else "")
    svc.announce(ctx, incident, Reply(f":link: Declared from {where} ({render.source_name(alert.source)}: "
                                      f"{escape(alert.title)}). Seen {alert.count} time(s)."))
    channel = f"<#{incident.channel_id}|{incident.channel_name}>" if incident.channel_id and not ctx.is_console \
        else f"#{incident.channel_name}" if incident.channel_name else f"#{incident.id}"
    if alert.channel and (alert.root_ts or alert.reply_ts):
        try:
            ctx.chat.post(alert.channel, Reply(f":rotating_light: {mention(ctx.user_id)} declared incident "
                                               f"#{incident.id} from this alert: {channel}").public(),
                          thread_ts=alert.root_ts or alert.reply_ts)
        except Exception:
            log.warning("could not post the declaration in the thread of alert %s", alert.id)
    update_messages(ctx, alert)
    with ctx.session() as session:
        incident = session.get(Incident, incident.id)
        session.expunge(incident)
    received(ctx, incident, alert)
    reply = Reply(f"Declared *#{incident.id}* SEV{incident.severity} from alert #{alert.id}: {escape(incident.title)}",
                  lines=[f"Incident channel: {channel}."])
    reply.lines += [f":warning: {escape(p)}" for p in problems]
    return reply


def received(ctx: Context, incident: Incident, alert: Alert) -> None:
    """The alert joined an incident (declared from it, or linked to it as it arrived): listeners (the team's
    workflows, `alert_received`) hear it once per alert; `emit` logs a listener's failure and goes on. They
    heard it arrive too (`arrived`): a workflow that ran then does not run again (bot/features/workflows/runner.py)."""
    ctx.app.registry.emit(Hooks.ALERT_RECEIVED, ctx, incident=incident, alert=alert)


def arrived(container: Container, payload: dict[str, Any], job=None) -> None:
    """A new alert was stored: ALERT_RECEIVED with the incident it joined as it arrived, or incident=None. An
    alert of a private incident goes with that incident (its listeners keep to its channel); one with none is
    nobody's secret."""
    ctx = job_context(container)
    with ctx.session() as session:
        alert = session.get(Alert, int(payload["alert_id"]))
        if alert is None:
            return
        incident = session.get(Incident, alert.incident_id) if alert.incident_id else None
        session.expunge(alert)
        if incident is not None:
            session.expunge(incident)
    ctx.app.registry.emit(Hooks.ALERT_RECEIVED, ctx, incident=incident, alert=alert)


def _permalink(ctx: Context, alert: Alert) -> str | None:
    finder = getattr(ctx.chat, "permalink", None)
    ts = alert.root_ts or alert.reply_ts
    if finder is None or not alert.channel or not ts:
        return None
    try:
        return finder(alert.channel, ts)
    except Exception:
        return None


def dismiss(ctx: Context, alert_id: int) -> Reply:
    alert = _claim(ctx, alert_id, "dismissed", ("open",))
    update_messages(ctx, alert)
    return Reply(f"Alert #{alert.id} dismissed; repeats within {ctx.app.settings.alerts_dedup_minutes} minutes "
                 "only update its count.")


def recent(session: Session, limit: int = 10) -> list[Alert]:
    return list(session.exec(select(Alert).order_by(col(Alert.last_seen_at).desc(), col(Alert.id).desc())
                             .limit(limit)).all())
