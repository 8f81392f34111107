"""The response clock: ack deadlines, the SEV3 reminder and the SEV1 update nudge, as timer rows.

Targets come from the SEV table (`playbooks.severity`, or SEV_RESPONSE_MINUTES where it says
otherwise) and the guide's on-call rule ("respond to SEV1/SEV2 within 15 minutes", SEV1's response
time applied to every paged level): a page not acknowledged in time is escalated to the next level
in PagerDuty and announced. RESPONSE_CLOCK_SPEED divides every interval, so a drill sees the
15-minute escalation after 15 seconds at 60; the messages keep the nominal times and say it is a
drill. (Before, 15 minutes and 4 hours were constants here, and no drill could run in real time.)
Timers are jobs with a future `run_at` and a key naming the incident and
the due time, so a restart keeps them and two replicas fire each once; every timer re-checks the
incident when it fires, so a stale one (acked, resolved, severity changed) does nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from bot.core.clock import as_utc, fmt_duration
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.core.hooks import Hooks
from bot.store.models import Incident
from bot.clients.pagerduty import PagerDutyError
from bot.features.pagerduty.config import DRY_RUN, EVENTS, rest_client
from bot.features.pagerduty.paging import link_for
from bot.core.reply import Button, Reply, escape
from bot.service import incidents as svc
from bot.service import timers
from bot.service.incidents import Actions
from bot.core.settings import Settings
from playbooks.severity import SEVERITIES

log = logging.getLogger(__name__)

ACK_JOB = "pagerduty.ack_deadline"
REMIND_JOB = "pagerduty.ack_reminder"
NUDGE_JOB = "pagerduty.update_nudge"
MAX_ESCALATIONS = 3  # then PagerDuty's own policy (and the channel) carry on
MAX_NUDGES = 3  # unanswered nudges in a row; the next update starts counting again
UPDATE_ACTION = "pagerduty_update_help"
NO_CHANGE_ACTION = "pagerduty_no_change"


def ack_target(level: int, settings: Settings) -> timedelta | None:
    """How long a page may stay unacknowledged (nominal): SEV1/SEV2 SEV1's time (15 min); SEV3 its own (4 h)."""
    target = settings.sev_response(level)
    if level <= 2:
        oncall = settings.sev_response(1)
        return min(t for t in (target, oncall) if t is not None) if (target or oncall) else None
    return target if level == 3 else None


def fast(settings: Settings, interval: timedelta) -> timedelta:
    """An interval as the clock runs it: RESPONSE_CLOCK_SPEED times faster in a drill."""
    return interval / settings.response_clock_speed


def drill_note(settings: Settings, incident: Incident | None = None) -> str:
    """` [drill: ...]` after anything the clock says in a drill: a fast clock, or a game-day drill's incident."""
    speed = settings.response_clock_speed
    if speed != 1:
        return f" [drill: the clock runs {speed:g}x fast]"
    return " [drill]" if incident is not None and incident.drill else ""


def drill_duration(settings: Settings, seconds: float) -> str:
    """A measured time as the drill's clock ran it, with what it stands for at 1x: `22s (= 22m at 1x)`."""
    speed = settings.response_clock_speed
    said = fmt_duration(seconds)
    return said if speed == 1 else f"{said} (= {fmt_duration(seconds * speed)} at 1x)"


def in_words(interval: timedelta) -> str:
    """`15 min`, `4 hours`, `1 h 30 min`: a target as the messages say it."""
    minutes = int(interval.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    if not rest:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours} h {rest} min"


def _prefix(kind: str, incident_id: int) -> str:
    return f"clock:{kind}:{incident_id}:"


def _arm(ctx: Context, session, kind: str, job: str, incident: Incident, due: datetime,
         payload: dict[str, Any]) -> None:
    timers.arm(session, job, timers.timer_key(f"clock:{kind}", incident.id, due), due,
               {"incident_id": incident.id, "due": as_utc(due).isoformat(), **payload}, now=ctx.now())


def arm_ack(ctx: Context, incident: Incident, start: datetime, after: timedelta | None = None) -> None:
    """(Re)start the ack clock for the incident's current severity from `start`; `after` (a workflow's page step's
    `escalate_after`) replaces the SEV table's response target for this incident's clock.

    The step's target rides in the timer's payload (`target_s`), so every escalation round keeps it, and a re-arm
    without one (a severity change, the SEV3 reminder's step) carries it from the timer it replaces: before, the
    second round and any severity change went back to the SEV table's 15 minutes."""
    with ctx.session() as session:
        carried = after or _carried_target(session, incident.id)
        timers.cancel_prefix(session, _prefix("ack", incident.id))
        timers.cancel_prefix(session, _prefix("remind", incident.id))
        if not incident.is_open or incident.acknowledged_at:
            return
        settings = ctx.app.settings
        target = carried or ack_target(incident.severity, settings)
        if target is None:
            return
        own = {"target_s": carried.total_seconds()} if carried else {}
        if incident.severity <= 2:
            _arm(ctx, session, "ack", ACK_JOB, incident, as_utc(start) + fast(settings, target),
                 {"level": incident.severity, "round": 1, **own})
        else:
            due = max(as_utc(incident.declared_at) + fast(settings, target), ctx.now())
            _arm(ctx, session, "remind", REMIND_JOB, incident, due, {"level": incident.severity, **own})


def _carried_target(session, incident_id: int) -> timedelta | None:
    """The target a workflow's step gave this incident's clock: in its latest ack or reminder timer's payload."""
    found = [job for job in (timers.newest(session, _prefix(kind, incident_id)) for kind in ("ack", "remind"))
             if job is not None]
    latest = max(found, key=lambda job: job.id or 0) if found else None
    seconds = (latest.payload or {}).get("target_s") if latest is not None else None
    return timedelta(seconds=float(seconds)) if seconds else None


def _target(payload: dict[str, Any], level: int, settings: Settings) -> timedelta | None:
    """The timer's own target (a workflow's `escalate_after`), else the SEV table's."""
    seconds = payload.get("target_s")
    return timedelta(seconds=float(seconds)) if seconds else ack_target(level, settings)


def arm_nudge(ctx: Context, incident: Incident, base: datetime, count: int = 1) -> None:
    """An open incident gets a nudge UPDATE_NUDGE_MINUTES after `base` (its last update) unless updated.

    Armed by the workflows whose trigger is `no_update: {after: update_nudge}` (the default file's: open SEV1s);
    when it comes, those workflows' steps run (the INCIDENT_QUIET hook), the default file's being `nudge`."""
    with ctx.session() as session:
        timers.cancel_prefix(session, _prefix("nudge", incident.id))
        if not incident.is_open:
            return
        due = as_utc(base) + fast(ctx.app.settings, timedelta(minutes=ctx.app.settings.update_nudge_minutes))
        _arm(ctx, session, "nudge", NUDGE_JOB, incident, due, {"count": count})


def stop_all(ctx: Context, incident: Incident, kinds: tuple[str, ...] = ("ack", "remind", "nudge")) -> None:
    with ctx.session() as session:
        for kind in kinds:
            timers.cancel_prefix(session, _prefix(kind, incident.id))


def _next_from(ctx: Context, payload: dict[str, Any]) -> datetime:
    """The next round counts from when this one was due, or from now if Fireline was down past it."""
    return max(as_utc(datetime.fromisoformat(payload["due"])), ctx.now())


# -- when they fire ------------------------------------------------------------------------------------------------
def _current(ctx: Context, payload: dict[str, Any]) -> Incident | None:
    """The incident if the timer still applies: open, unacknowledged and at the level it was armed for."""
    with ctx.session() as session:
        incident = session.get(Incident, int(payload["incident_id"]))
    if incident is None or not incident.is_open:
        return None
    return incident


def ack_deadline(container: Container, payload: dict[str, Any], job=None) -> None:
    ctx = job_context(container)
    incident = _current(ctx, payload)
    if incident is None or incident.acknowledged_at or incident.severity != payload.get("level"):
        return
    settings = container.settings
    target = _target(payload, incident.severity, settings)
    if target is None:  # SEV_RESPONSE_MINUTES changed since it was armed
        return
    round_no = int(payload.get("round") or 1)
    waited = target * round_no
    done, problem = _escalate_in_pagerduty(container, incident)
    with ctx.session() as session:
        svc.record(session, svc.get_incident(session, incident.id), "ack_overdue", "fireline",
                   f"Not acknowledged {fmt_duration(waited.total_seconds())} after the page: {done}",
                   {"round": round_no, "problem": problem}, at=ctx.now())
    sev = SEVERITIES[incident.severity]
    since = "after it was declared (nobody was paged: dry-run)" if done.startswith("would escalate") else \
        "after the page"
    lines = [done]
    if problem:
        lines.append(f":warning: {escape(problem)}")
    if round_no < MAX_ESCALATIONS:
        lines.append(f"Fireline checks again in {fmt_duration(target.total_seconds())}.")
        with ctx.session() as session:
            _arm(ctx, session, "ack", ACK_JOB, incident, _next_from(ctx, payload) + fast(settings, target),
                 {"level": incident.severity, "round": round_no + 1,
                  **({"target_s": payload["target_s"]} if payload.get("target_s") else {})})
    svc.refresh_cards(ctx, incident)
    svc.announce(ctx, incident, Reply(
        f":rotating_light: *#{incident.id} ({sev.label}) is not acknowledged* "
        f"{fmt_duration(waited.total_seconds())} {since} (the on-call responds to SEV1/SEV2 within "
        f"{in_words(target)}).{drill_note(settings)}",
        lines=lines, buttons=[Button("Acknowledge", Actions.ACK, str(incident.id), "primary")]),
        also_incidents_channel=True)


def _escalate_in_pagerduty(container: Container, incident: Incident) -> tuple[str, str | None]:
    """Move the PagerDuty incident to the next level; returns (what happened, a problem or None)."""
    ctx = job_context(container)
    with ctx.session() as session:
        link = link_for(session, incident.id)
        if link is not None:
            session.expunge(link)
    if link is None:
        return "it was never paged, so there was nothing to escalate.", "Page with `/incident page`."
    if link.mode == DRY_RUN:
        return f"would escalate to level {link.escalation_level + 1} (dry-run: PagerDuty is not configured).", None
    if link.mode == EVENTS or not link.pd_incident_id:
        return "PagerDuty's Events API cannot escalate.", ("Escalate it in PagerDuty by hand, or configure the REST "
                                                           "API (PAGERDUTY_API_TOKEN, PAGERDUTY_FROM_EMAIL, "
                                                           "PAGERDUTY_SERVICE_ID).")
    if link.status != "triggered":
        return f"PagerDuty shows it {link.status}, so it was not escalated.", None
    level = link.escalation_level + 1
    try:
        answer = rest_client(container).escalate(link.pd_incident_id, level)
    except PagerDutyError as exc:
        return "escalating in PagerDuty failed.", f"{exc} Escalate it in PagerDuty by hand."
    with ctx.session() as session:
        stored = link_for(session, incident.id)
        stored.escalation_level = int(answer.get("escalation_level") or level)
        assignees = [a.get("assignee", {}).get("summary") for a in answer.get("assignments") or []
                     if isinstance(a, dict)]
        if any(assignees):
            stored.assignees = [a for a in assignees if a]
        session.add(stored)
        who = f" ({', '.join(stored.assignees)})" if any(assignees) else ""
        level = stored.escalation_level
    return f"escalated in PagerDuty to level {level}{escape(who)}.", None


def ack_reminder(container: Container, payload: dict[str, Any], job=None) -> None:
    ctx = job_context(container)
    incident = _current(ctx, payload)
    if incident is None or incident.acknowledged_at or incident.severity != payload.get("level"):
        return
    target = _target(payload, 3, container.settings)
    if target is None:
        return
    whose = "a workflow's escalate_after" if payload.get("target_s") else "the SEV table's response time"
    with ctx.session() as session:
        svc.record(session, svc.get_incident(session, incident.id), "ack_reminder", "fireline",
                   f"Not acknowledged within {'the SEV3 response time' if not payload.get('target_s') else whose} "
                   f"({in_words(target)})", at=ctx.now())
    svc.announce(ctx, incident, Reply(
        f":alarm_clock: #{incident.id} (SEV3) has not been acknowledged in {in_words(target)}, {whose}."
        f"{drill_note(container.settings)}",
        lines=["Acknowledge it if someone is on it, lower it with `/incident sev 4`, or `/incident page` for help."],
        buttons=[Button("Acknowledge", Actions.ACK, str(incident.id), "primary")]), also_incidents_channel=True)


def update_nudge(container: Container, payload: dict[str, Any], job=None) -> None:
    """The nudge's time came: still quiet? Count it, arm the next (three in a row at most) and let the workflows
    that asked for it run their steps; what is said is their steps' (the default file's: `nudge`)."""
    ctx = job_context(container)
    incident = _current(ctx, payload)
    if incident is None:
        return
    interval = fast(container.settings, timedelta(minutes=container.settings.update_nudge_minutes))
    last = as_utc(incident.last_update_at or incident.declared_at)
    if ctx.now() - last < interval:
        return  # an update came in after this timer was armed
    count = int(payload.get("count") or 1)
    if count < MAX_NUDGES:
        with ctx.session() as session:
            _arm(ctx, session, "nudge", NUDGE_JOB, incident, _next_from(ctx, payload) + interval,
                 {"count": count + 1})
    container.registry.emit(Hooks.INCIDENT_QUIET, ctx, incident=incident, seconds=(ctx.now() - last).total_seconds(),
                            nudge=count, due=str(payload.get("due") or ""))


def nudge(ctx: Context, incident: Incident, count: int, seconds: float, text: str) -> str:
    """Say the update nudge: how long it has been quiet (as the drill's clock ran it), the step's words, the
    Update / No change buttons, and at the third in a row that Fireline stays quiet until the next update."""
    settings = ctx.app.settings
    quiet = drill_duration(settings, seconds)
    drill = drill_note(settings, incident)
    with ctx.session() as session:
        svc.record(session, svc.get_incident(session, incident.id), "update_nudge", "fireline",
                   f"No status update for {quiet} (nudge {count}){drill}", {"count": count}, at=ctx.now())
    lines = [escape(text)] if text else []
    if count >= MAX_NUDGES:
        lines.append(f"That is {count} nudges in a row; Fireline stays quiet until the next update.")
    sev = SEVERITIES[incident.severity].label
    svc.announce(ctx, incident, Reply(
        f":mega: #{incident.id} ({sev}) has had no status update for {quiet}.{drill}",
        lines=lines, buttons=[Button("Update", UPDATE_ACTION, str(incident.id), "primary"),
                              Button("No change", NO_CHANGE_ACTION, str(incident.id))]))
    return f"nudged (nudge {count}): no status update for {quiet}"


__all__ = ["ACK_JOB", "NO_CHANGE_ACTION", "NUDGE_JOB", "REMIND_JOB", "UPDATE_ACTION", "ack_deadline", "ack_reminder",
           "ack_target", "arm_ack", "arm_nudge", "nudge", "stop_all", "update_nudge"]
