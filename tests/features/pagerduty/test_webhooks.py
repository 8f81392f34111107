"""`POST /webhooks/pagerduty`: v3 bodies shaped like PagerDuty's docs, signatures, replays, out-of-order events."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from bot.store.models import Incident, Job
from bot.store.models.pagerduty import PagerDutyLink
from bot.features.pagerduty import webhook as pd_webhook
from bot.service import incidents as svc
from tests.support.pagerduty import (
    EVENTS_SETTINGS,
    WEBHOOK_SECRET,
    build,
    harness,
    incident_data,
    install_clients,
    note_data,
    pd_signature,
    post_webhook,
    rest_harness,
    webhook,
)

CHANNEL = "CINC0001"


@pytest.fixture
def slack(db_url, recorder, clock, pd):
    with rest_harness(db_url, recorder, clock) as h:
        h.command("declare Site is down sev1")
        recorder.reset()
        yield h


def incident(container, number=1) -> Incident:
    with Session(container.engine) as session:
        return session.get(Incident, number)


def link(container, number=1) -> PagerDutyLink:
    with Session(container.engine) as session:
        return session.get(PagerDutyLink, number)


def kinds(container, number=1) -> list[str]:
    with Session(container.engine) as session:
        return [e.kind for e in svc.timeline(session, number)]


def event(kind: str, clock, *, minutes: float = 1, status: str | None = None, event_id: str | None = None,
          **data_kw):
    status = status or {"incident.acknowledged": "acknowledged", "incident.resolved": "resolved"}.get(kind, "triggered")
    return webhook(kind, incident_data("PINC101", status=status, **data_kw),
                   occurred_at=clock() + timedelta(minutes=minutes), event_id=event_id)


def test_acknowledged_in_pagerduty_acks_here_and_is_not_sent_back(slack, pd, clock):
    response = post_webhook(slack, event("incident.acknowledged", clock))
    assert response.status_code == 202 and response.json()["status"] == "accepted"
    row = incident(slack.container)
    assert row.acknowledged_at is not None and row.acknowledged_by == "pagerduty:Chen Li"
    assert row.status == "investigating"
    assert "pagerduty_acknowledged" in kinds(slack.container) and "acknowledged" in kinds(slack.container)
    assert link(slack.container).status == "acknowledged"
    assert pd.calls("PUT") == []  # no echo back to PagerDuty
    assert any("Acknowledged in PagerDuty by Chen Li" in c.text() for c in slack.recorder.of("chat.postMessage"))
    assert any("Acknowledged" in c.text() for c in slack.recorder.of("chat.update"))  # the cards


def test_escalated_reassigned_and_resolved_update_incident_card_and_channel(slack, pd, clock):
    escalated = event("incident.escalated", clock, minutes=1, assignees=(("PMARC01", "Marcus Webb"),))
    escalated["event"]["data"]["escalation_level"] = 2
    post_webhook(slack, escalated)
    assert link(slack.container).assignees == ["Marcus Webb"] and link(slack.container).escalation_level == 2
    post_webhook(slack, event("incident.reassigned", clock, minutes=2, assignees=(("PAISH01", "Aisha Khan"),)))
    assert link(slack.container).assignees == ["Aisha Khan"]
    cards = [c.text() for c in slack.recorder.of("chat.update")]
    assert any("Aisha Khan" in t for t in cards)
    post_webhook(slack, event("incident.resolved", clock, minutes=3))
    row = incident(slack.container)
    assert row.status == "resolved"
    timeline = kinds(slack.container)
    assert timeline[-4:] == ["pagerduty_escalated", "pagerduty_reassigned", "pagerduty_resolved", "resolved"] or \
        {"pagerduty_escalated", "pagerduty_reassigned", "pagerduty_resolved", "resolved"} <= set(timeline)
    texts = [c.text() for c in slack.recorder.of("chat.postMessage")]
    assert any("Escalated in PagerDuty to Marcus Webb" in t for t in texts)
    assert any("Reassigned in PagerDuty to Aisha Khan" in t for t in texts)
    assert pd.calls("PUT") == []


def test_names_from_pagerduty_cannot_ping(slack, clock):
    payload = webhook("incident.reassigned", incident_data("PINC101", status="triggered",
                                                           assignees=(("PX1", "<!channel>"),)),
                      occurred_at=clock() + timedelta(minutes=1), agent="<!here|here>")
    post_webhook(slack, payload)
    sent = json.dumps([c.data for c in slack.recorder.of("chat.postMessage") + slack.recorder.of("chat.update")])
    assert "&lt;!channel&gt;" in sent and "<!channel>" not in sent and "<!here" not in sent


def test_an_escalation_without_a_level_keeps_ours(slack, clock):
    post_webhook(slack, event("incident.escalated", clock, assignees=(("PMARC01", "Marcus Webb"),)))
    assert link(slack.container).escalation_level == 1 and link(slack.container).assignees == ["Marcus Webb"]


def test_reopened_in_pagerduty_reopens_here(slack, pd, clock):
    slack.command("resolve Looked fine", channel_id=CHANNEL)
    assert incident(slack.container).status == "resolved" and link(slack.container).status == "resolved"
    clock.advance(minutes=5)
    post_webhook(slack, event("incident.reopened", clock, minutes=1))
    assert incident(slack.container).status == "investigating" and link(slack.container).status == "triggered"
    assert any("is now *investigating* (was resolved)" in c.text() for c in slack.recorder.of("chat.postMessage"))
    assert [r for r in pd.calls("PUT") if pd.body(r)["incident"].get("status") == "triggered"] == []


def test_annotations_come_in_but_our_own_notes_are_not_echoed(slack, pd, clock):
    notes_before = len(pd.calls("POST", "/incidents/PINC101/notes"))  # the page's first note
    post_webhook(slack, webhook("incident.annotated", note_data("PINC101", "Customer support sees it too"),
                                occurred_at=clock() + timedelta(minutes=1)))
    post_webhook(slack, webhook("incident.annotated", note_data("PINC101", "[Fireline] U0LEAD: checking db", "PN2"),
                                occurred_at=clock() + timedelta(minutes=2)))
    assert kinds(slack.container).count("pagerduty_annotated") == 1
    assert any("Customer support sees it too" in c.text() for c in slack.recorder.of("chat.postMessage"))
    assert len(pd.calls("POST", "/incidents/PINC101/notes")) == notes_before == 1  # nothing sent back


@pytest.mark.parametrize("signature", [
    None,  # missing
    "v1=" + "0" * 64,  # wrong
    pd_signature(b"another body", WEBHOOK_SECRET),  # a real signature of a different body
    pd_signature(b"x", "not-the-secret").replace("v1=", "v2="),  # an unknown scheme
    "",
])
def test_bad_or_missing_signature_is_401_and_changes_nothing(slack, clock, signature):
    payload = event("incident.resolved", clock)
    body = json.dumps(payload).encode()
    if signature is None:
        response = post_webhook(slack, body, secrets=())
    else:
        response = post_webhook(slack, body, signature=signature)
    assert response.status_code == 401 and "X-PagerDuty-Signature" in response.json()["error"]
    assert incident(slack.container).status == "declared"
    with Session(slack.container.engine) as session:
        assert session.exec(select(Job).where(Job.kind == pd_webhook.APPLY_JOB)).all() == []


def test_tampered_body_is_refused(slack, clock):
    body = json.dumps(event("incident.acknowledged", clock)).encode()
    signature = pd_signature(body, WEBHOOK_SECRET)
    tampered = body.replace(b"Chen Li", b"Mallory")
    assert post_webhook(slack, tampered, signature=signature).status_code == 401
    assert incident(slack.container).acknowledged_at is None


def test_any_v1_signature_may_match_during_secret_rotation(slack, clock):
    response = post_webhook(slack, event("incident.acknowledged", clock), secrets=("old-secret", WEBHOOK_SECRET))
    assert response.status_code == 202 and incident(slack.container).acknowledged_at is not None


def test_replayed_event_ids_are_dropped(slack, clock):
    payload = event("incident.reassigned", clock, event_id="01DUPLICATE", assignees=(("PMARC01", "Marcus Webb"),))
    assert post_webhook(slack, payload).status_code == 202
    again = post_webhook(slack, payload)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert kinds(slack.container).count("pagerduty_reassigned") == 1


def test_out_of_order_events_never_undo_newer_state(slack, clock):
    post_webhook(slack, event("incident.acknowledged", clock, minutes=5))
    late = post_webhook(slack, event("incident.unacknowledged", clock, minutes=3))
    assert late.status_code == 202
    assert link(slack.container).status == "acknowledged"
    post_webhook(slack, event("incident.resolved", clock, minutes=10))
    post_webhook(slack, event("incident.escalated", clock, minutes=8, assignees=(("PMARC01", "Marcus Webb"),)))
    post_webhook(slack, event("incident.acknowledged", clock, minutes=7))
    row, pd_link = incident(slack.container), link(slack.container)
    assert row.status == "resolved" and pd_link.status == "resolved"
    assert pd_link.assignees == ["Chen Li"] and pd_link.escalation_level == 1
    with Session(slack.container.engine) as session:
        stale = [e for e in svc.timeline(session, 1) if e.data.get("stale")]
    assert len(stale) == 3 and all("not applied" in e.text for e in stale)


def test_newer_unacknowledged_is_applied(slack, clock):
    post_webhook(slack, event("incident.acknowledged", clock, minutes=1))
    post_webhook(slack, event("incident.unacknowledged", clock, minutes=20))
    assert link(slack.container).status == "triggered"
    assert any("it pages again" in c.text() for c in slack.recorder.of("chat.postMessage"))


@pytest.mark.parametrize("body, why", [
    (b"not json", "not JSON"),
    (b"[]", "expected a PagerDuty v3 webhook"),
    (b'{"event": {"id": "", "event_type": "incident.resolved"}}', "non-empty"),
    (b'{"event": {"id": "E1", "event_type": "incident.resolved", "occurred_at": "yesterday", "data": {}}}',
     "ISO 8601"),
    (b'{"event": {"id": "E1", "event_type": "incident.resolved", "occurred_at": "2026-11-25T14:00:00Z"}}',
     "event.data"),
])
def test_malformed_bodies_get_400_with_the_reason(slack, body, why):
    response = post_webhook(slack, body)
    assert response.status_code == 400 and why in response.json()["error"]
    assert incident(slack.container).status == "declared"


def test_other_event_types_and_unknown_incidents_are_ignored(slack, clock):
    ignored = post_webhook(slack, event("incident.triggered", clock))
    assert ignored.status_code == 200 and ignored.json()["status"] == "ignored"
    other = webhook("incident.acknowledged", incident_data("PNOTOURS", status="acknowledged"),
                    occurred_at=clock() + timedelta(minutes=1))
    assert post_webhook(slack, other).status_code == 202
    assert incident(slack.container).acknowledged_at is None


def test_database_outage_is_503_never_500(slack, clock, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(pd_webhook, "store", down)
    response = post_webhook(slack, event("incident.acknowledged", clock))
    assert response.status_code == 503 and "database" in response.json()["error"]


def test_without_a_secret_the_endpoint_is_off(db_url, recorder, clock):
    container = build(db_url, recorder, clock)
    with harness(container, recorder) as h:
        response = post_webhook(h, {"event": {}})
        assert response.status_code == 403 and "PAGERDUTY_WEBHOOK_SECRET" in response.json()["error"]
    container.engine.dispose()


def test_events_api_pages_are_found_by_their_dedup_key(db_url, recorder, clock, pd):
    container = build(db_url, recorder, clock, **EVENTS_SETTINGS)
    install_clients(container)
    with harness(container, recorder) as h:
        h.command("declare Login broken sev2")
        key = link(container).incident_key
        post_webhook(h, webhook("incident.acknowledged", incident_data("PQ1EVNT", status="acknowledged",
                                                                       incident_key=key),
                                occurred_at=clock() + timedelta(minutes=2)))
        assert incident(container).acknowledged_at is not None
        assert link(container).pd_incident_id == "PQ1EVNT"
        assert [e["event_action"] for e in pd.events] == ["trigger"]  # the ack is not sent back
    container.engine.dispose()
