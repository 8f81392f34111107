"""Helpers for alert tests: the app with alert settings, signed webhook posts, and realistic payloads."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.store.models import Alert, Incident, Job, ProcessedRequest, TimelineEvent

ALERT_SECRET = "alert-secret-0123456789abcdef"
ALERTS_CHANNEL = "CALERTS"


def signature(body: bytes, secret: str = ALERT_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_alert(client, payload: Any, *, secret: str | None = ALERT_SECRET, header: str = "X-Fireline-Signature",
               raw: bytes | None = None, extra: dict[str, str] | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **(extra or {})}
    if secret is not None:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers[header] = {"X-Fireline-Signature": f"sha256={digest}", "Sentry-Hook-Signature": digest,
                           "X-PagerDuty-Signature": f"v1=deadbeef, v1={digest}"}[header]
    return client.post("/webhooks/alerts", content=body, headers=headers)


def alerts(container) -> list[Alert]:
    with Session(container.engine) as session:
        return list(session.exec(select(Alert).order_by(Alert.id)).all())


def incidents(container) -> list[Incident]:
    with Session(container.engine) as session:
        return list(session.exec(select(Incident).order_by(Incident.id)).all())


def timeline(container, incident_id: int) -> list[TimelineEvent]:
    with Session(container.engine) as session:
        return list(session.exec(select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
                                 .order_by(TimelineEvent.id)).all())


def stored_nothing(container) -> bool:
    with Session(container.engine) as session:
        return (session.exec(select(Alert)).first() is None and session.exec(select(Job)).first() is None
                and session.exec(select(ProcessedRequest)).first() is None)


def run_all(harness, clock, *, limit: int = 5000) -> int:
    """Run every queued job, moving the clock to each paced slot as a worker would wait for it."""
    from bot.core.clock import as_utc

    ran = 0
    for _ in range(limit):
        ran += harness.run_jobs()
        with Session(harness.container.engine) as session:
            # The response clock's timers (bot/features/pagerduty/response_clock.py) are not paced slots: leave them pending.
            pending = session.exec(select(Job).where(Job.status == "pending", ~Job.kind.startswith("pagerduty."))
                                   .order_by(Job.run_at)).first()
        if pending is None:
            return ran
        clock.now = max(clock.now, as_utc(pending.run_at))
    pytest.fail("jobs kept coming")


# Sentry's issue-alert webhook (Sentry-Hook-Resource: event_alert), trimmed from Sentry's documented example.
SENTRY_ISSUE_ALERT: dict[str, Any] = {
    "action": "triggered",
    "actor": {"id": "sentry", "name": "Sentry", "type": "application"},
    "data": {
        "event": {
            "culprit": "CGraph.Accounts.AuthController.login/2",
            "event_id": "e4874d664c3540c1a32eab185f12c5ab",
            "issue_url": "https://sentry.io/api/0/issues/1117540176/",
            "issue_id": "1117540176",
            "level": "error",
            "platform": "elixir",
            "project": 1,
            "tags": [["environment", "production"], ["level", "error"]],
            "title": "Guardian.Token: invalid_token - login broken for every user",
            "type": "error",
            "url": "https://sentry.io/api/0/projects/cgraph/cgraph-api/events/e4874d664c3540c1a32eab185f12c5ab/",
            "web_url": "https://sentry.io/organizations/cgraph/issues/1117540176/events/e4874d664c3540c1a32eab185f12c5ab/",
        },
        "triggered_rule": "Auth errors in production",
        "issue_alert": {"title": "Auth errors in production", "settings": []},
    },
    "installation": {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"},
}

# PagerDuty v3 webhook `incident.triggered`, shaped like PagerDuty's documented incident event.
PAGERDUTY_TRIGGERED: dict[str, Any] = {
    "event": {
        "id": "5ac64822-4adc-4fda-ade0-410becf0de4f",
        "event_type": "incident.triggered",
        "resource_type": "incident",
        "occurred_at": "2026-11-25T14:00:00.000Z",
        "agent": {"id": "PLH1HKV", "type": "user_reference", "summary": "Chen"},
        "client": {"name": "PagerDuty"},
        "data": {
            "id": "PGR0VU2",
            "type": "incident",
            "self": "https://api.pagerduty.com/incidents/PGR0VU2",
            "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
            "number": 1234,
            "status": "triggered",
            "incident_key": "d3640fbd41094207a1c11e58e46b1662",
            "created_at": "2026-11-25T14:00:00Z",
            "title": "cgraph-api health check failed",
            "service": {"id": "PF9KMXH", "type": "service_reference", "summary": "CGraph API"},
            "assignees": [{"id": "PTUXL6G", "type": "user_reference", "summary": "Chen"}],
            "escalation_policy": {"id": "PUS0KTE", "type": "escalation_policy_reference", "summary": "Default"},
            "priority": None,
            "urgency": "high",
            "conference_bridge": None,
            "resolve_reason": None,
        },
    }
}


def sentry_alert(**event: Any) -> dict[str, Any]:
    payload = copy.deepcopy(SENTRY_ISSUE_ALERT)
    payload["data"]["event"].update(event)
    return payload


def pagerduty_event(event_type: str = "incident.triggered", **data: Any) -> dict[str, Any]:
    payload = copy.deepcopy(PAGERDUTY_TRIGGERED)
    payload["event"]["event_type"] = event_type
    payload["event"]["data"].update(data)
    return payload
