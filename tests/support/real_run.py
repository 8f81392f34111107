"""Incidents made the way people make them, for the tests of what a reader sees.

A "real run" goes through the front ends only: signed slash commands and button presses into the real
Bolt app (tests/support/harness.py), its queued jobs run as the worker would, Fly at the fake
(tests/support/fake_fly.py), PagerDuty at the scripted fake (tests/support/pagerduty.py). Declare,
acknowledge, `/restart` planned and confirmed and run against the fake fleet, paged (SEV1 and SEV2 page
on declare), a status update, a public status update published, monitoring, a follow-up, resolved (which
drafts the postmortem). Whatever the pages, the postmortem, App Home or `fireline report` then read is
what the service stored, in the shape it stores it, never rows written by hand in a shape a test guessed.

    with real_site(db_url, recorder, clock, fake_fly, pd) as slack:
        run = make_incident(slack, clock, "Checkout returns 502")
        make_incident(slack, clock, "Payroll export leaks salaries", private=True, playbook=False)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from sqlmodel import Session, col, select

from bot.store.models import Incident, StatusUpdate
from bot.features.status.service import publish_value
from tests.support.fake_fly import FakeFly
from tests.support.fly_fixtures import fly_container
from tests.support.harness import FakeClock, SlackHarness
from tests.support.pagerduty import REST_SETTINGS, FakePagerDuty, harness, install_clients
from tests.support.playbook_harness import newest_button

NAMES = {"U0LEAD": "Dana Lead", "U0CHEN": "Chen Li", "U0BEN": "Ben Ortiz", "U0AISHA": "Aisha Khan"}
WEB_SECRET = "real-run-web-session-secret-0123456789"
PUBLIC_TEXT = "Some checkout requests fail. We are on it."


@dataclass(frozen=True)
class RealRun:
    """One incident a real run made: its number and channel, and what was typed into it."""

    number: int
    channel: str  # the incident channel's Slack id (CINC...)
    title: str
    severity: int
    private: bool
    playbook: bool
    published: bool
    resolved: bool
    update: str
    followup: str
    summary: str


@contextlib.contextmanager
def real_site(db_url: str, recorder, clock: FakeClock, fake_fly: FakeFly, pd: FakePagerDuty,
              **overrides) -> Iterator[SlackHarness]:
    """The real Bolt app behind the real HTTP app (team pages and public status page included), wired to the
    fake Fly and PagerDuty, with U0LEAD a responder and people named as NAMES says. `.fake` is the fake Fly."""
    recorder.names.update(NAMES)
    settings = {**REST_SETTINGS, "web_session_secret": WEB_SECRET, "responders": "U0LEAD,U0AISHA", **overrides}
    container = fly_container(db_url, recorder, clock, fake_fly, **settings)
    install_clients(container)
    try:
        with harness(container, recorder) as slack:
            slack.fake = fake_fly  # type: ignore[attr-defined]
            yield slack
    finally:
        container.engine.dispose()


def _newest_incident(slack: SlackHarness) -> Incident:
    with Session(slack.container.engine) as session:
        incident = session.exec(select(Incident).order_by(col(Incident.id).desc())).first()
        assert incident is not None, "the declare stored no incident"
        session.expunge(incident)
    return incident


def make_incident(slack: SlackHarness, clock: FakeClock, title: str, *, severity: int = 1, private: bool = False,
                  playbook: bool = True, publish: bool = True, ack: bool = True, resolve: bool = True,
                  declarer: str = "U0LEAD", responder: str = "U0CHEN",
                  update: str = "Errors started with the 14:02 deploy; restarting the API machines",
                  summary: str = "Bad deploy; restarting the machines fixed it") -> RealRun:
    """Run one incident through the front ends, as a team would, the clock moving between steps.

    `declarer` declares (and, as a responder, confirms the restart and publishes); `responder` joins the
    channel (a private incident's member from then on) and acknowledges. `ack=False` stops after the
    declare. Returns what was made."""
    slack.command(f"declare {'--private ' if private else ''}{title} sev{severity}", user_id=declarer)
    incident = _newest_incident(slack)
    assert incident.title == title, f"declare did not store {title!r}: {slack.reply_text()}"
    channel = incident.channel_id or ""
    assert channel, f"no channel for #{incident.id}: {slack.recorder.methods()}"
    slack.event({"type": "member_joined_channel", "user": responder, "channel": channel,
                 "channel_type": "G" if private else "C"}, event_id=f"EvJoin{incident.id}")
    if not ack:  # declared and left alone: nobody on it yet
        clock.advance(minutes=5)
        return RealRun(incident.id, channel, title, severity, private, False, False, False, "", "", "")
    clock.advance(minutes=6)
    slack.command("ack", user_id=responder, channel_id=channel)
    if playbook:
        clock.advance(minutes=2)
        slack.command("", command="/restart", channel_id=channel, user_id=declarer)
        action_id, value = newest_button(slack.recorder, "Confirm")
        slack.press(action_id, value, user_id=declarer, channel_id=channel, action_ts=f"{incident.id}.1")
    clock.advance(minutes=2)
    slack.command(f"update {update}", user_id=responder, channel_id=channel)
    if publish:
        clock.advance(minutes=1)
        slack.command(f'statuspage API --text "{PUBLIC_TEXT}"', user_id=declarer, channel_id=channel)
        with Session(slack.container.engine) as session:
            draft = session.exec(select(StatusUpdate).where(StatusUpdate.incident_id == incident.id)
                                 .order_by(col(StatusUpdate.id).desc())).first()
        assert draft is not None, f"no status page draft: {slack.reply_text()}"
        slack.press("status_publish", publish_value(draft), user_id=declarer, channel_id=channel,
                    action_ts=f"{incident.id}.2")  # the value the draft's Publish button carries: id.revision
    clock.advance(minutes=9)
    slack.command("status monitoring", user_id=responder, channel_id=channel)
    followup = "Canary stage before every rollout"
    slack.command(f"followup {followup} <@U0BEN|ben>", user_id=declarer, channel_id=channel)
    if resolve:
        clock.advance(minutes=15)
        slack.command(f"resolve {summary}", user_id=declarer, channel_id=channel)
    clock.advance(minutes=5)
    return RealRun(incident.id, channel, title, severity, private, playbook, publish, resolve, update, followup,
                   summary if resolve else "")


def team_client(slack: SlackHarness, reader: str = "U0BEN"):
    """A TestClient on the same HTTP app, signed in to the team pages as `reader` (a session cookie)."""
    from starlette.testclient import TestClient

    from bot.adapters.web import auth

    client = TestClient(slack.client.app, raise_server_exceptions=False, follow_redirects=False)
    _, value = auth.new_session(slack.container.settings, reader, "T1", NAMES.get(reader, reader))
    client.cookies.set(auth.SESSION_COOKIE, value, path="/team")
    return client
