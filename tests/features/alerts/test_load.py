"""Load that must not delay later alerts: a huge Alertmanager group, a storm then a SEV1, slots of gone jobs.

Each test asserts on the work done (rows, jobs, Slack posts, the slot a job was given), never on wall time.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import Session, select

from bot.features.alerts.payloads import from_generic
from bot.features.alerts.service import receive
from bot.core.clock import as_utc
from bot.store.models import Alert, Job
from tests.features.alerts import test_sources as test_alert_sources
from tests.support.alerts import alerts, run_all
from tests.features.alerts.test_sources import post_source

app = test_alert_sources.app  # the same app (alert secret and source tokens) as the sources' tests

GROUP_KEY = '{}/{}:{alertname="NodeDown"}'


def group(count: int, status: str = "firing", critical: int | None = None) -> dict:
    """An Alertmanager v4 notification group of `count` fingerprints (all warnings but `critical`)."""
    items = [{"status": status, "fingerprint": f"{n:016x}",
              "labels": {"alertname": "NodeDown", "instance": f"node-{n}:9100",
                         "severity": "critical" if n == critical else "warning"},
              "annotations": {"summary": f"Node node-{n} is down"},
              "startsAt": "2026-12-07T10:00:00Z", "endsAt": "2026-12-07T10:12:00Z" if status == "resolved"
              else "0001-01-01T00:00:00Z"} for n in range(count)]
    return {"version": "4", "groupKey": GROUP_KEY, "truncatedAlerts": 0, "status": status, "receiver": "fireline",
            "groupLabels": {"alertname": "NodeDown"}, "commonLabels": {"alertname": "NodeDown"},
            "commonAnnotations": {}, "externalURL": "http://alertmanager.cgraph.internal:9093", "alerts": items}


def jobs_of(container, kind: str) -> list[Job]:
    with Session(container.engine) as session:
        return list(session.exec(select(Job).where(Job.kind == kind).order_by(Job.id)).all())


def test_a_delivery_of_a_thousand_alerts_is_one_thread_listing_them(app, clock):
    """Stored one by one, 10,000 fingerprints took 181 s to answer and booked 9,907 posts 5.5 h ahead."""
    response = post_source(app.client, "alertmanager", group(1000, critical=637))
    assert response.status_code == 202, response.text
    [outcome] = response.json()["alerts"]
    assert outcome["status"] == "accepted" and outcome["severity"] == 1  # the most severe member decides
    [alert] = alerts(app.container)  # one row, one job: the answer's work does not grow with the delivery
    assert alert.dedup_key == f"alertmanager:group:{GROUP_KEY}" and alert.details["member_count"] == 1000
    assert alert.title == "1000 alerts firing, the most severe: Node node-637 is down (and 999 other titles)"
    assert len(jobs_of(app.container, "alerts.post")) == 1
    run_all(app, clock)
    posts = app.recorder.of("chat.postMessage")
    assert len(posts) == 2  # the alert and its analysis, not 2,000 messages
    listed = posts[1].text()
    assert "The 1000 alerts of this group" in listed and "Node node-24 is down" in listed
    assert "… and 975 more" in listed and "node-25 " not in listed
    # Alertmanager resends the group: a repeat on the same thread, not a thousand new alerts
    again = post_source(app.client, "alertmanager", group(1000))
    assert again.json()["alerts"][0]["thread"] == "updated" and len(alerts(app.container)) == 1
    # the whole group resolved: the group's thread says so
    app.recorder.reset()
    resolved = post_source(app.client, "alertmanager", group(1000, status="resolved"))
    assert [a["status"] for a in resolved.json()["alerts"]] == ["resolved"]
    run_all(app, clock)
    assert any("Resolved after 12m" in call.text() for call in app.recorder.of("chat.update"))


def test_a_small_delivery_keeps_one_thread_per_alert(app):
    from bot.features.alerts.storm import THREADS_PER_DELIVERY

    response = post_source(app.client, "alertmanager", group(THREADS_PER_DELIVERY))
    assert [a["thread"] for a in response.json()["alerts"]] == ["new"] * THREADS_PER_DELIVERY
    assert len(alerts(app.container)) == THREADS_PER_DELIVERY


def test_a_sev1_sent_after_a_storm_is_not_behind_it(app, clock):
    """A storm of 200 distinct SEV3 alerts, then a real SEV1: it is posted at once, the storm capped."""
    now = clock()
    for n in range(200):
        receive(app.container, from_generic({"title": f"Synthetic check {n} failed on cgraph-api",
                                             "dedup_key": f"check-{n}", "source": "checkly"}))
    sev1 = receive(app.container, from_generic({"title": "api.cgraph.org returns 502 for every request",
                                                "severity": "critical", "source": "grafana"}))
    assert sev1.level == 1
    posts = {job.payload["alert_id"]: as_utc(job.run_at) for job in jobs_of(app.container, "alerts.post")}
    assert posts[sev1.alert_id] <= now + timedelta(seconds=2)
    assert max(posts.values()) <= now + timedelta(seconds=62)  # no thread booked more than a minute ahead
    assert len(posts) <= 32 and len(jobs_of(app.container, "alerts.digest")) == 1
    run_all(app, clock)
    roots = [c.text() for c in app.recorder.of("chat.postMessage") if not c.data.get("thread_ts")]
    sev1_at = [n for n, text in enumerate(roots) if "api.cgraph.org returns 502" in text]
    assert sev1_at and sev1_at[0] <= 1  # in the first second, beside the storm's first thread, not after it
    digest = [c.text() for c in app.recorder.of("chat.postMessage") if "more alerts" in c.text()]
    assert digest and "… and" in digest[0]
    with Session(app.container.engine) as session:
        shown = session.exec(select(Alert)).all()
    assert all(a.root_ts or (a.details or {}).get("digest_ts") for a in shown)  # every alert reached Slack


def test_slots_are_released_when_their_jobs_are_gone(app, clock):
    """Jobs cleared from the queue (or run, or failed) no longer hold their lane's slots."""
    now = clock()
    for n in range(20):
        receive(app.container, from_generic({"title": f"Disk {n} almost full", "dedup_key": f"disk-{n}",
                                             "source": "grafana"}))
    booked = max(as_utc(job.run_at) for job in jobs_of(app.container, "alerts.post"))
    assert booked >= now + timedelta(seconds=38)
    with Session(app.container.engine) as session:  # an operator clears the queue
        session.exec(delete(Job).where(Job.kind == "alerts.post"))
        session.commit()
    later = receive(app.container, from_generic({"title": "Disk 99 almost full", "source": "grafana"}))
    [job] = jobs_of(app.container, "alerts.post")
    assert job.payload["alert_id"] == later.alert_id and as_utc(job.run_at) == now


def test_a_large_group_that_shrinks_stays_one_thread_and_resolves_when_none_fires(app, clock):
    post_source(app.client, "alertmanager", group(1000))
    shrunk = group(1000, status="resolved")
    for item in shrunk["alerts"][:5]:  # five still firing, the rest resolved
        item["status"] = "firing"
    shrunk["status"] = "firing"
    answer = post_source(app.client, "alertmanager", shrunk)
    assert [a["thread"] for a in answer.json()["alerts"]] == ["updated"]  # a repeat, not five new threads
    [alert] = alerts(app.container)
    assert alert.count == 2 and not (alert.details or {}).get("resolved_at")
    few = group(3, status="resolved")  # Alertmanager's last word: the group is resolved
    assert [a["status"] for a in post_source(app.client, "alertmanager", few).json()["alerts"]] == ["resolved"]
    [alert] = alerts(app.container)
    assert alert.details.get("resolved_at")


def test_a_digest_slack_refused_is_posted_later_once(app, clock):
    from bot.features.alerts.service import post_digest

    for n in range(40):
        receive(app.container, from_generic({"title": f"Queue {n} backed up", "dedup_key": f"queue-{n}",
                                             "source": "grafana"}))
    [digest] = jobs_of(app.container, "alerts.digest")
    app.recorder.fail("chat.postMessage", "internal_error", times=1)
    post_digest(app.container, digest.payload)  # refused: queued again, nothing marked as shown
    assert [job.payload.get("attempt") for job in jobs_of(app.container, "alerts.digest")] == [None, 2]
    app.recorder.reset()
    run_all(app, clock)
    digests = [c.text() for c in app.recorder.of("chat.postMessage") if "more alerts" in c.text()]
    assert len(digests) == 1
    with Session(app.container.engine) as session:
        shown = session.exec(select(Alert)).all()
    assert all(a.root_ts or (a.details or {}).get("digest_ts") for a in shown) and len(shown) == 40
