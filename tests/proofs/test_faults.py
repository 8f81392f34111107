"""Slack and Fly answering 429, 5xx or not at all: retried within bounds, then surfaced, never swallowed.

Slack through the real Bolt app (signed requests) with the recording server failing on purpose; Fly
through a real rolling restart against the loopback fake. Nobody really waits: the retry sleeps are
recorded instead. (PagerDuty's client has the same rules, tested in tests/clients/test_pagerduty.py:
Retry-After honoured and bounded, 5xx retried a bounded number of times, timeouts repeated only when
repeating is harmless, every failure a sentence.)
"""

from __future__ import annotations

import logging

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from bot.store.models import Incident
from bot.adapters.http.server import build_http_app
from bot.adapters.slack.bolt import build_bolt_app
from bot.adapters.slack.slack_chat import make_web_client, retry_after
from tests.support.factories import make_container
from tests.support.harness import SlackHarness
from tests.support.playbook_harness import executions, newest_button

M1, M2, M3, M4 = "m1aaaaaaaaaaaa", "m2bbbbbbbbbbbb", "m3cccccccccccc", "m4dddddddddddd"


@pytest.fixture
def flaky_slack(db_url, recorder, clock):
    """The Slack harness with a Web API client whose retry sleeps are recorded and whose timeout is short."""
    container = make_container(db_url, recorder, clock=clock)
    sleeps: list[float] = []
    client = make_web_client(container.settings, timeout=0.5, sleep=sleeps.append)
    with TestClient(build_http_app(container, build_bolt_app(container, client=client)),
                    raise_server_exceptions=False) as http:
        harness = SlackHarness(container, recorder, http)
        harness.sleeps = sleeps  # type: ignore[attr-defined]
        yield harness
    container.engine.dispose()


def stored_incidents(container) -> list[Incident]:
    with Session(container.engine) as session:
        return list(session.exec(select(Incident)).all())


def card_posts(recorder, channel: str) -> list:
    return [c for c in recorder.of("chat.postMessage") if c.data.get("channel") == channel]


# -- Slack ---------------------------------------------------------------------------------------------------
def test_slack_429_waits_what_retry_after_says_then_posts(flaky_slack):
    slack = flaky_slack
    slack.recorder.retry_after = "2"
    slack.recorder.http_status("chat.postMessage", 429, 429)
    slack.command("declare Checkout returns 502 sev1")
    assert slack.sleeps == [2.0, 2.0]
    # The two cards are posted side by side, so the two 429s may fall on either: two refused, then
    # each card posted (one attempt more than cards in all).
    channel, main = card_posts(slack.recorder, "CINC0001"), card_posts(slack.recorder, "#incidents")
    assert len(channel) + len(main) == 4 and channel and main
    assert "could not" not in slack.reply_text()


def test_slack_retry_after_beyond_the_bound_fails_at_once_and_the_user_is_told(flaky_slack, caplog):
    slack = flaky_slack
    slack.recorder.retry_after = "3600"
    slack.recorder.http_status("chat.postMessage", 429)
    with caplog.at_level(logging.WARNING):
        slack.command("declare Checkout returns 502 sev1")
    assert slack.sleeps == []  # no worker held for an hour
    # The cards go side by side: the one 429 falls on either, which is then not tried again.
    assert len(card_posts(slack.recorder, "CINC0001")) == 1 and len(card_posts(slack.recorder, "#incidents")) == 1
    reply = slack.reply_text()
    failed = [where for where in ("CINC0001", "incidents") if f"could not post the card in {where}" in reply]
    assert len(failed) == 1 and "rate limited (HTTP 429)" in reply
    assert "Slack asked to wait 3600 s" in caplog.text
    assert len(stored_incidents(slack.container)) == 1  # the incident stands


def test_slack_5xx_is_retried_a_bounded_number_of_times_then_surfaced(flaky_slack):
    slack = flaky_slack
    slack.recorder.http_status("chat.postMessage", 500, 502, 503, 503, 503, 503)
    slack.command("declare Checkout returns 502 sev1")
    assert len(card_posts(slack.recorder, "CINC0001")) == 3 and len(card_posts(slack.recorder, "#incidents")) == 3
    assert sorted(slack.sleeps) == [0.5, 0.5, 1.0, 1.0]  # each card's backoff: 0.5 then 1 s (side by side)
    reply = slack.reply_text()
    assert "could not post the card in CINC0001 (Slack refused chat.postMessage: HTTP 503)" in reply
    assert "could not post the card in incidents" in reply
    assert len(stored_incidents(slack.container)) == 1


def test_slack_timeout_is_reported_and_not_repeated(flaky_slack):
    slack = flaky_slack
    slack.recorder.delays["conversations.create"] = 2.0
    slack.command("declare Checkout returns 502 sev1")
    assert len(slack.recorder.of("conversations.create")) == 1  # it may have acted: not sent again
    reply = slack.reply_text()
    assert "could not create the incident channel (Slack did not answer conversations.create in time" in reply
    assert [c.data["channel"] for c in slack.recorder.of("chat.postMessage")] == ["#incidents"]


def test_response_url_failing_falls_back_to_a_message_only_the_person_sees(flaky_slack, caplog):
    slack = flaky_slack
    slack.recorder.response_codes = [500, 500, 500]
    with caplog.at_level(logging.WARNING):
        slack.command("list", user_id="U0AISHA", channel_id="COPS")
    assert len(slack.recorder.responses()) == 3  # response_url retried within bounds
    [ephemeral] = slack.recorder.of("chat.postEphemeral")
    assert ephemeral.data["user"] == "U0AISHA" and ephemeral.data["channel"] == "COPS"
    assert "open incident" in ephemeral.text().lower()
    assert "could not answer through response_url (HTTP 500)" in caplog.text


def test_retry_after_accepts_seconds_and_dates():
    from datetime import UTC, datetime

    now = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    assert retry_after({"Retry-After": ["7"]}) == 7.0
    assert retry_after({"retry-after": "Wed, 25 Nov 2026 14:00:30 GMT"}, now) == 30.0
    assert retry_after({"Retry-After": ["soon"]}) is None and retry_after({}) is None


# -- Fly, through a rolling restart -------------------------------------------------------------------------
def confirm(slack) -> None:
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, action_ts="1.1")


def outcome_text(slack) -> str:
    return slack.recorder.of("chat.postMessage")[-1].text()


def test_fly_5xx_is_retried_within_bounds_then_the_restart_stops_and_says_why(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.script("POST", f"{M1}/restart$", *[(503, {"error": "flyd is restarting"})] * 4)
    slack.command("", command="/restart")
    confirm(slack)
    [execution] = executions(slack.container)
    assert execution.status == "failed"
    assert len(fake.calls("POST", f"{M1}/restart$")) == 4  # the first try and 3 retries
    assert slack.container.knobs.sleeps == [0.5, 1.0, 2.0]
    text = outcome_text(slack)
    assert "answered 503 (after 4 attempts): flyd is restarting" in text and "status.flyio.net" in text
    assert f"Not restarted: {M3}, {M2}, {M4}" in text
    assert not fake.calls("POST", f"{M3}/") and fake.calls("DELETE", f"{M1}/lease$")  # stopped, lease released


def test_fly_retry_after_beyond_the_bound_stops_at_once(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.script("POST", f"{M1}/restart$", (429, {"error": "rate limited"}, {"Retry-After": "600"}))
    slack.command("", command="/restart")
    confirm(slack)
    [execution] = executions(slack.container)
    assert execution.status == "failed" and len(fake.calls("POST", f"{M1}/restart$")) == 1
    assert slack.container.knobs.sleeps == []
    assert "Fly asked to wait 600 s before retrying (Retry-After)" in outcome_text(slack)


def test_fly_not_answering_in_time_is_retried_then_reported(fly_slack):
    import threading

    slack, fake = fly_slack, fly_slack.fake
    slack.container.knobs.fly_timeout = 0.3
    answer, gone = fake.handle, threading.Event()
    attempts: list[str] = []  # counted on arrival: the fake records a call only once it has answered

    def slow(method, path, query, body, headers):
        if method == "POST" and path.endswith(f"{M1}/restart"):
            attempts.append(path)
            gone.wait(1.0)  # longer than the client waits
        return answer(method, path, query, body, headers)

    fake.handle = slow
    slack.command("", command="/restart")
    confirm(slack)
    gone.set()
    [execution] = executions(slack.container)
    assert execution.status == "failed"
    assert len(attempts) == 4  # the first try and 3 retries
    text = outcome_text(slack)
    assert "Fly Machines API did not answer in time" in text and "after 4 attempts" in text
    assert "fly-test-token" not in text
