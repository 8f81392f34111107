"""`POST /webhooks/pagerduty`: PagerDuty webhooks v3 bring PagerDuty's side of a paged incident home.

The request is checked (`X-PagerDuty-Signature`: one or more `v1=<hex HMAC-SHA256 of the raw body>`,
any match with PAGERDUTY_WEBHOOK_SECRET, compared in constant time), read, de-duplicated by the
webhook event id and stored as a job in one transaction; the job updates the incident, its
timeline and its Slack messages. Status changes older than the last one applied (PagerDutyLink.status_at)
are recorded but never undo newer state, so out-of-order deliveries are harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.core.clock import as_utc
from bot.core.container import Container
from bot.core.context import Context, pagerduty_context
from bot.store.db import session_scope
from bot.core.errors import UserError
from bot.core.hooks import Hooks
from bot.store.models import ProcessedRequest
from bot.store.models.pagerduty import PagerDutyLink
from bot.features.pagerduty.paging import NOTE_PREFIX
from bot.core.reply import Reply, escape
from bot.service import incidents as svc
from bot.service import jobs
from bot.core.text import clean_tree
from bot.core.webhook_guard import NESTED_TOO_DEEPLY, digest_matches, read_body, store_or_503, webhook_error

log = logging.getLogger(__name__)

PATH = "/webhooks/pagerduty"
SIGNATURE_HEADER = "X-PagerDuty-Signature"
APPLY_JOB = "pagerduty.webhook"
ACTOR = "pagerduty"
HANDLED = {"incident.acknowledged", "incident.unacknowledged", "incident.escalated", "incident.reassigned",
           "incident.resolved", "incident.annotated", "incident.reopened"}
STATUS_OF = {"incident.acknowledged": "acknowledged", "incident.unacknowledged": "triggered",
             "incident.resolved": "resolved", "incident.reopened": "triggered"}


class BadBody(ValueError):
    """The body is not a PagerDuty v3 webhook; the message says what is wrong (400, or 422 for deep JSON)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Event:
    id: str
    type: str
    occurred_at: datetime
    agent: str
    pd_id: str
    incident_key: str
    data: dict[str, Any]


def sign(body: bytes, secret: str) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(body: bytes, header: str | None, secret: str) -> bool:
    """PagerDuty sends one `v1=` signature per active secret (during rotation several): any match counts."""
    if not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    matched = False
    for part in header.split(","):
        version, _, digest = part.strip().partition("=")
        if version == "v1" and digest_matches(expected, digest):
            matched = True  # keep comparing: the time taken does not say which entry matched
    return matched


def parse(body: bytes) -> Event:
    try:
        payload = clean_tree(json.loads(body))  # NUL and lone surrogates out (bot.core.text), before anything is stored
    except (ValueError, UnicodeDecodeError):
        raise BadBody("the body is not JSON") from None
    except RecursionError:  # signed, but 100,000 nested brackets: was a 500
        raise BadBody(NESTED_TOO_DEEPLY, 422) from None
    event = payload.get("event") if isinstance(payload, dict) else None
    if not isinstance(event, dict):
        raise BadBody("expected a PagerDuty v3 webhook: {\"event\": {\"id\", \"event_type\", \"occurred_at\", "
                      "\"data\"}}")
    event_id, event_type = event.get("id"), event.get("event_type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str) or not event_type:
        raise BadBody("event.id and event.event_type must be non-empty strings")
    try:
        occurred = as_utc(datetime.fromisoformat(str(event.get("occurred_at")).replace("Z", "+00:00")))
    except ValueError:
        raise BadBody("event.occurred_at must be an ISO 8601 time, like 2026-11-25T14:05:00.000Z") from None
    data = event.get("data")
    if not isinstance(data, dict):
        raise BadBody("event.data must be an object")
    incident = data.get("incident") if event_type == "incident.annotated" else data
    if not isinstance(incident, dict) or not isinstance(incident.get("id", ""), str):
        raise BadBody("event.data must describe the incident (its id)")
    agent = event.get("agent") if isinstance(event.get("agent"), dict) else {}
    return Event(id=event_id[:120], type=event_type, occurred_at=occurred,
                 agent=str(agent.get("summary") or agent.get("name") or "PagerDuty")[:80],
                 pd_id=str(incident.get("id") or "")[:40], incident_key=str(data.get("incident_key") or "")[:120],
                 data=data)


def store(container: Container, event: Event, raw: dict[str, Any]) -> str:
    """Dedup and queue in one transaction: 'queued', 'duplicate' or 'ignored'."""
    if event.type not in HANDLED:
        return "ignored"
    try:
        with session_scope(container.engine) as session:
            session.add(ProcessedRequest(key=f"pagerduty-webhook:{event.id}", created_at=container.clock()))
            session.flush()
            jobs.enqueue(session, APPLY_JOB, {"event": raw}, now=container.clock())
    except IntegrityError:
        return "duplicate"
    return "queued"


def routes(container: Container, worker=None) -> list[Route]:
    async def pagerduty_webhook(request: Request) -> JSONResponse:
        secret = container.settings.pagerduty_webhook_secret
        if secret is None or not secret.get_secret_value():
            return webhook_error(403, "PagerDuty webhooks are off: set PAGERDUTY_WEBHOOK_SECRET to the "
                                      "subscription's secret")
        body = await read_body(request)
        if isinstance(body, JSONResponse):
            return body
        if not signature_ok(body, request.headers.get(SIGNATURE_HEADER), secret.get_secret_value()):
            why = "missing" if not request.headers.get(SIGNATURE_HEADER) else "does not match the body"
            return webhook_error(401, f"{SIGNATURE_HEADER} {why}: expected v1=<hex HMAC-SHA256 of the raw body, "
                                      "keyed with PAGERDUTY_WEBHOOK_SECRET>")
        try:
            event = parse(body)
        except BadBody as exc:
            return webhook_error(exc.status, str(exc))
        outcome = await store_or_503(store, container, event, json.loads(body)["event"], what="PagerDuty event",
                                     log=log, path=PATH)
        if isinstance(outcome, JSONResponse):
            return outcome
        if outcome == "ignored":
            return JSONResponse({"status": "ignored", "reason": f"{event.type} is not synced"})
        if outcome == "duplicate":
            return JSONResponse({"status": "duplicate", "reason": "this event id was already received"})
        return JSONResponse({"status": "accepted", "event": event.id}, status_code=202)

    return [Route(PATH, pagerduty_webhook, methods=["POST"])]


# -- applying an event -------------------------------------------------------------------------------------------
def _find_link(session, event: Event) -> PagerDutyLink | None:
    link = session.exec(select(PagerDutyLink).where(PagerDutyLink.pd_incident_id == event.pd_id)).first() \
        if event.pd_id else None
    if link is None and event.incident_key:
        link = session.exec(select(PagerDutyLink).where(PagerDutyLink.incident_key == event.incident_key)).first()
    return link


def _assignees(data: dict[str, Any]) -> list[str]:
    people = data.get("assignees") or []
    return [str(p.get("summary") or p.get("id")) for p in people if isinstance(p, dict)][:10]


def apply_job(container: Container, payload: dict[str, Any], job=None) -> None:
    event = parse(json.dumps({"event": payload["event"]}).encode())
    ctx = pagerduty_context(container, user_id=ACTOR)
    apply(ctx, event)


def apply(ctx: Context, event: Event) -> str:
    """Bring one PagerDuty event into the incident; returns what happened, in a word (for logs and tests)."""
    with ctx.session() as session:
        link = _find_link(session, event)
        if link is None:
            log.info("pagerduty webhook %s for %s: not a Fireline incident", event.type, event.pd_id)
            return "unknown"
        if event.type == "incident.annotated" and str(event.data.get("content") or "").startswith(NOTE_PREFIX):
            return "echo"  # a note Fireline itself sent
        incident = svc.get_incident(session, link.incident_id)
        if event.pd_id and not link.pd_incident_id:
            link.pd_incident_id = event.pd_id  # paged through the Events API: now we know its id
        if event.data.get("html_url") and not link.html_url:
            link.html_url = str(event.data["html_url"])[:500]
        if isinstance(event.data.get("number"), int) and not link.number:
            link.number = event.data["number"]
        status = STATUS_OF.get(event.type)
        stale = bool(status) and link.status_at is not None and event.occurred_at < as_utc(link.status_at)
        stale = stale or (event.type in ("incident.escalated", "incident.reassigned") and link.status == "resolved"
                          and link.status_at is not None and event.occurred_at < as_utc(link.status_at))
        if status and not stale:
            link.status, link.status_at = status, event.occurred_at
        if event.type in ("incident.escalated", "incident.reassigned") and not stale:
            link.assignees = _assignees(event.data) or link.assignees
            level = event.data.get("escalation_level")
            if isinstance(level, int) and not isinstance(level, bool) and level > 0:
                # v3 incident data may omit the level; then ours (set when Fireline escalated) stands,
                # and an echo of our own escalation never counts twice.
                link.escalation_level = level
        session.add(link)
        text = _timeline_text(event, link)
        if stale:
            text += " (arrived after a newer change; not applied)"
        recorded = svc.record(session, incident, f"pagerduty_{event.type.split('.', 1)[1]}", f"pagerduty:{event.agent}",
                              text, {"event_id": event.id, "pd_incident": event.pd_id, "stale": stale},
                              at=event.occurred_at, dedup_key=f"pd-event:{event.id}")
        if recorded is None:
            return "duplicate"
    if stale:
        return "stale"
    return _act(ctx, event, incident, text)


def _timeline_text(event: Event, link: PagerDutyLink) -> str:
    """Plain words for the timeline (escaped where they are shown, like every timeline text)."""
    who = event.agent
    if event.type == "incident.acknowledged":
        return f"Acknowledged in PagerDuty by {who}"
    if event.type == "incident.unacknowledged":
        return "Acknowledgement timed out in PagerDuty; it pages again"
    if event.type == "incident.escalated":
        return f"Escalated in PagerDuty to {', '.join(link.assignees) or 'the next level'}"
    if event.type == "incident.reassigned":
        return f"Reassigned in PagerDuty to {', '.join(link.assignees) or 'someone else'} by {who}"
    if event.type == "incident.resolved":
        return f"Resolved in PagerDuty by {who}"
    if event.type == "incident.reopened":
        return f"Reopened in PagerDuty by {who}"
    if event.type == "incident.annotated":
        return f"PagerDuty note by {who}: {str(event.data.get('content') or '')[:2000]}"
    return event.type


def _act(ctx: Context, event: Event, incident, text: str) -> str:
    """What the event does to our incident beyond the timeline (the PagerDuty echo of our own change is a no-op)."""
    if event.type == "incident.acknowledged":
        if incident.is_open and not incident.acknowledged_at:
            try:
                svc.acknowledge(ctx, incident.id, actor=f"pagerduty:{event.agent}", via="pagerduty")
            except UserError:
                pass
            svc.announce(ctx, incident, Reply(f":pager: {escape(text)}."))
            return "acknowledged"
        svc.refresh_cards(ctx, incident)
        return "noted"
    if event.type == "incident.resolved":
        if incident.is_open:
            try:  # credited to the agent the webhook names, not to "pagerduty"
                svc.resolve(replace(ctx, user_id=f"pagerduty:{event.agent}"), incident.id, None)
            except UserError:
                pass
            return "resolved"
        svc.refresh_cards(ctx, incident)
        return "noted"
    if event.type == "incident.reopened":
        if incident.is_open:  # reopened here first: PagerDuty's echo of our own sync
            svc.refresh_cards(ctx, incident)
            return "noted"
        try:
            svc.set_status(ctx, incident.id, "investigating")  # announces the reopening itself
        except UserError:
            pass
        return "reopened"
    if event.type == "incident.annotated":
        content = str(event.data.get("content") or "")
        svc.announce(ctx, incident, Reply(f":memo: PagerDuty note on #{incident.id} by {escape(event.agent)}",
                                          lines=[escape(content[:2000])]))
        return "noted"
    if event.type in ("incident.escalated", "incident.reassigned") and _assignees(event.data):
        ctx.app.registry.emit(Hooks.PAGERDUTY_ASSIGNED, ctx, incident=incident, assignees=_assignees(event.data))
    svc.refresh_cards(ctx, incident)
    svc.announce(ctx, incident, Reply(f":pager: #{incident.id}: {escape(text)}."), also_incidents_channel=
                 event.type == "incident.escalated")
    return event.type.split(".", 1)[1]


__all__ = ["APPLY_JOB", "PATH", "BadBody", "Event", "apply", "apply_job", "parse", "routes", "sign", "signature_ok",
           "store"]
