"""The response clock with an injected clock: ack deadlines, the SEV3 reminder, the SEV1 nudge; restarts; replicas."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import Session, select

from bot.store.models import Job
from bot.store.models.pagerduty import PagerDutyLink
from bot.features.pagerduty import response_clock as pd_clock
from bot.service import incidents as svc
from bot.service import jobs
from tests.support.databases import POSTGRES_URL, postgres_problem
from tests.support.pagerduty import (
    REST_SETTINGS,
    build,
    escalations,
    harness,
    incident_posts,
    install_clients,
    rest_harness,
)

CHANNEL = "CINC0001"


@pytest.fixture
def slack(db_url, recorder, clock, pd):
    with rest_harness(db_url, recorder, clock) as h:
        yield h


def kinds(container, number=1) -> list[str]:
    with Session(container.engine) as session:
        return [e.kind for e in svc.timeline(session, number)]


def test_unacknowledged_sev1_escalates_at_15_minutes_exactly(slack, pd, clock):
    slack.command("declare Site is down sev1")
    clock.advance(minutes=14, seconds=59)
    slack.run_jobs()
    assert escalations(pd) == []
    clock.advance(seconds=1)
    slack.run_jobs()
    assert escalations(pd) == [2]
    with Session(slack.container.engine) as session:
        assert session.get(PagerDutyLink, 1).escalation_level == 2
    announced = incident_posts(slack.recorder, "is not acknowledged")
    assert announced and "escalated in PagerDuty to level 2" in announced[0]
    assert {c.data["channel"] for c in slack.recorder.of("chat.postMessage") if "is not acknowledged" in c.text()} \
        >= {CHANNEL}
    assert "ack_overdue" in kinds(slack.container)
    # Still nobody: the next level 15 minutes later; then the rounds stop.
    for _ in range(5):
        clock.advance(minutes=15)
        slack.run_jobs()
    assert escalations(pd) == [2, 3, 4]


def test_sev2_follows_the_on_call_rule_and_an_ack_stops_the_clock(slack, pd, clock):
    slack.command("declare Login broken for everyone sev2")
    clock.advance(minutes=10)
    slack.command("ack", channel_id=CHANNEL)
    clock.advance(hours=2)
    slack.run_jobs()
    assert escalations(pd) == [] and "ack_overdue" not in kinds(slack.container)
    with Session(slack.container.engine) as session:
        pending = session.exec(select(Job).where(Job.kind == pd_clock.ACK_JOB, Job.status == "pending")).all()
    assert pending == []


def test_acknowledged_in_pagerduty_first_means_no_escalation(slack, pd, clock):
    from datetime import timedelta

    from tests.support.pagerduty import incident_data, post_webhook, webhook

    slack.command("declare Site is down sev1")
    clock.advance(minutes=5)
    post_webhook(slack, webhook("incident.acknowledged", incident_data("PINC101", status="acknowledged"),
                                occurred_at=clock() - timedelta(seconds=5)))
    clock.advance(minutes=30)
    slack.run_jobs()
    assert escalations(pd) == []


def test_sev3_gets_a_reminder_at_4_hours(slack, pd, clock):
    slack.command("declare Slow dashboard sev3")
    clock.advance(hours=3, minutes=59)
    slack.run_jobs()
    assert incident_posts(slack.recorder, "has not been acknowledged in 4 hours") == []
    clock.advance(minutes=1)
    slack.run_jobs()
    assert len(incident_posts(slack.recorder, "has not been acknowledged in 4 hours")) == 1
    assert pd.requests == []  # a SEV3 never pages by itself
    clock.advance(hours=8)
    slack.run_jobs()
    assert len(incident_posts(slack.recorder, "has not been acknowledged in 4 hours")) == 1


def test_raising_to_sev1_restarts_the_clock_from_the_raise(slack, pd, clock):
    slack.command("declare Slow dashboard sev3")
    clock.advance(hours=1)
    slack.command("sev 1", channel_id=CHANNEL)
    clock.advance(minutes=14)
    slack.run_jobs()
    assert escalations(pd) == []
    clock.advance(minutes=1)
    slack.run_jobs()
    assert escalations(pd) == [2]
    clock.advance(hours=4)
    slack.run_jobs()
    assert incident_posts(slack.recorder, "has not been acknowledged in 4 hours") == []  # the SEV3 reminder went away


def test_sev1_without_updates_is_nudged_and_each_update_rearms(slack, clock):
    slack.command("declare Site is down sev1")
    slack.command("ack", channel_id=CHANNEL)
    clock.advance(minutes=20)
    slack.command("update Rolled back, watching", channel_id=CHANNEL)
    clock.advance(minutes=29)
    slack.run_jobs()
    assert incident_posts(slack.recorder, "has had no status update") == []
    clock.advance(minutes=1)
    slack.run_jobs()
    nudges = [c for c in slack.recorder.of("chat.postMessage") if "has had no status update" in c.text()
              and c.data["channel"] == CHANNEL]
    assert len(nudges) == 1 and nudges[0].data["channel"] == CHANNEL
    actions = [e["action_id"].split("~")[0] for b in nudges[0].data["blocks"] for e in b.get("elements", [])
               if "action_id" in e]
    assert pd_clock.UPDATE_ACTION in actions and pd_clock.NO_CHANGE_ACTION in actions

    slack.press(pd_clock.NO_CHANGE_ACTION, "1", channel_id=CHANNEL)  # counts as an update
    assert "No change since the last update" in " ".join(c.text() for c in slack.recorder.of("chat.postMessage"))
    clock.advance(minutes=29)
    slack.run_jobs()
    assert len(incident_posts(slack.recorder, "has had no status update")) == 1
    # Nobody answers: three nudges, 30 minutes apart, then quiet until the next update.
    for _ in range(6):
        clock.advance(minutes=30)
        slack.run_jobs()
    texts = incident_posts(slack.recorder, "has had no status update")
    assert len(texts) == 4 and "stays quiet until the next update" in texts[-1]
    slack.press(pd_clock.UPDATE_ACTION, "1", channel_id=CHANNEL)
    assert "/incident update" in slack.reply_text()
    slack.command("resolve", channel_id=CHANNEL)
    slack.press(pd_clock.NO_CHANGE_ACTION, "1", channel_id=CHANNEL)  # an old nudge's button
    # the one "is resolved" answer, which says what to type to reopen it
    assert "#1 is resolved." in slack.reply_text() and "status investigating #1" in slack.reply_text()


def test_sev2_and_resolved_incidents_are_not_nudged(slack, clock):
    slack.command("declare Login broken sev2")
    slack.command("declare Site is down sev1")
    slack.command("resolve", channel_id="CINC0002")
    clock.advance(hours=3)
    slack.run_jobs()
    assert incident_posts(slack.recorder, "has had no status update") == []


def test_update_nudge_minutes_is_configurable(db_url, recorder, clock, pd):
    container = build(db_url, recorder, clock, update_nudge_minutes=10)
    with harness(container, recorder) as h:
        h.command("declare Site is down sev1")
        clock.advance(minutes=10)
        h.run_jobs()
        assert len(incident_posts(recorder, "has had no status update")) == 1
    container.engine.dispose()


def test_timers_survive_a_restart(db_url, recorder, clock, pd):
    first = build(db_url, recorder, clock, **REST_SETTINGS)
    install_clients(first)
    with harness(first, recorder) as h:
        h.command("declare Site is down sev1")
    first.engine.dispose()  # the process dies; the rows stay
    clock.advance(minutes=16)
    second = build(db_url, recorder, clock, **REST_SETTINGS)
    install_clients(second)
    jobs.run_due(second)
    assert escalations(pd) == [2]
    assert len(incident_posts(recorder, "is not acknowledged")) == 1
    second.engine.dispose()


def test_two_replicas_on_postgresql_fire_each_timer_once(recorder, clock, pd):
    if postgres_problem():
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    import uuid

    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        a = build(url, recorder, clock, **REST_SETTINGS)
        b = build(url, recorder, clock, **REST_SETTINGS, )
        for container in (a, b):
            install_clients(container)
        with harness(a, recorder) as h:
            for n in range(4):
                h.command(f"declare Outage {n} sev1")
        clock.advance(minutes=31)  # every ack deadline and every nudge is due
        barrier = threading.Barrier(4)
        ran: list[int] = []

        def worker(container):
            barrier.wait()
            ran.append(jobs.run_due(container))

        threads = [threading.Thread(target=worker, args=(c,)) for c in (a, b, a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        escalated = [r.url.path for r in pd.calls("PUT") if "escalation_level" in pd.body(r)["incident"]]
        assert sorted(escalated) == sorted(f"/incidents/PINC{101 + n}" for n in range(4))
        with Session(a.engine) as session:
            overdue = [e for n in range(1, 5) for e in svc.timeline(session, n) if e.kind == "ack_overdue"]
            nudged = [e for n in range(1, 5) for e in svc.timeline(session, n) if e.kind == "update_nudge"]
        assert len(overdue) == 4 and len(nudged) == 4
        assert len(incident_posts(recorder, "has had no status update")) == 4
        a.engine.dispose()
        b.engine.dispose()
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
