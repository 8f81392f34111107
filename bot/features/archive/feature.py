"""Channel lifecycle: once an incident is resolved and its postmortem recorded, archive its channel.

`/postmortem done <link>` arms two durable timers: an announcement a day before (or at once when
ARCHIVE_AFTER_DAYS is 1) and the archive itself after ARCHIVE_AFTER_DAYS (0: never). Any person's
message in the channel cancels both: someone still talks there, so the channel is not finished. A
later `/postmortem done` arms them again from then.

Why timers in the job table and not a sweep: each timer's key names the incident and its due time,
so two replicas arming it store one row, the worker's conditional claim runs it once, and the
cancel is one conditional UPDATE per key (`bot.service.timers`). A reopened incident is never
archived: the archive job reads the incident first.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from bot.core.clock import fmt_utc
from bot.core.registry import Registry
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.store.db import session_scope
from bot.core.hooks import Hooks
from bot.store.models import Incident
from bot.core.reply import Reply, mention
from bot.service import incidents as svc
from bot.service import jobs, timers
from bot.service.lookups import incident_for_channel

log = logging.getLogger(__name__)

ANNOUNCE_JOB = "archive.announce"
ARCHIVE_JOB = "archive.run"
CANCELLED_JOB = "archive.cancelled"
ANNOUNCE_BEFORE = timedelta(days=1)
# Message subtypes that are a person writing; joins, edits, deletions and bots are not.
PERSON_SUBTYPES = (None, "thread_broadcast", "file_share", "me_message")


def prefix(incident_id: int) -> str:
    return f"archive:{incident_id}:"


def on_postmortem_done(ctx: Context, incident: Incident, link: str = "", first: bool = True) -> None:
    days = ctx.app.settings.archive_after_days
    if days <= 0 or not incident.channel_id or incident.is_open:
        return
    now = ctx.now()
    archive_at = now + timedelta(days=days)
    announce_at = max(now, archive_at - ANNOUNCE_BEFORE)
    payload = {"incident_id": incident.id, "archive_at": archive_at.isoformat()}
    with ctx.session() as session:
        timers.cancel_prefix(session, prefix(incident.id))  # an earlier `done`'s timers
        timers.arm(session, ANNOUNCE_JOB, timers.timer_key("archive", incident.id, "announce", announce_at),
                   announce_at, payload, now=now)
        timers.arm(session, ARCHIVE_JOB, timers.timer_key("archive", incident.id, "run", archive_at), archive_at,
                   payload, now=now)
    svc.announce(ctx, incident, Reply(f"This channel will be archived on {fmt_utc(archive_at)} "
                                      f"(ARCHIVE_AFTER_DAYS={days}); Fireline says so again a day before. "
                                      "Any message here keeps it open."))


def _incident(container: Container, payload: dict[str, Any]) -> Incident | None:
    with session_scope(container.engine) as session:
        return session.get(Incident, int(payload["incident_id"]))


def announce_job(container: Container, payload: dict[str, Any], job=None) -> None:
    incident = _incident(container, payload)
    if incident is None or incident.is_open or not incident.channel_id:
        return
    ctx = job_context(container)
    at = datetime.fromisoformat(payload["archive_at"])
    with ctx.session() as session:
        svc.record(session, session.get(Incident, incident.id), "archive_announced", "fireline",
                   f"Channel to be archived at {fmt_utc(at)}", at=ctx.now())
    svc.announce(ctx, incident, Reply(f":file_cabinet: This channel will be archived on {fmt_utc(at)}. "
                                      "Write anything here to keep it open."))


def archive_job(container: Container, payload: dict[str, Any], job=None) -> None:
    incident = _incident(container, payload)
    if incident is None or not incident.channel_id:
        return
    if incident.is_open:
        log.info("#%s was reopened; its channel stays", incident.id)
        return
    ctx = job_context(container)
    ctx.chat.archive(incident.channel_id)
    with ctx.session() as session:
        svc.record(session, session.get(Incident, incident.id), "channel_archived", "fireline",
                   f"Channel #{incident.channel_name or incident.channel_id} archived", at=ctx.now())


def cancelled_job(container: Container, payload: dict[str, Any], job=None) -> None:
    incident = _incident(container, payload)
    if incident is None:
        return
    ctx = job_context(container)
    who = payload.get("user_id") or ""
    with ctx.session() as session:
        svc.record(session, session.get(Incident, incident.id), "archive_cancelled", who or "fireline",
                   "Archiving cancelled: someone wrote in the channel", at=ctx.now())
    svc.announce(ctx, incident, Reply(f"Archiving this channel is cancelled: {mention(who)} wrote here. "
                                      f"`/postmortem done <link> #{incident.id}` schedules it again."))


def is_person_message(event: dict[str, Any]) -> bool:
    return event.get("subtype") in PERSON_SUBTYPES and not event.get("bot_id") and bool(event.get("user"))


def message_cancels(container: Container, channel_id: str, user_id: str) -> bool:
    """A person wrote in `channel_id`: cancel its incident's pending archive timers. True if any were pending."""
    if not channel_id:
        return False
    with session_scope(container.engine) as session:
        incident = incident_for_channel(session, channel_id)
        if incident is None or incident.is_open:
            return False
        if not timers.cancel_prefix(session, prefix(incident.id)):
            return False
        jobs.enqueue(session, CANCELLED_JOB, {"incident_id": incident.id, "user_id": user_id}, now=container.clock())
    return True


def on_slack_app(app=None, container=None) -> None:
    """A message listener for people's messages only: integration messages stay with the alerts listener.

    Bolt runs the first listener whose matchers pass, so this one matches only a person's message and
    the alerts listener (registered later) still gets every bot's.
    """

    def person(event) -> bool:
        return is_person_message(event or {})

    @app.event("message", matchers=[person])
    def on_message(event):
        try:
            message_cancels(container, event.get("channel", ""), event.get("user", ""))
        except Exception:
            log.exception("could not cancel archiving for channel %s", event.get("channel"))


def on_channel_message(ctx: Context, channel_id: str = "", text: str = "") -> None:
    """The console's `:say <text>`: a person's message in the current channel, as Slack's message event."""
    message_cancels(ctx.app, channel_id, ctx.user_id)


def register(registry: Registry) -> None:
    registry.on(Hooks.POSTMORTEM_DONE)(on_postmortem_done)
    registry.on(Hooks.SLACK_APP)(on_slack_app)
    registry.on(Hooks.CHANNEL_MESSAGE)(on_channel_message)
    registry.job(ANNOUNCE_JOB)(announce_job)
    registry.job(ARCHIVE_JOB)(archive_job)
    registry.job(CANCELLED_JOB)(cancelled_job)

