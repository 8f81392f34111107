"""The incident lifecycle: every change is written (with a timeline event) before Slack hears of it."""

from __future__ import annotations

import contextvars
import logging
import os
import re
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.core import log_context
from bot.core.chat import MessageRef, person
from bot.core.clock import as_utc, fmt_duration, fmt_utc
from bot.core.context import Context
from bot.core.errors import IntegrationError, UserError
from bot.core.hooks import Hooks
from bot.store.models import OPEN_STATES, STATES, Incident, TimelineEvent
from bot.core.reply import Button, Reply, escape, mention
from bot.service.lookups import (
    ensure_open,
    get_incident,
    incident_for,
    incident_for_channel,
    named_incident,
    resolved_refusal,
    sees,
    target_incident,
    visible_to,
)
from playbooks.severity import SEVERITIES

log = logging.getLogger(__name__)

MAX_TITLE = 200


class Actions:
    """Action ids of the incident card's buttons, in one place."""

    ACK = "incident_ack"
    LEAD = "incident_lead"
    PLAYBOOK = "incident_playbook"
    CHECK = "incident_check"


# -- lookups: get_incident, target_incident, ensure_open, ... are in bot/service/lookups.py (re-exported here),
# so the registry can resolve a handler's `incident=` without importing this module.


def record(session: Session, incident: Incident, kind: str, actor: str, text: str = "",
           data: dict[str, Any] | None = None, at: datetime | None = None,
           dedup_key: str | None = None) -> TimelineEvent | None:
    """Add a timeline event. With a dedup_key, a second identical event is dropped (returns None)."""
    log_context.bind_incident(incident.id)
    event = TimelineEvent(incident_id=incident.id, kind=kind, actor=actor, text=text, data=data or {},
                          dedup_key=dedup_key)
    if at is not None:
        event.at = at
    if dedup_key is None:
        session.add(event)
        session.flush()
    else:
        try:
            with session.begin_nested():
                session.add(event)
                session.flush()
        except IntegrityError:
            return None
    log.info("timeline: %s by %s", kind, actor)  # the text stays in the database: it may hold anything
    return event


def timeline(session: Session, incident_id: int, limit: int | None = None) -> list[TimelineEvent]:
    query = select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
    if limit:
        rows = session.exec(query.order_by(col(TimelineEvent.at).desc(), col(TimelineEvent.id).desc())
                            .limit(limit)).all()
        return list(reversed(rows))
    return list(session.exec(query.order_by(col(TimelineEvent.at), col(TimelineEvent.id))).all())


# -- rendering --------------------------------------------------------------------------------------
def slugify(title: str, number: int) -> str:
    """`inc-<number>-<slug>`: Slack channel names are lower-case, <= 80 chars, [a-z0-9-_]."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    prefix = f"inc-{number}"
    room = 80 - len(prefix) - 1
    slug = slug[:min(room, 40)].rstrip("-")
    return f"{prefix}-{slug}" if slug else prefix


def card(ctx: Context, incident: Incident) -> Reply:
    """The incident card posted in its channel and in #incidents, updated on every change.

    A header (severity and title), the facts a responder looks for first as fields, and the two or
    three likely actions as buttons with Acknowledge primary; the rest wait in the "more" menu. Six
    equal buttons in a row made people read every label before pressing the one they came for.
    A resolved card drops the siren and says how long the incident lasted.
    """
    sev = ctx.app.settings.severity(incident.severity)
    resolved = incident.resolved_at is not None and not incident.is_open
    icon = ":white_check_mark:" if resolved else ":rotating_light:" if incident.severity <= 2 else ":fire:"
    channel = f"<#{incident.channel_id}|{incident.channel_name}>" if incident.channel_id else "-"
    if ctx.is_console and incident.channel_name:
        channel = f"#{incident.channel_name}"
    fields = [
        ("State", incident.status),
        ("Lead", mention(incident.lead_id)),
        ("Severity", f"{sev.label}: {sev.description} ({sev.respond})"),
        ("Channel", channel),
        ("Declared", f"{fmt_utc(incident.declared_at)} by {mention(incident.declared_by)}"),
    ]
    if incident.acknowledged_at:
        fields.append(("Acknowledged", f"{fmt_utc(incident.acknowledged_at)} by "
                                       f"{mention(incident.acknowledged_by)}"))
    lasted = ""
    if incident.resolved_at:
        fields.append(("Resolved", fmt_utc(incident.resolved_at)))
        lasted = fmt_duration((as_utc(incident.resolved_at) - as_utc(incident.declared_at)).total_seconds())
        if resolved:
            fields.append(("Lasted", lasted))
    for extra in ctx.app.registry.card_fields:
        try:
            field = extra(ctx, incident)
        except Exception:  # a feature's field never breaks the card
            log.warning("card field %s failed for #%s", getattr(extra, "__qualname__", extra), incident.id)
            continue
        if field:
            fields.append(field)
    buttons, more = [], []
    if incident.is_open:
        value = str(incident.id)
        if not incident.acknowledged_at:
            buttons.append(Button("Acknowledge", Actions.ACK, value, "primary"))
        buttons.append(Button("I'm lead", Actions.LEAD, value))
        more.append(Button("Show playbook", Actions.PLAYBOOK, value))
        for extra_button in ctx.app.registry.card_buttons:
            (buttons if extra_button.likely else more).append(
                Button(extra_button.label, extra_button.action_id, value, extra_button.style))
    footer = f"SEV chosen: {escape(incident.severity_reason)}" if incident.severity_reason else None
    marks = (" :lock: private" if incident.private else "") + (" :test_tube: DRILL" if incident.drill else "")
    title = f"Incident #{incident.id}: {escape(incident.title)}"
    if resolved:
        header = f"{icon} Resolved · {sev.label} · {title}"
        text = f"{icon} *{title}* resolved after {lasted}{marks}"
    else:
        header = f"{icon} {sev.label} · {title}"
        text = f"{icon} *{title}*{marks}"
    header += marks
    return Reply(text=text, header=header, fields=fields, buttons=buttons, overflow=more, footer=footer).public()


def refresh_cards(ctx: Context, incident: Incident) -> None:
    """Edit every posted card to match the stored incident; a Slack failure is logged, not fatal."""
    reply = card(ctx, incident)
    for ref in incident.cards or []:
        try:
            ctx.chat.update(MessageRef(ref["channel"], ref["ts"]), reply)
        except Exception:
            log.warning("could not update the card of #%s in %s", incident.id, ref.get("channel"))


def announce(ctx: Context, incident: Incident, reply: Reply, *, also_incidents_channel: bool = False) -> None:
    """Post in the incident's channel (and, when asked, under its card in #incidents)."""
    reply.visibility = reply.visibility.CHANNEL
    targets: list[tuple[str, str | None]] = []
    if incident.channel_id:
        targets.append((incident.channel_id, None))
    if also_incidents_channel or not incident.channel_id:
        main_card = next((c for c in incident.cards or [] if c["channel"] != incident.channel_id), None)
        if main_card:
            targets.append((main_card["channel"], main_card["ts"]))
    for channel, thread in targets:
        try:
            ctx.chat.post(channel, reply, thread_ts=thread)
        except Exception:
            log.warning("could not post to %s for #%s", channel, incident.id)


def summary_line(incident: Incident) -> str:
    lead = mention(incident.lead_id)
    return (f"*#{incident.id}* {SEVERITIES[incident.severity].label} {escape(incident.title)} "
            f"({incident.status}, lead {lead}, declared {fmt_utc(incident.declared_at)})")


_fan_out_pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid, pool): threads do not survive a fork
_fan_out_lock = threading.Lock()


def fan_out(tasks: list[Callable[[], Any]], *, parallel: bool = True) -> list[Any]:
    """Run independent calls side by side (a small pool per process); results in the tasks' order.

    Each task runs in a copy of the caller's context (log context: request and incident ids).
    The console keeps them one after another, so what it prints stays in order.
    """
    global _fan_out_pool
    if not parallel or len(tasks) < 2:
        return [task() for task in tasks]
    with _fan_out_lock:
        if _fan_out_pool is None or _fan_out_pool[0] != os.getpid():
            _fan_out_pool = (os.getpid(), ThreadPoolExecutor(max_workers=4, thread_name_prefix="fireline-fan-out"))
        pool = _fan_out_pool[1]
    futures = [pool.submit(contextvars.copy_context().run, task) for task in tasks]
    return [future.result() for future in futures]


# -- lifecycle --------------------------------------------------------------------------------------
def declare(ctx: Context, title: str, level: int, reason: str, *,
            source: dict | None = None, private: bool = False, drill: bool = False) -> tuple[Incident, list[str]]:
    """Store the incident first, then make its channel and post its card in both places.

    `private`: a private channel and no card in #incidents (bot/features/private/feature.py); `drill`: a game-day
    drill's incident (bot.adapters.drill.py), marked as such everywhere it is shown.

    Returns the incident and what could not be done in Slack, in words (the incident stands anyway).
    """
    title = " ".join(title.split())[:MAX_TITLE]
    with ctx.session() as session:
        incident = Incident(title=title, severity=level, status="declared", declared_by=ctx.user_id,
                            lead_id=ctx.user_id, severity_reason=reason, declared_at=ctx.now(),
                            last_update_at=ctx.now(), private=private, drill=drill)
        session.add(incident)
        session.flush()
        record(session, incident, "declared", ctx.user_id, f"Declared as {ctx.app.settings.describe(level)}: {title}",
               {"severity": level, "reason": reason, **({"source": source} if source else {})}, at=ctx.now())
    problems: list[str] = []
    try:
        channel_id, channel_name = ctx.chat.create_channel(slugify("private" if private else title, incident.id),
                                                           private=private)
        incident.channel_id, incident.channel_name = channel_id, channel_name
    except Exception as exc:
        log.warning("could not create a channel for #%s: %s", incident.id, exc)
        problems.append(f"could not create the incident channel ({exc}); use `#{incident.id}` in commands")
    reply = card(ctx, incident)

    def invite() -> str | None:
        try:
            ctx.chat.invite(incident.channel_id, [ctx.user_id])
        except Exception as exc:
            return f"could not invite you to #{incident.channel_name} ({exc})"
        return None

    def post_card(channel: str) -> dict[str, str] | str:
        try:
            return ctx.chat.post(channel if channel == incident.channel_id else f"#{channel}", reply).as_dict()
        except Exception as exc:
            return f"could not post the card in {channel} ({exc})"

    # Once the channel exists the invite and the two cards do not depend on one another: side by side
    # they cost one Slack round trip instead of three (bench/slack_latency.py). Different methods and
    # channels, so no per-method rate limit is spent faster. Results are read in a fixed order.
    tasks = ([invite] if incident.channel_id else []) + [
        (lambda c=channel: post_card(c))
        for channel in (incident.channel_id, None if private else ctx.app.settings.incidents_channel_name) if channel]
    results = fan_out(tasks, parallel=not ctx.is_console)
    problems += [r for r in results if isinstance(r, str)]
    cards: list[dict[str, str]] = [r for r in results if isinstance(r, dict)]
    with ctx.session() as session:
        stored = session.get(Incident, incident.id)
        stored.channel_id, stored.channel_name, stored.cards = incident.channel_id, incident.channel_name, cards
        session.add(stored)
        incident = stored
    problems += ctx.app.registry.emit(Hooks.INCIDENT_DECLARED, ctx, incident=incident)
    return incident, problems


# -- state changes ----------------------------------------------------------------------------------
@dataclass
class Change:
    """What one verb did to an incident, said once; `change()` does the rest the same way for every verb."""

    kind: str  # the timeline event's kind
    text: str  # ... and its text
    data: dict[str, Any] | None = None
    actor: str | None = None  # who did it; the person asking when None
    at: datetime | None = None  # when it happened; now when None
    hook: dict[str, Any] = field(default_factory=dict)  # what the hook carries besides ctx and incident
    announce: Reply | None = None  # posted in the incident channel
    everywhere: bool = False  # ... and under the card in #incidents
    refresh: bool = True  # edit the posted cards (not for notes and updates: the card does not show them)
    then: Callable[[Incident], None] | None = None  # after the commit, before the cards (inviting a new lead)


def change(ctx: Context, incident_id: int, hook: Hooks, verb: Callable[[Incident], Change], *,
           open_only: bool = True, emit: bool = True) -> tuple[Incident, Change]:
    """Load the incident with its row locked, refuse a resolved one (`open_only`), let `verb` check and change
    it, write its timeline event in the same transaction, then tell Slack and the hooks.

    The lock makes a check-then-change race-free: two people pressing Acknowledge at once (or a PagerDuty
    echo arriving with the press) are applied one after the other, and the second is refused by its check.
    """
    with ctx.session() as session:
        incident = get_incident(session, incident_id, lock=True)
        if open_only:
            ensure_open(incident)
        done = verb(incident)
        record(session, incident, done.kind, done.actor or ctx.user_id, done.text, done.data, at=done.at or ctx.now())
        session.add(incident)
    if done.then is not None:
        done.then(incident)
    if done.refresh:
        refresh_cards(ctx, incident)
    if done.announce is not None:
        announce(ctx, incident, done.announce, also_incidents_channel=done.everywhere)
    if emit:
        ctx.app.registry.emit(hook, ctx, incident=incident, **done.hook)
    return incident, done


def change_severity(ctx: Context, incident_id: int, level: int) -> tuple[Incident, int]:
    words = ctx.app.settings.describe(level)

    def verb(incident: Incident) -> Change:
        old = incident.severity
        if old == level:
            raise UserError(f"#{incident.id} is already {words}.")
        incident.severity = level
        incident.severity_reason = f"set by {person(ctx.chat, ctx.user_id)} (was SEV{old})"
        return Change("severity_changed", f"Severity SEV{old} -> SEV{level}", {"from": old, "to": level},
                      hook={"old": old, "new": level}, everywhere=True,
                      announce=Reply(f"Severity of #{incident.id} changed SEV{old} -> {words} by "
                                     f"{mention(ctx.user_id)}."))

    incident, done = change(ctx, incident_id, Hooks.INCIDENT_SEVERITY_CHANGED, verb)
    return incident, done.hook["old"]


def acknowledge(ctx: Context, incident_id: int, *, actor: str | None = None, via: str = "fireline",
                emit: bool = True) -> Incident:
    """Acknowledge once; a second ack (double click, a PagerDuty echo) only says who already did."""
    actor = actor or ctx.user_id

    def verb(incident: Incident) -> Change:
        if incident.acknowledged_at:
            raise UserError(f"#{incident.id} was already acknowledged by {mention(incident.acknowledged_by)} "
                            f"at {fmt_utc(incident.acknowledged_at)}.")
        incident.acknowledged_at, incident.acknowledged_by = ctx.now(), actor
        before = incident.status
        if incident.status == "declared":
            incident.status = "investigating"
        taken = (as_utc(incident.acknowledged_at) - as_utc(incident.declared_at)).total_seconds()
        return Change("acknowledged", f"Acknowledged after {fmt_duration(taken)}"
                      + (f" (via {via})" if via != "fireline" else ""), {"via": via, "seconds": int(taken)},
                      actor=actor, hook={"via": via, "old": before})

    return change(ctx, incident_id, Hooks.INCIDENT_ACKNOWLEDGED, verb, emit=emit)[0]


def set_lead(ctx: Context, incident_id: int, lead: str) -> Incident:
    def verb(incident: Incident) -> Change:
        if incident.lead_id == lead:
            raise UserError(f"{mention(lead)} is already the lead of #{incident.id}.")
        old = incident.lead_id
        incident.lead_id = lead
        return Change("lead_changed", f"Lead {person(ctx.chat, old)} -> {person(ctx.chat, lead)}",
                      {"from": old, "to": lead},
                      hook={"old": old, "new": lead}, then=invite_lead,
                      announce=Reply(f"{mention(lead)} is now the lead of #{incident.id}."))

    def invite_lead(incident: Incident) -> None:
        if incident.channel_id and lead.startswith(("U", "W")):
            try:
                ctx.chat.invite(incident.channel_id, [lead])
            except Exception:
                log.info("could not invite the new lead of #%s", incident.id)

    return change(ctx, incident_id, Hooks.INCIDENT_LEAD_CHANGED, verb)[0]


def set_status(ctx: Context, incident_id: int, state: str) -> Incident:
    """Any state to any other; from `resolved` it reopens (so a resolved incident is allowed here)."""
    if state == "resolved":
        return resolve(ctx, incident_id, None)

    def verb(incident: Incident) -> Change:
        old = incident.status
        if old == state:
            raise UserError(f"#{incident.id} is already {state}.")
        incident.status = state
        if state == "monitoring" and not incident.mitigated_at:
            incident.mitigated_at = ctx.now()
        if old == "resolved":
            incident.resolved_at = None
        verb_text = "Reopened" if old == "resolved" else "State"
        return Change("status_changed", f"{verb_text}: {old} -> {state}", {"from": old, "to": state},
                      hook={"old": old, "new": state},
                      announce=Reply(f"#{incident.id} is now *{state}* (was {old}), set by {mention(ctx.user_id)}."))

    return change(ctx, incident_id, Hooks.INCIDENT_STATUS_CHANGED, verb, open_only=False)[0]


def post_update(ctx: Context, incident_id: int, text: str) -> Incident:
    def verb(incident: Incident) -> Change:
        incident.last_update_at = ctx.now()
        return Change("update", text, hook={"text": text}, refresh=False, everywhere=True,
                      announce=Reply(f":mega: *Update on #{incident.id}* from {mention(ctx.user_id)}",
                                     lines=[escape(text)]))

    return change(ctx, incident_id, Hooks.INCIDENT_UPDATED, verb, open_only=False)[0]


def add_note(ctx: Context, incident_id: int, text: str, *, kind: str = "note", at: datetime | None = None,
             data: dict | None = None) -> Incident:
    def verb(incident: Incident) -> Change:
        return Change(kind, text, data, at=at, hook={"text": text}, refresh=False)

    return change(ctx, incident_id, Hooks.INCIDENT_NOTED, verb, open_only=False)[0]


def resolve(ctx: Context, incident_id: int, summary: str | None) -> Incident:
    def verb(incident: Incident) -> Change:
        if not incident.is_open:  # resolving twice is not a mistake to reopen from: say when it was
            raise UserError(f"#{incident.id} is already resolved (at {fmt_utc(incident.resolved_at)}).",
                            f"To reopen it, type `/incident status investigating #{incident.id}`.")
        old = incident.status
        incident.status, incident.resolved_at = "resolved", ctx.now()
        if not incident.mitigated_at:
            incident.mitigated_at = incident.resolved_at
        if summary:
            incident.summary = summary
        took = fmt_duration((as_utc(incident.resolved_at) - as_utc(incident.declared_at)).total_seconds())
        return Change("resolved", f"Resolved after {took}" + (f": {summary}" if summary else ""),
                      {"from": old, "summary": summary}, everywhere=True, hook={"old": old},
                      announce=Reply(f":white_check_mark: #{incident.id} resolved by {mention(ctx.user_id)} after "
                                     f"{took}.", lines=[escape(summary)] if summary else []))

    return change(ctx, incident_id, Hooks.INCIDENT_RESOLVED, verb, open_only=False)[0]


def open_incidents(session: Session, limit: int | None = None, *, viewer: str | None = None) -> list[Incident]:
    """Open incidents, most severe first, then oldest first; with `viewer`, only those that person may see."""
    query = select(Incident).where(col(Incident.status).in_(OPEN_STATES), visible_to(viewer))
    query = query.order_by(col(Incident.severity), col(Incident.declared_at), col(Incident.id))
    return list(session.exec(query.limit(limit) if limit else query).all())


def count_open(session: Session, *, viewer: str | None = None) -> int:
    from sqlalchemy import func

    return session.exec(select(func.count()).select_from(Incident).where(
        col(Incident.status).in_(OPEN_STATES), visible_to(viewer))).one()


def valid_state(word: str) -> str:
    state = word.lower()
    if state not in STATES:
        raise UserError(f"`{escape(word[:30])}` is not a state.",
                        "States: " + " -> ".join(STATES) + ". For example `/incident status mitigating`.")
    return state


def mark_drill(session, number: int) -> None:
    """Mark incident `number` as a game-day drill's (`fireline drill` declares through the console as a person would,
    then marks it), so every place that shows it says DRILL."""
    session.execute(update(Incident).where(col(Incident.id) == number).values(drill=True))

__all__ = ["Actions", "Change", "IntegrationError", "acknowledge", "add_note", "card", "change", "change_severity",
           "declare", "ensure_open", "get_incident", "incident_for", "incident_for_channel",
           "named_incident", "open_incidents",
           "post_update", "record",
           "mark_drill", "refresh_cards", "resolve", "resolved_refusal", "sees", "set_lead", "set_status", "target_incident",
           "timeline"]
