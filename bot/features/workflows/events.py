"""An incident's hook as a workflow Event: plain values (names, not Slack ids), and the depth of the run behind it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from bot.core.chat import person
from bot.core.clock import as_utc
from bot.core.context import Context
from bot.store.models import Incident, Postmortem, StatusUpdate, TimelineEvent
from playbooks.workflows import Event, Step

# The depth of the run whose step is executing in this thread: events its effects cause carry it (plus one).
DEPTH: ContextVar[int] = ContextVar("workflow_depth", default=0)


def current_depth() -> int:
    return DEPTH.get()


def incident_fields(ctx: Context, incident: Incident) -> dict[str, Any]:
    """The incident as plain values for conditions and templates: names, not Slack ids."""
    with ctx.session() as session:
        from_db = session.get(Incident, incident.id)
        status_published = _published(session, incident.id)
        components = _components(session, incident.id)
        acknowledged = bool(from_db.acknowledged_at) if from_db is not None else bool(incident.acknowledged_at)
        postmortem = session.exec(select(Postmortem).where(Postmortem.incident_id == incident.id)).first()
    return {
        "number": incident.id, "title": incident.title, "severity": incident.severity, "state": incident.status,
        "private": bool(incident.private), "components": components,
        "declared_by": person(ctx.chat, incident.declared_by), "lead": person(ctx.chat, incident.lead_id)
        if incident.lead_id else "", "channel": incident.channel_name or "", "url": "",
        "summary": incident.summary or "", "declared_at": as_utc(incident.declared_at).isoformat(),
        "acknowledged": acknowledged, "status_published": status_published,
        "postmortem_done": bool(postmortem is not None and postmortem.done_at is not None),
    }


def _published(session, incident_id: int) -> bool:
    return session.exec(select(StatusUpdate.id).where(StatusUpdate.incident_id == incident_id,
                                                      StatusUpdate.state == "published")).first() is not None


def _components(session, incident_id: int) -> list[str]:
    """The latest status update's components; before any, those named when declaring (the modal's Affected
    components, `--components`): reading only the status updates, a `components` condition under `declared`
    could never hold, so the status-drafts example's per-component drafts never ran."""
    row = session.exec(select(StatusUpdate).where(StatusUpdate.incident_id == incident_id)
                       .order_by(col(StatusUpdate.id).desc())).first()
    if row is not None:
        return list(row.components.keys()) if isinstance(row.components, dict) else list(row.components or [])
    declared = session.exec(select(TimelineEvent.data).where(TimelineEvent.incident_id == incident_id,
                                                             TimelineEvent.kind == "declared")).first()
    named = ((declared or {}).get("source") or {}).get("components") if isinstance(declared, dict) else None
    return [str(c) for c in named] if isinstance(named, list) else []


def make_event(ctx: Context, trigger: str, incident: Incident, detail: dict[str, Any] | None = None,
               depth: int | None = None) -> Event:
    return Event(trigger, incident_fields(ctx, incident), dict(detail or {}), ctx.now(),
                 current_depth() if depth is None else depth)


def occurrence_key(event: Event, extra: str = "") -> str:
    """What makes two deliveries of one event the same occurrence: the trigger, the moment, the detail, the depth."""
    if event.trigger == "declared":
        return "declared"
    detail = repr(sorted((k, str(v)) for k, v in event.detail.items()))
    at = as_utc(event.at).isoformat() if event.at else ""
    digest = hashlib.sha1(f"{detail}{extra}".encode()).hexdigest()[:12]
    return f"{event.trigger}:{event.depth}:{at}:{digest}"[:200]


def event_dict(event: Event) -> dict[str, Any]:
    return {"trigger": event.trigger, "incident": dict(event.incident), "detail": _jsonable(event.detail),
            "at": as_utc(event.at).isoformat() if event.at else None, "depth": event.depth}


def event_from(data: dict[str, Any]) -> Event:
    at = datetime.fromisoformat(data["at"]) if data.get("at") else None
    return Event(data["trigger"], data.get("incident") or {}, data.get("detail") or {}, at, int(data.get("depth") or 0))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def step_dict(step: Step) -> dict[str, Any]:
    return {"kind": step.kind, "args": _jsonable(dict(step.args)), "line": step.line, "index": step.index}
