"""Paging and Fireline -> PagerDuty sync through the real Bolt app, against a scripted PagerDuty (respx)."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlmodel import Session, select

from bot.store.models import Job, TimelineEvent
from bot.store.models.pagerduty import PagerDutyLink
from bot.service import incidents as svc
from tests.support.pagerduty import (
    EVENTS_SETTINGS,
    REST_SETTINGS,
    ROUTING_KEY,
    SERVICE,
    TOKEN,
    build,
    harness,
    install_clients,
    rest_harness,
)

CHANNEL = "CINC0001"


def make(db_url, recorder, clock, settings=REST_SETTINGS, **overrides):
    container = build(db_url, recorder, clock, **settings, **overrides)
    install_clients(container)
    return container


@pytest.fixture
def rest_slack(db_url, recorder, clock, pd):
    with rest_harness(db_url, recorder, clock) as slack:
        yield slack


def timeline(container, incident_id=1) -> list[TimelineEvent]:
    with Session(container.engine) as session:
        return svc.timeline(session, incident_id)


def link(container, incident_id=1) -> PagerDutyLink | None:
    with Session(container.engine) as session:
        return session.get(PagerDutyLink, incident_id)


def posts(recorder, channel=None) -> list[str]:
    return [c.text() for c in recorder.of("chat.postMessage") if channel is None or c.data.get("channel") == channel]


def test_declaring_sev1_pages_once_with_our_incident_key(rest_slack, pd):
    rest_slack.command("declare Site is down for everyone sev1")
    created = pd.calls("POST", "/incidents")
    assert len(created) == 1
    body = pd.body(created[0])["incident"]
    row = link(rest_slack.container)
    assert body["incident_key"] == row.incident_key and row.incident_key.startswith("fireline-1-")
    assert (body["urgency"], body["service"]["id"]) == ("high", SERVICE)
    assert body["title"] == "[Fireline #1] SEV1: Site is down for everyone"
    assert body["escalation_policy"]["id"] == REST_SETTINGS["pagerduty_escalation_policy_id"]
    assert (row.pd_incident_id, row.number, row.status, row.assignees) == ("PINC101", 101, "triggered", ["Chen Li"])
    paged = [e for e in timeline(rest_slack.container) if e.kind == "paged"]
    assert len(paged) == 1 and "incident #101" in paged[0].text and "Chen Li" in paged[0].text
    assert any("PagerDuty for #1" in t and "#101" in t for t in posts(rest_slack.recorder, CHANNEL))
    updated_cards = [c.text() for c in rest_slack.recorder.of("chat.update")]
    assert any("PagerDuty" in t and "#101" in t and "triggered" in t for t in updated_cards)
    assert pd.violations == []

    # Asking again, raising again, or the job running twice never opens a second PagerDuty incident.
    rest_slack.command("page", channel_id=CHANNEL)
    assert "already paged" in rest_slack.reply_text()
    rest_slack.command("sev 2", channel_id=CHANNEL)
    rest_slack.command("sev 1", channel_id=CHANNEL)
    assert len(pd.calls("POST", "/incidents")) == 1
    assert len([e for e in timeline(rest_slack.container) if e.kind == "paged"]) == 1


def test_a_page_whose_answer_was_lost_is_found_by_its_key_not_opened_twice(rest_slack, pd, clock):
    # An earlier try opened the PagerDuty incident but its answer never arrived (say, a timeout).
    key = f"fireline-1-{int(clock().timestamp())}"
    pd.incidents["PINC900"] = {"id": "PINC900", "type": "incident", "incident_number": 900, "status": "triggered",
                               "incident_key": key, "html_url": "https://acme.pagerduty.com/incidents/PINC900",
                               "assignments": [], "escalation_level": 1}
    rest_slack.command("declare Site is down sev1")
    assert pd.calls("POST", "/incidents") == []
    assert pd.calls("GET", "/incidents")[0].url.params["incident_key"] == key
    assert (link(rest_slack.container).pd_incident_id, link(rest_slack.container).number) == ("PINC900", 900)


def test_sev3_pages_only_when_asked_and_raising_to_sev2_pages(rest_slack, pd):
    rest_slack.command("declare Slow dashboard for some users sev3")
    assert pd.calls("POST", "/incidents") == [] and link(rest_slack.container) is None
    rest_slack.command("sev 2", channel_id=CHANNEL)
    created = pd.calls("POST", "/incidents")
    assert len(created) == 1 and pd.body(created[0])["incident"]["urgency"] == "high"
    assert "raised to SEV2" in [e for e in timeline(rest_slack.container) if e.kind == "paged"][0].text


def test_page_asked_for_a_sev4_and_then_more_responders(rest_slack, pd):
    rest_slack.recorder.emails["U0MARC"] = "marcus@example.com"
    rest_slack.command("declare Typo on the pricing page sev4")
    assert pd.calls("POST", "/incidents") == []
    rest_slack.command("page", channel_id=CHANNEL)
    assert "Paging the on-call for #1" in rest_slack.reply_text()
    created = pd.calls("POST", "/incidents")
    assert len(created) == 1 and pd.body(created[0])["incident"]["urgency"] == "low"

    rest_slack.command("page <@U0MARC|marcus>", channel_id=CHANNEL)
    request = pd.responder_requests[-1]
    assert request["requester_id"] == "PBOT001"
    assert request["responder_request_targets"] == [
        {"responder_request_target": {"id": "PMARC01", "type": "user_reference"}}]
    rest_slack.command("page PENG999", channel_id=CHANNEL)
    assert pd.responder_requests[-1]["responder_request_targets"] == [
        {"responder_request_target": {"id": "PENG999", "type": "escalation_policy_reference"}}]
    texts = posts(rest_slack.recorder, CHANNEL)
    assert any("Asked PagerDuty to page <@U0MARC>" in t for t in texts)
    assert any("escalation policy PENG999" in t for t in texts)
    kinds = [e.kind for e in timeline(rest_slack.container)]
    assert kinds.count("responders_requested") == 2
    assert len(pd.calls("POST", "/incidents")) == 1

    rest_slack.command("page @nobody-here", channel_id=CHANNEL)
    assert any("Nobody was paged" in t and "nobody-here" in t for t in posts(rest_slack.recorder, CHANNEL))


def test_page_refuses_bad_targets_with_what_to_type(rest_slack, pd):
    rest_slack.command("declare Site is down sev1")
    rest_slack.command("page <!subteam^S123|oncall>", channel_id=CHANNEL)
    assert "neither a person nor a PagerDuty escalation policy id" in rest_slack.reply_text()
    rest_slack.command("page @a @b", channel_id=CHANNEL)
    assert "one person or one escalation policy at a time" in rest_slack.reply_text()
    rest_slack.command("page")
    assert "isn't an incident channel" in rest_slack.reply_text()


def test_ack_resolve_notes_and_updates_go_to_pagerduty(rest_slack, pd):
    rest_slack.command("declare Site is down sev1")
    rest_slack.command("note Saw resets from iad", channel_id=CHANNEL)
    rest_slack.command("update Rolled back; errors falling", channel_id=CHANNEL)
    rest_slack.command("ack", channel_id=CHANNEL)
    rest_slack.command("resolve Bad deploy", channel_id=CHANNEL)
    puts = [pd.body(r)["incident"] for r in pd.calls("PUT", "/incidents/PINC101")]
    assert [p["status"] for p in puts] == ["acknowledged", "resolved"]
    assert all(p["type"] == "incident_reference" for p in puts)
    contents = [content for _, content in pd.notes]
    assert "[Fireline] U0LEAD: Saw resets from iad" in contents
    assert "[Fireline] U0LEAD: Status update: Rolled back; errors falling" in contents
    assert link(rest_slack.container).status == "resolved"
    assert pd.violations == []


def test_severity_changes_and_reopening_follow_in_pagerduty(rest_slack, pd):
    rest_slack.command("declare Site is down sev1")
    rest_slack.command("sev 3", channel_id=CHANNEL)
    rest_slack.command("sev 2", channel_id=CHANNEL)
    rest_slack.command("sev 1", channel_id=CHANNEL)  # SEV2 -> SEV1: the urgency stays high, nothing to send
    rest_slack.command("resolve", channel_id=CHANNEL)
    rest_slack.command("status investigating", channel_id=CHANNEL)
    puts = [pd.body(r)["incident"] for r in pd.calls("PUT", "/incidents/PINC101")]
    assert [p.get("urgency") or p.get("status") for p in puts] == ["low", "high", "resolved", "triggered"]
    assert len(pd.calls("POST", "/incidents")) == 1 and link(rest_slack.container).status == "triggered"


def test_sync_failures_are_retried_then_said_in_the_channel(rest_slack, pd, clock):
    rest_slack.command("declare Site is down sev1")
    pd.fail_next = [httpx.Response(503, text="down")] * 4  # the client's own tries for one job run
    rest_slack.command("ack", channel_id=CHANNEL)
    warned = [t for t in posts(rest_slack.recorder, CHANNEL) if "Could not acknowledge the page" in t]
    assert len(warned) == 1 and "retries in 30 s" in warned[0] and "HTTP 503" in warned[0]
    assert link(rest_slack.container).status == "triggered"
    clock.advance(seconds=30)
    rest_slack.run_jobs()  # PagerDuty answers again
    assert link(rest_slack.container).status == "acknowledged"
    assert any("PagerDuty caught up for #1" in t for t in posts(rest_slack.recorder, CHANNEL))

    # A refusal is not retried, and it is said, never swallowed.
    pd.fail_next = [httpx.Response(403, json={"error": {"message": "Access Denied", "code": 2010}})]
    rest_slack.command("note something", channel_id=CHANNEL)
    failed = [e for e in timeline(rest_slack.container) if e.kind == "pagerduty_failed"]
    assert "does not allow Fireline to add a note" in failed[-1].text
    assert any("This is not retried" in t for t in posts(rest_slack.recorder, CHANNEL))


def test_a_page_that_keeps_failing_gives_up_and_says_so(rest_slack, pd, clock):
    pd.fail_next = [httpx.Response(500, text="boom")] * 100
    rest_slack.command("declare Site is down sev1")
    for wait in (30, 120, 300):
        clock.advance(seconds=wait)
        rest_slack.run_jobs()
    texts = [t for t in posts(rest_slack.recorder, CHANNEL) if "Could not page the on-call" in t]
    assert len(texts) == 2  # the first failure and the last, not every retry
    assert "retries in 30 s" in texts[0] and "gave up after 4 tries" in texts[1]
    assert [e.kind for e in timeline(rest_slack.container)].count("pagerduty_failed") == 4
    assert not any(e.kind == "paged" for e in timeline(rest_slack.container))


def test_rate_limit_is_waited_out_and_timeouts_retried(rest_slack, pd):
    sleeps = install_clients(rest_slack.container)
    pd.fail_next = [httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {"message": "Rate Limit"}}),
                    httpx.ReadTimeout("slow")]
    rest_slack.command("declare Site is down sev1")
    assert sleeps[0] == 3.0 and len(sleeps) == 2
    assert link(rest_slack.container).pd_incident_id == "PINC101"
    assert len(pd.calls("POST", "/incidents")) == 1


def test_events_api_mode_triggers_acks_and_resolves_by_dedup_key(db_url, recorder, clock, pd):
    container = make(db_url, recorder, clock, settings=EVENTS_SETTINGS)
    with harness(container, recorder) as slack:
        slack.command("declare Login broken for everyone sev2")
        slack.command("note not sent: the Events API has no notes", channel_id=CHANNEL)
        slack.command("page @someone", channel_id=CHANNEL)
        slack.command("ack", channel_id=CHANNEL)
        slack.command("resolve", channel_id=CHANNEL)
        slack.command("status investigating", channel_id=CHANNEL)  # reopened: the same key opens a new alert
        key = link(container).incident_key
        assert [(e["event_action"], e["dedup_key"]) for e in pd.events] == [
            ("trigger", key), ("acknowledge", key), ("resolve", key), ("trigger", key)]
        trigger = pd.events[0]
        assert trigger["routing_key"] == ROUTING_KEY and trigger["payload"]["severity"] == "error"
        assert trigger["payload"]["summary"].startswith("[Fireline #1] SEV2")
        assert any("Events API cannot add responders" in t for t in posts(recorder, CHANNEL))
        assert pd.calls("POST", "/incidents") == [] and pd.violations == []
    container.engine.dispose()


def test_dry_run_says_so_and_sends_nothing(db_url, recorder, clock, pd):
    container = build(db_url, recorder, clock)
    with harness(container, recorder) as slack:
        slack.command("declare Site is down sev1")
        assert any("PagerDuty" in c.text() and "dry-run: nobody was paged" in c.text()
                   for c in recorder.of("chat.update"))  # the card says so; no message in every channel
        assert not any("PagerDuty" in t for t in posts(recorder))
        assert [e.kind for e in timeline(container)] == ["declared"]
        slack.command("page @marcus", channel_id=CHANNEL)
        assert "Dry-run" in slack.reply_text()
        slack.command("ack", channel_id=CHANNEL)
        slack.command("note hello", channel_id=CHANNEL)
        slack.command("show", channel_id=CHANNEL)
        assert "PagerDuty" in slack.reply_text() and "dry-run" in slack.reply_text()
    assert pd.requests == []
    with Session(container.engine) as session:
        assert session.exec(select(Job).where(Job.kind == "pagerduty.sync")).all() == []
    container.engine.dispose()


def test_the_token_never_reaches_slack_or_the_timeline(rest_slack, pd):
    pd.fail_next = [httpx.Response(401, json={"error": {"message": "Unauthorized"}})]
    rest_slack.command("declare Site is down sev1")
    everything = json.dumps([c.data for c in rest_slack.recorder.calls])
    assert "Check PAGERDUTY_API_TOKEN" in everything
    assert TOKEN not in everything and TOKEN not in json.dumps([e.text for e in timeline(rest_slack.container)])
