"""POST /webhooks/alerts: generic JSON, Sentry issue alerts, PagerDuty v3 events; signatures; bad bodies."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from bot.store.models import Job
from tests.support.factories import make_container
from tests.support.alerts import (
    ALERT_SECRET,
    ALERTS_CHANNEL,
    alerts,
    pagerduty_event,
    post_alert,
    run_all,
    sentry_alert,
    stored_nothing,
)
from tests.support.harness import SlackHarness


@pytest.fixture
def app(db_url, recorder, clock):
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app

    container = make_container(db_url, recorder, alerts_webhook_secret=ALERT_SECRET,
                                              alerts_channel=ALERTS_CHANNEL, clock=clock)
    with TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False) as client:
        yield SlackHarness(container, recorder, client)
    container.engine.dispose()


def queued(container, kind: str) -> list[Job]:
    with Session(container.engine) as session:
        return list(session.exec(select(Job).where(Job.kind == kind)).all())


# -- the three sources -------------------------------------------------------------------------------------
def test_generic_alert_is_stored_and_threaded_later(app, clock):
    response = post_alert(app.client, {"title": "api.cgraph.org returns 502 for every request", "source": "Grafana",
                                       "text": "5xx rate 64% for 3m", "severity": "critical",
                                       "dedup_key": "grafana:api-502", "link": "https://grafana.example/d/abc"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body == {"status": "accepted", "alert": 1, "severity": 1, "thread": "new", "count": 1, "incident": None}
    [alert] = alerts(app.container)
    assert (alert.source, alert.dedup_key, alert.link, alert.severity_hint) == (
        "grafana", "grafana:api-502", "https://grafana.example/d/abc", "critical")
    assert alert.level == 1 and any("bad-gateway" in r for r in alert.reasons) and alert.playbook == "restart"
    # the HTTP answer did not wait on Slack: nothing was posted yet, a job was queued
    assert app.recorder.of("chat.postMessage") == []
    assert len(queued(app.container, "alerts.post")) == 1
    run_all(app, clock)
    posts = app.recorder.of("chat.postMessage")
    assert [p.data["channel"] for p in posts] == ["#incidents", "CINCIDENTS"]
    assert posts[1].data["thread_ts"] == "1700000001.000001"


def test_generic_alert_with_text_only_and_default_key(app):
    response = post_alert(app.client, {"text": "Disk usage 97% on cgraph-db volume\nwrites will fail"})
    assert response.status_code == 202
    [alert] = alerts(app.container)
    assert alert.title == "Disk usage 97% on cgraph-db volume" and alert.source == "webhook"
    assert alert.dedup_key == "webhook:disk usage #% on cgraph-db volume" and alert.level == 2


def test_sentry_issue_alert_with_sentry_signature(app, clock):
    payload = sentry_alert()
    response = post_alert(app.client, payload, header="Sentry-Hook-Signature",
                          extra={"Sentry-Hook-Resource": "event_alert", "Request-ID": "req-1"})
    assert response.status_code == 202, response.text
    [alert] = alerts(app.container)
    assert alert.source == "sentry" and alert.dedup_key == "sentry:issue:1117540176"
    assert alert.title.startswith("Guardian.Token: invalid_token") and alert.level == 2
    assert alert.link.startswith("https://sentry.io/organizations/cgraph/issues/1117540176")
    assert "alert rule: Auth errors in production" in alert.text and alert.severity_hint == "error"
    # Sentry retries a delivery with the same Request-ID: dropped, not counted
    again = post_alert(app.client, payload, header="Sentry-Hook-Signature",
                       extra={"Sentry-Hook-Resource": "event_alert", "Request-ID": "req-1"})
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert alerts(app.container)[0].count == 1
    # a new delivery of the same issue (a new event: Sentry's Request-ID alone is not signed) counts as a repeat
    newer = sentry_alert(event_id="0f6c2a3b9d8e4f7a8b1c2d3e4f5a6b7c")
    third = post_alert(app.client, newer, extra={"Sentry-Hook-Resource": "event_alert", "Request-ID": "req-2"})
    assert third.status_code == 202 and third.json()["thread"] == "updated" and third.json()["count"] == 2


def test_sentry_staging_issue_is_sev4(app):
    payload = sentry_alert(tags=[["environment", "staging"]])
    assert post_alert(app.client, payload, extra={"Sentry-Hook-Resource": "event_alert"}).status_code == 202
    assert alerts(app.container)[0].level == 4


def test_sentry_hooks_that_are_not_alerts_are_ignored(app):
    install = {"action": "created", "data": {"installation": {"uuid": "x"}}, "installation": {"uuid": "x"}}
    response = post_alert(app.client, install, header="Sentry-Hook-Signature",
                          extra={"Sentry-Hook-Resource": "installation"})
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert "event_alert" in response.json()["reason"]
    assert stored_nothing(app.container)


def test_sentry_metric_alert(app):
    payload = {"action": "critical", "installation": {"uuid": "x"}, "data": {
        "description_title": "Critical: p95 latency of /api/feed above 2s", "description_text": "2.4s over 10 minutes",
        "web_url": "https://sentry.io/organizations/cgraph/alerts/rules/details/9/",
        "metric_alert": {"alert_rule": {"id": 9, "name": "Feed latency"}}}}
    response = post_alert(app.client, payload, extra={"Sentry-Hook-Resource": "metric_alert"})
    assert response.status_code == 202, response.text
    [alert] = alerts(app.container)
    # the rule's critical trigger decides: it no longer loses to the weak SEV3 word "latency"
    assert alert.dedup_key == "sentry:metric:9" and alert.level == 1 and alert.severity_hint == "critical"
    assert alert.title == "p95 latency of /api/feed above 2s", alert.title


def test_pagerduty_incident_triggered(app):
    response = post_alert(app.client, pagerduty_event(), header="X-PagerDuty-Signature")
    assert response.status_code == 202, response.text
    [alert] = alerts(app.container)
    assert alert.source == "pagerduty" and alert.title == "[#1234] cgraph-api health check failed"
    assert alert.dedup_key == "pagerduty:d3640fbd41094207a1c11e58e46b1662"
    assert alert.link == "https://acme.pagerduty.com/incidents/PGR0VU2"
    assert alert.signals["pagerduty_urgency"] == "high" and alert.level == 2
    assert any("PagerDuty urgency is high" in r for r in alert.reasons)
    replay = post_alert(app.client, pagerduty_event(), header="X-PagerDuty-Signature")
    assert replay.json()["status"] == "duplicate"


def test_pagerduty_priority_decides(app):
    payload = pagerduty_event(title="Checkout API errors", priority={"summary": "P1", "type": "priority_reference"})
    payload["event"]["id"] = "other-event"
    assert post_alert(app.client, payload).status_code == 202
    assert alerts(app.container)[0].level == 1


def test_pagerduty_other_events_are_ignored(app):
    response = post_alert(app.client, pagerduty_event("incident.acknowledged"), header="X-PagerDuty-Signature")
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert "incident.triggered" in response.json()["reason"]
    assert stored_nothing(app.container)


# -- refusals store nothing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw,status,reason", [
    (b"{not json", 400, "malformed JSON"),
    (b"[1, 2]", 400, "expected a JSON object"),
    (b"\xff\xfe", 400, "not UTF-8"),
    (b"{}", 422, "needs a `title` or a `text`"),
    (json.dumps({"title": {"nested": 1}}).encode(), 422, "`title` must be a string"),
    (json.dumps({"title": "x", "link": "javascript:alert(1)"}).encode(), 422, "`link` must be an http"),
    (json.dumps({"title": "x", "signals": "down"}).encode(), 422, "`signals` must be an object"),
    (json.dumps({"data": "x", "action": "triggered", "installation": {}}).encode(), 422, "needs a `data` object"),
    (json.dumps({"event": {"event_type": "incident.triggered", "data": 5}}).encode(), 422, "needs `event.data`"),
    (json.dumps({"action": "triggered", "data": {"event": "x"}, "installation": {}}).encode(), 422,
     "needs `data.event`"),
])
def test_bad_bodies_get_4xx_with_a_reason_and_store_nothing(app, raw, status, reason):
    response = post_alert(app.client, None, raw=raw)
    assert response.status_code == status, response.text
    assert reason in response.json()["error"]
    assert stored_nothing(app.container)


def test_too_large_body(app):
    response = post_alert(app.client, None, raw=b'{"title": "' + b"x" * 600_000 + b'"}')
    assert response.status_code == 413 and stored_nothing(app.container)


@pytest.mark.parametrize("secret,header,status,reason", [
    (None, "X-Fireline-Signature", 401, "missing signature: send X-Fireline-Signature: sha256="),
    ("wrong-secret", "X-Fireline-Signature", 401, "signature does not match"),
    ("wrong-secret", "Sentry-Hook-Signature", 401, "signature does not match"),
    ("wrong-secret", "X-PagerDuty-Signature", 401, "signature does not match"),
])
def test_bad_secrets_get_401_and_store_nothing(app, secret, header, status, reason):
    response = post_alert(app.client, {"title": "Site is down"}, secret=secret, header=header)
    assert response.status_code == status and reason in response.json()["error"]
    assert stored_nothing(app.container)


def test_signature_of_another_body_is_refused(app):
    from tests.support.alerts import signature

    body = json.dumps({"title": "Site is down"}).encode()
    response = app.client.post("/webhooks/alerts", content=body, headers={
        "Content-Type": "application/json", "X-Fireline-Signature": signature(b'{"title": "fine"}')})
    assert response.status_code == 401 and stored_nothing(app.container)


def test_intake_is_off_without_a_secret(db_url, recorder, clock):
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app

    container = make_container(db_url, recorder, clock=clock)
    with TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False) as client:
        response = post_alert(client, {"title": "Site is down"})
        assert response.status_code == 403 and "ALERTS_WEBHOOK_SECRET" in response.json()["error"]
        assert stored_nothing(container)
    container.engine.dispose()


@pytest.mark.parametrize("payload", [
    {"title": 1}, {"title": None, "text": None}, {"event": {"event_type": "incident.triggered", "data": {}}},
    {"event": {"event_type": None}}, {"action": "triggered", "data": {"event": {"title": ["x"]}}, "installation": 1},
    {"title": "x" * 5000, "dedup_key": "k" * 500, "source": "s" * 100}, {"title": "ok", "signals": {"health": 3}},
    {"title": "ok", "severity": ["critical"]}, {"data": {"metric_alert": {"alert_rule": None}}, "action": "critical",
                                                 "installation": {}},
])
def test_odd_payloads_never_500(app, payload):
    response = post_alert(app.client, payload)
    assert response.status_code < 500, response.text


def test_database_down_is_503_not_500(app, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import bot.features.alerts.webhook as webhook

    def broken(*args, **kwargs):
        raise OperationalError("select", {}, Exception("connection refused"))

    monkeypatch.setattr(webhook, "receive", broken)
    response = post_alert(app.client, {"title": "Site is down"})
    assert response.status_code == 503 and "Retry" in response.json()["error"]


# -- resolved alerts in the generic shape --------------------------------------------------------------------------
def test_generic_shape_resolves_an_alert_by_its_dedup_key(app, clock):
    """`status: resolved` (or `"resolved": true`) on the generic route resolves, as the per-source routes do.

    Before: the generic route read it as one more repeat ("count": 2) and the thread never said it was over.
    """
    fired = post_alert(app.client, {"title": "api.cgraph.org returns 502", "source": "grafana",
                                    "dedup_key": "api-502"})
    assert fired.status_code == 202, fired.text
    run_all(app, clock)
    clock.advance(minutes=12)
    app.recorder.reset()
    done = post_alert(app.client, {"dedup_key": "api-502", "status": "resolved"})  # no title needed to resolve
    assert done.status_code == 202, done.text
    assert done.json() == {"status": "resolved", "alert": 1, "severity": 1, "thread": "updated", "count": 1,
                           "resolved_after": "12m"}
    [alert] = alerts(app.container)
    assert alert.count == 1 and alert.details["resolved_at"]
    run_all(app, clock)
    assert any("Resolved after 12m" in c.text() for c in app.recorder.of("chat.update"))
    again = post_alert(app.client, {"title": "api.cgraph.org returns 502", "dedup_key": "api-502", "resolved": True})
    assert again.status_code == 202 and again.json()["thread"] == "unchanged"
    never = post_alert(app.client, {"dedup_key": "never-fired", "status": "RESOLVED"})
    assert never.status_code == 200 and never.json()["status"] == "ignored"
    assert len(alerts(app.container)) == 1
    # `firing` (what Alertmanager-style senders put there) is a firing alert, as before
    refire = post_alert(app.client, {"title": "api.cgraph.org returns 502", "dedup_key": "api-502",
                                     "status": "firing"})
    assert refire.status_code == 202 and refire.json()["thread"] == "new"


@pytest.mark.parametrize("payload,reason", [
    ({"status": "resolved"}, "`dedup_key`"),
    ({"dedup_key": "k", "resolved": "yes"}, "`resolved` must be true or false"),
    ({"dedup_key": "k", "status": 3}, "`status` must be a string"),
])
def test_generic_resolution_refusals_say_what_to_send(app, payload, reason):
    response = post_alert(app.client, payload)
    assert response.status_code == 422 and reason in response.json()["error"], response.text
    assert stored_nothing(app.container)


def test_a_delivery_wakes_the_worker_once(db_url, recorder, clock):
    """The runtime registers its worker on the engine, so the transaction that stores a delivery's jobs wakes it;
    the routes used to wake it again after the answer, twice per delivery."""
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app
    from bot.service import jobs

    class Counted:
        wakes = 0

        def wake(self) -> None:
            self.wakes += 1

    worker = Counted()
    container = make_container(db_url, recorder, alerts_webhook_secret=ALERT_SECRET, alerts_channel=ALERTS_CHANNEL,
                               clock=clock)
    jobs.add_waker(container.engine, worker.wake)  # as bot.app.runtime does
    try:
        with TestClient(build_http_app(container, build_bolt_app(container), worker)) as client:
            for payload in ({"title": "api 502", "text": "5xx 64%", "dedup_key": "a"},  # received
                            {"title": "api 502", "dedup_key": "a", "status": "resolved"}):  # resolved
                before = worker.wakes
                response = post_alert(client, payload)
                assert response.status_code == 202, response.text
                assert worker.wakes - before == 1, payload
    finally:
        jobs.remove_waker(container.engine, worker.wake)
        container.engine.dispose()
