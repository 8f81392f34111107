"""The on-call handoff digest at each PagerDuty shift change: to the incoming and outgoing on-call, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from bot.store.models import Alert, Job, PlaybookExecution, Postmortem
from bot.features.pagerduty import handoff, oncall
from bot.service import jobs
from tests.support.pagerduty import REST_SETTINGS, build, install_clients, rest_harness

BOUNDARY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # the end of Chen's shift in the scripted PagerDuty


@pytest.fixture
def slack(db_url, recorder, clock, pd):
    with rest_harness(db_url, recorder, clock) as h:
        yield h


def _refresh(container) -> None:
    with Session(container.engine) as session:
        oncall.request_refresh(container, session)
        session.commit()
    jobs.run_due(container, kinds=[oncall.REFRESH_JOB])


def _record(slack, clock) -> None:
    slack.command("declare Search is slow sev3")
    slack.command("declare Old outage sev3")
    slack.command("resolve fixed", channel_id="CINC0002")
    with Session(slack.container.engine) as session:
        now = clock()
        row = session.exec(select(Postmortem).where(Postmortem.incident_id == 2)).first() or Postmortem(incident_id=2)
        row.due_at = now + timedelta(hours=48)  # a SEV3 owes none by default: this one was made to
        session.add(row)
        session.add(Alert(source="alertmanager", dedup_key="a1", title="Disk 91% on db-1", level=3,
                          first_seen_at=now, last_seen_at=now, count=3))
        session.add(Alert(source="alertmanager", dedup_key="a2", title="Dismissed one", level=3, status="dismissed",
                          first_seen_at=now, last_seen_at=now))
        session.add(PlaybookExecution(playbook="scale", app="checkout-api", incident_id=1, status="running",
                                      nonce="n", proposed_by="U0LEAD", started_at=now))
        session.commit()


def _shift_changes(pd) -> None:
    pd.oncalls[0] = {**pd.oncalls[0], "user": {"id": "PMARC01", "name": "Marcus Webb", "type": "user_reference",
                                               "summary": "Marcus Webb", "email": "marcus@example.com"},
                     "start": "2026-11-30T09:00:00Z", "end": "2026-12-07T09:00:00Z"}


def handoff_jobs(container) -> list[Job]:
    with Session(container.engine) as session:
        return list(session.exec(select(Job).where(Job.kind == handoff.HANDOFF_JOB)).all())


def test_digest_goes_to_both_on_call_once_across_replicas(slack, pd, clock, db_url, recorder):
    pd.oncalls[0]["user"]["email"] = "chen@example.com"
    slack.recorder.emails.update({"U0CHEN": "chen@example.com", "U0MARC": "marcus@example.com"})
    _record(slack, clock)
    other = build(db_url, recorder, clock, **REST_SETTINGS)  # a second replica
    install_clients(other)
    try:
        _refresh(slack.container)
        clock.advance(minutes=5)
        _refresh(other)  # another refresh (another replica) arms the same boundary
        [job] = handoff_jobs(slack.container)
        assert job.status == "pending" and job.run_at.replace(tzinfo=UTC) == BOUNDARY
        _shift_changes(pd)
        clock.now = BOUNDARY + timedelta(seconds=30)
        slack.recorder.reset()
        jobs.run_due(other)
        jobs.run_due(slack.container)
    finally:
        other.engine.dispose()
    dms = [c for c in slack.recorder.of("chat.postMessage") if "On-call handoff" in c.text()]
    assert sorted(c.data["channel"] for c in dms) == ["U0CHEN", "U0MARC"]
    text = dms[0].text()
    assert "Primary rotation" in text and "Chen Li -> Marcus Webb" in text
    assert "Open incidents* (1)" in text and "Search is slow" in text and "Old outage" in text  # due postmortem
    assert "Disk 91% on db-1" in text and "seen 3 times" in text and "Dismissed one" not in text
    assert "scale on checkout-api (running, #1" in text
    assert "Postmortems due* (1)" in text and "#2 Old outage" in text
    assert [j.status for j in handoff_jobs(slack.container)] == ["done"]


def test_handoff_channel_gets_one_post(db_url, recorder, clock, pd):
    with rest_harness(db_url, recorder, clock, handoff_channel="#oncall") as slack:
        _refresh(slack.container)
        _shift_changes(pd)
        clock.now = BOUNDARY + timedelta(seconds=1)
        jobs.run_due(slack.container)
        posts = [c for c in slack.recorder.of("chat.postMessage") if "On-call handoff" in c.text()]
        assert [c.data["channel"] for c in posts] == ["#oncall"]
        text = posts[0].text()
        assert "Open incidents* (0): none" in text and "Running mitigations* (0): none" in text


def test_no_slack_user_found_posts_in_incidents(slack, pd, clock):
    _refresh(slack.container)
    _shift_changes(pd)
    clock.now = BOUNDARY + timedelta(seconds=1)
    slack.run_jobs()
    posts = [c for c in slack.recorder.of("chat.postMessage") if "On-call handoff" in c.text()]
    assert [c.data["channel"] for c in posts] == ["#incidents"]
