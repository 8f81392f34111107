"""Channel lifecycle: after resolution and `/postmortem done`, the incident channel is archived after
ARCHIVE_AFTER_DAYS, announced a day before, cancelled by any person's message; durable timers, once."""

from __future__ import annotations

import io

import pytest
from sqlmodel import Session, select

from bot.adapters.console import Console
from bot.store.models import Job, TimelineEvent
from bot.service import jobs
from tests.support.factories import make_container
from tests.support.harness import SlackHarness

LINK = "https://wiki.example.com/postmortems/1"


def kinds(container) -> list[str]:
    with Session(container.engine) as session:
        return [e.kind for e in session.exec(select(TimelineEvent).order_by(TimelineEvent.id)).all()]


def _done(slack: SlackHarness, clock) -> None:
    slack.command("declare Checkout returns 502 sev3")
    slack.command("resolve bad deploy", channel_id="CINC0001")
    slack.command(f"done {LINK}", command="/postmortem", channel_id="CINC0001")


def test_archives_after_the_days_announced_a_day_before_once(slack, clock):
    _done(slack, clock)
    assert "will be archived on" in " ".join(c.text() for c in slack.recorder.of("chat.postMessage"))
    clock.advance(days=5, hours=23)
    slack.run_jobs()
    assert "archive_announced" not in kinds(slack.container)
    clock.advance(hours=1, minutes=1)
    slack.run_jobs()
    assert kinds(slack.container).count("archive_announced") == 1
    assert "Write anything here to keep it open" in slack.recorder.of("chat.postMessage")[-1].text()
    assert not slack.recorder.of("conversations.archive")
    # Fireline's own announcement (a bot message event) does not cancel it
    slack.event({"type": "message", "channel": "CINC0001", "bot_id": "BBOT", "subtype": "bot_message",
                 "text": "This channel will be archived", "ts": "1700000100.000100"}, event_id="EvBot")
    clock.advance(days=1)
    slack.run_jobs()
    slack.run_jobs()  # a second worker pass (another replica) archives nothing more
    assert [c.data["channel"] for c in slack.recorder.of("conversations.archive")] == ["CINC0001"]
    assert kinds(slack.container).count("channel_archived") == 1


def test_a_persons_message_cancels_it(slack, clock):
    _done(slack, clock)
    clock.advance(days=6, minutes=1)
    slack.run_jobs()
    slack.event({"type": "message", "channel": "CINC0001", "user": "U0CHEN", "text": "one more thing",
                 "ts": "1700000200.000100"}, event_id="EvPerson")
    assert "archive_cancelled" in kinds(slack.container)
    assert "cancelled" in slack.recorder.of("chat.postMessage")[-1].text()
    clock.advance(days=2)
    slack.run_jobs()
    assert not slack.recorder.of("conversations.archive")
    with Session(slack.container.engine) as session:
        statuses = {j.dedup_key: j.status for j in session.exec(select(Job)).all() if (j.dedup_key or "")
                    .startswith("archive:")}
    assert set(statuses.values()) <= {"cancelled", "done"} and "cancelled" in statuses.values()
    # a message in a channel with nothing pending changes nothing
    slack.event({"type": "message", "channel": "CINC0001", "user": "U0CHEN", "text": "again",
                 "ts": "1700000300.000100"}, event_id="EvAgain")
    assert kinds(slack.container).count("archive_cancelled") == 1


def test_reopened_incident_keeps_its_channel(slack, clock):
    _done(slack, clock)
    slack.command("status investigating", channel_id="CINC0001")
    clock.advance(days=8)
    slack.run_jobs()
    assert not slack.recorder.of("conversations.archive")


@pytest.mark.parametrize("days", [0])
def test_zero_days_never_archives(sqlite_url, recorder, clock, days):
    container = make_container(sqlite_url, recorder, archive_after_days=days, clock=clock)
    try:
        console = Console(container, io.StringIO())
        for line in ("/incident declare Search slow sev3", "/incident resolve fixed",
                     f"/postmortem done {LINK}"):
            console.run_line(line)
        with Session(container.engine) as session:
            assert not [j for j in session.exec(select(Job)).all() if (j.dedup_key or "").startswith("archive:")]
    finally:
        container.engine.dispose()


def test_console_say_cancels_and_archive_prints(sqlite_container, clock):
    out = io.StringIO()
    console = Console(sqlite_container, out)
    for line in ("/incident declare Search slow sev3", "/incident resolve fixed", f"/postmortem done {LINK}"):
        console.run_line(line)
    assert "will be archived on" in out.getvalue()
    console.run_line(":say still looking at the index")
    assert "Archiving this channel is cancelled" in out.getvalue()
    console.run_line(f"/postmortem done {LINK}")  # scheduled again
    clock.advance(days=7, minutes=1)
    jobs.run_due(sqlite_container)
    jobs.run_due(sqlite_container)
    assert out.getvalue().count("* archived channel #inc-1-search-slow") == 1
