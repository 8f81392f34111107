"""Firing and resolved alerts from the sources: resolved edits the thread and tells a linked incident.

A source saying "it is over" (Alertmanager `status: resolved`, UptimeRobot Up, Datadog Recovered,
Honeycomb OK, Better Stack Resolved, Grafana `ok`) marks the alert resolved once (a conditional
insert keyed by the alert, so a resent group resolves nothing twice), edits its thread ("Resolved
after 12m"), and stops counting repeats: the next firing of the same key opens a new thread. If
the alert belongs to an open incident, the incident's timeline and channel say so and suggest
`/incident status monitoring` or `/incident resolve`; Fireline never resolves an incident itself,
because an alert going quiet is not a person confirming the fix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from bot.features.alerts import render
from bot.features.alerts import service as alerts
from bot.features.alerts.payloads import IncomingAlert, derive_key
from bot.core.clock import as_utc
from bot.core.container import Container
from bot.core.context import job_context
from bot.store.db import session_scope
from bot.store.models import Alert, Incident, ProcessedRequest
from bot.core.reply import Reply, escape
from bot.service import incidents as svc
from bot.service import jobs

log = logging.getLogger(__name__)

RESOLVED_JOB = "alerts.resolved"


@dataclass(frozen=True)
class Outcome:
    status: str  # accepted | resolved | ignored | duplicate
    alert_id: int | None = None
    level: int | None = None
    thread: str | None = None
    count: int | None = None
    incident_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = {"status": self.status, "alert": self.alert_id, "severity": self.level, "thread": self.thread,
                "count": self.count, "incident": self.incident_id, **self.extra}
        return {k: v for k, v in data.items() if v is not None}


def is_resolved(alert: Alert) -> bool:
    return bool((alert.details or {}).get("resolved_at"))


def duration(seconds: float) -> str:
    """`40s`, `12m`, `1h 5m`, `2d 3h`: how long the alert lasted, as people say it."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def take(container: Container, incoming: IncomingAlert, viewer=None) -> Outcome:
    """Store a firing alert (or count its repeat), or resolve the alert it names. `viewer`: the person who pasted
    it, who reaches only alerts of incidents they may see (bot.features.alerts.service.person_key)."""
    if incoming.resolved:
        return resolve(container, incoming, viewer)
    received = alerts.receive(container, incoming, viewer)
    if received.duplicate:
        return Outcome("duplicate", extra={"reason": "this delivery was already received"})
    return Outcome("accepted", received.alert_id, received.level, "new" if received.new else "updated",
                   received.count, received.incident_id)


def _started(alert: Alert, incoming: IncomingAlert) -> datetime:
    for value in (incoming.details.get("started_at"), (alert.details or {}).get("started_at")):
        if isinstance(value, str):
            try:
                return as_utc(datetime.fromisoformat(value))
            except ValueError:
                continue
    return as_utc(alert.first_seen_at)


def resolve(container: Container, incoming: IncomingAlert, viewer=None) -> Outcome:
    now = container.clock()
    key = incoming.dedup_key or derive_key(incoming.source, incoming.title)
    with session_scope(container.engine) as session:
        key = alerts.person_key(session, key, viewer)
        alert = alerts.latest_alert(session, key)
        if alert is None:
            return Outcome("ignored", extra={"reason": "resolved, but Fireline has no alert with this key (it fired "
                                                       "before intake was set up, or was cleaned up)"})
        if is_resolved(alert) or not _first_resolution(session, alert, now):
            return Outcome("resolved", alert.id, alert.level, "unchanged", alert.count, alert.incident_id,
                           {"reason": "already resolved"})
        ended = incoming.details.get("ended_at")
        at = now
        if isinstance(ended, str):
            try:
                at = as_utc(datetime.fromisoformat(ended))
            except ValueError:
                at = now
        seconds = incoming.details.get("duration_s")  # the source's own count (UptimeRobot alertDuration)
        lasted = duration(seconds if isinstance(seconds, int) else (at - _started(alert, incoming)).total_seconds())
        details = {**(alert.details or {}), "resolved_at": now.isoformat(), "resolved_after": lasted}
        session.execute(update(Alert).where(col(Alert.id) == alert.id).values(details=details))
        incident = session.get(Incident, alert.incident_id) if alert.incident_id else None
        if incident is not None and incident.is_open:
            svc.record(session, incident, "alert_resolved", alerts.ACTOR,
                       f"Alert from {alert.source} resolved after {lasted}: {alert.title} (the incident stays "
                       "open until someone resolves it)", {"alert_id": alert.id, "resolved_after": lasted}, at=now,
                       dedup_key=f"alert-resolved:{alert.id}")
            jobs.enqueue(session, RESOLVED_JOB, {"alert_id": alert.id, "incident_id": incident.id}, run_at=now,
                         now=now, dedup_key=f"alert-resolved:{alert.id}")
        if alert.channel or alert.incident_id is None:
            jobs.enqueue(session, alerts.REFRESH_JOB, {"alert_id": alert.id}, run_at=now, now=now,
                         dedup_key=f"alert-resolved-refresh:{alert.id}")
        return Outcome("resolved", alert.id, alert.level, "updated", alert.count, alert.incident_id,
                       {"resolved_after": lasted})


def _first_resolution(session, alert: Alert, now: datetime) -> bool:
    """Exactly once per alert, by a conditional insert: two resolved deliveries racing resolve it once."""
    table = ProcessedRequest.__table__
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = (insert(table).values(key=f"alert-resolved:{alert.id}", created_at=now)
                 .on_conflict_do_nothing(index_elements=["key"]).returning(table.c.key))
    return session.execute(statement).first() is not None


def announce_resolved(container: Container, payload: dict[str, Any], job=None) -> None:
    """In the incident's channel: the alert went quiet, and what a person may now do (never done for them)."""
    with session_scope(container.engine) as session:
        alert = session.get(Alert, int(payload["alert_id"]))
        incident = session.get(Incident, int(payload["incident_id"]))
    if alert is None or incident is None or not incident.is_open:
        return
    lasted = (alert.details or {}).get("resolved_after", "a while")
    svc.announce(job_context(container), incident, Reply(
        f":white_check_mark: *Alert from {render.source_name(alert.source)} resolved* after {lasted}: "
        f"{escape(alert.title)}",
        lines=["The incident stays open. If the fix holds, type `/incident status monitoring`, and "
               "`/incident resolve` once you are sure."]).public())
