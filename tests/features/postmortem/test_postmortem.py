"""Postmortem drafting through the real Bolt app, on SQLite and PostgreSQL, with an injected clock."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.store.models import FollowUp, Incident, Job, Postmortem, TimelineEvent
from bot.service import incidents as svc

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "postmortem_golden.md"
CHANNEL = "CINC0001"


def ts_at(hour: int, minute: int, second: int = 0) -> str:
    """A Slack message ts on the test day (2026-11-25, UTC)."""
    return f"{int(datetime(2026, 11, 25, hour, minute, second, tzinfo=UTC).timestamp())}.000100"


def timeline(container, incident_id: int = 1) -> list[TimelineEvent]:
    with Session(container.engine) as session:
        return svc.timeline(session, incident_id)


def stored(container, incident_id: int = 1) -> Postmortem | None:
    with Session(container.engine) as session:
        return session.exec(select(Postmortem).where(Postmortem.incident_id == incident_id)).first()


def pending_jobs(container, kind: str) -> list[Job]:
    with Session(container.engine) as session:
        return list(session.exec(select(Job).where(Job.kind == kind, Job.status == "pending")).all())


def pin(slack, ts: str, user: str, event_id: str, channel: str = CHANNEL):
    return slack.event({"type": "reaction_added", "user": user, "reaction": "pushpin", "item_user": "U0AISHA",
                        "item": {"type": "message", "channel": channel, "ts": ts}, "event_ts": "1.1"},
                       event_id=event_id)


def playbook_event(container, clock, kind: str, text: str, data: dict) -> None:
    """What the playbook framework (bot/features/playbooks/executions.py) writes to the timeline for a run."""
    with Session(container.engine) as session:
        incident = session.get(Incident, 1)
        svc.record(session, incident, kind, "U0CHEN", text, {"execution_id": 1, "playbook": "restart",
                                                               "dry_run": False, **data}, at=clock())
        session.commit()


def uploads(slack) -> list[str]:
    return [call.data["content"] for call in slack.recorder.of("file_upload")]


def run_scripted_incident(slack, clock) -> None:
    """Declare, acknowledge, pins (one pinned twice, one thread reply), a backdated event, a restart,
    monitoring, a severity change, follow-ups, resolve."""
    rec = slack.recorder
    slack.command("declare Checkout returns 502 sev1")
    rec.add_message(CHANNEL, ts_at(14, 2, 30), "502s everywhere since the v42 deploy, see "
                    "<https://grafana.example.com/d/abc?from=now-1h&amp;to=now|the dashboard> cc <@U0CHEN>",
                    user="U0AISHA", thread_ts=ts_at(14, 2, 30))
    rec.add_message(CHANNEL, ts_at(14, 6, 10), "restart helped | error rate back to 0.1%\nwatching it",
                    user="U0MARCUS", thread_ts=ts_at(14, 2, 30))
    rec.add_message(CHANNEL, ts_at(14, 1, 0), "not pinned", user="U0AISHA")
    clock.advance(minutes=3)
    slack.command("ack", user_id="U0CHEN", channel_id=CHANNEL)
    clock.advance(minutes=1)
    pin(slack, ts_at(14, 2, 30), "U0CHEN", "EvPin1")
    clock.advance(minutes=1)
    pin(slack, ts_at(14, 2, 30), "U0LEAD", "EvPin2")  # the same message, pinned again
    clock.advance(minutes=2)
    pin(slack, ts_at(14, 6, 10), "U0LEAD", "EvPin3")  # a reply in the thread
    clock.advance(minutes=1)
    slack.command("timeline 13:58 Deploy v42 finished rolling out", channel_id=CHANNEL)
    clock.advance(minutes=1)
    playbook_event(slack.container, clock, "playbook_confirmed",
                   "Confirmed: Restart 3 machines of checkout-api (execution 1)",
                   {"steps": [{"title": "Restart 3d8d (iad)", "status": "planned", "summary": ""}]})
    clock.advance(minutes=1)
    playbook_event(slack.container, clock, "playbook_finished", "Restarted 3 of 3 machines; health check passing",
                   {"status": "succeeded", "steps": [
                       {"title": "Restart 3d8d (iad)", "status": "done", "summary": "healthy after 12s"},
                       {"title": "Restart 9e2a (iad)", "status": "done", "summary": "healthy after 15s"},
                       {"title": "Restart 1f7c (ams) | last", "status": "done", "summary": ""}]})
    clock.advance(minutes=2)
    slack.command("status monitoring", user_id="U0CHEN", channel_id=CHANNEL)
    clock.advance(minutes=3)
    slack.command("sev 2", channel_id=CHANNEL)
    clock.advance(minutes=5)
    slack.command("followup Add a canary stage before full rollout <@U0AISHA|aisha>", channel_id=CHANNEL)
    slack.command("followup Alert on the 502 rate, not only on health checks", channel_id=CHANNEL)
    clock.advance(minutes=20)
    slack.command("resolve v42 crashed on boot; restarting onto v41 fixed it", channel_id=CHANNEL)


def test_golden_postmortem_for_a_scripted_incident(slack, clock):
    run_scripted_incident(slack, clock)
    row = stored(slack.container)
    assert row is not None and row.markdown
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(row.markdown, encoding="utf-8")
    assert row.markdown == GOLDEN.read_text(encoding="utf-8")
    # posted once, as a file in the incident channel, after a message that says what to do with it
    assert uploads(slack) == [row.markdown]
    [complete] = slack.recorder.of("files.completeUploadExternal")
    assert complete.data["channel_id"] == CHANNEL
    intro = [c for c in slack.recorder.of("chat.postMessage") if "Postmortem draft for #1" in c.text()]
    assert [c.data["channel"] for c in intro] == [CHANNEL]
    assert "Due 2026-11-27 14:40 UTC" in intro[0].text() and "<@U0LEAD> gets a reminder" in intro[0].text()
    # stored with the clock's time and the due date; the reminder is a pending timer 24 h before it
    assert row.generated_at.replace(tzinfo=None) == datetime(2026, 11, 25, 14, 40)
    assert row.due_at.replace(tzinfo=None) == datetime(2026, 11, 27, 14, 40)
    [reminder] = pending_jobs(slack.container, "postmortem.reminder")
    assert reminder.run_at.replace(tzinfo=None) == datetime(2026, 11, 26, 14, 40)


def test_pins_keep_the_message_time_and_author_and_count_once(slack, clock):
    run_scripted_incident(slack, clock)
    pins = [e for e in timeline(slack.container) if e.kind == "pinned"]
    assert [(e.actor, e.at.replace(tzinfo=None), e.data["pinned_by"]) for e in pins] == [
        ("U0AISHA", datetime(2026, 11, 25, 14, 2, 30), "U0CHEN"),
        ("U0MARCUS", datetime(2026, 11, 25, 14, 6, 10), "U0LEAD")]
    assert pins[1].data["thread_ts"] == ts_at(14, 2, 30)
    ephemeral = [c.text() for c in slack.recorder.of("chat.postEphemeral")]
    assert sum("Added to the timeline of #1" in text for text in ephemeral) == 2
    assert sum("already in the timeline of #1" in text for text in ephemeral) == 1
    # the duplicate was answered from the database: Slack was asked for the message only for new pins
    assert len(slack.recorder.of("conversations.history")) == 2
    assert len(slack.recorder.of("conversations.replies")) == 1


def test_pin_replayed_concurrently_is_still_one_event(slack):
    """Two workers may both fetch before either records; the timeline's dedup key keeps one."""
    from bot.service.pins import SlackMessage, record_pin

    slack.command("declare Site is down sev1")
    message = SlackMessage(CHANNEL, ts_at(14, 1), "U0AISHA", "it's down")
    assert record_pin(slack.container, 1, message, "U0CHEN") is not None
    assert record_pin(slack.container, 1, message, "U0LEAD") is None
    assert [e.kind for e in timeline(slack.container)].count("pinned") == 1


def test_pins_elsewhere_or_unreadable_are_not_recorded(slack):
    slack.command("declare Site is down sev1")
    slack.recorder.add_message("CGENERAL", ts_at(14, 1), "chatter")
    pin(slack, ts_at(14, 1), "U0CHEN", "EvA", channel="CGENERAL")
    assert slack.recorder.of("conversations.history") == []  # not an incident channel: not even read
    slack.event({"type": "reaction_added", "user": "U0CHEN", "reaction": "eyes",
                 "item": {"type": "message", "channel": CHANNEL, "ts": ts_at(14, 1)}}, event_id="EvB")
    slack.recorder.fail("conversations.history", "missing_scope")
    pin(slack, ts_at(14, 1), "U0CHEN", "EvC")
    pin(slack, ts_at(14, 2), "U0CHEN", "EvD")  # no such message
    assert [e.kind for e in timeline(slack.container)] == ["declared"]
    texts = [c.text() for c in slack.recorder.of("chat.postEphemeral")]
    assert any("missing_scope" in t and "/incident timeline" in t for t in texts)
    assert any("could not find that message" in t for t in texts)


@pytest.mark.parametrize("typed, expected", [
    ("14:05 Deploy finished", datetime(2026, 11, 25, 14, 5)),
    ("14:05 UTC Deploy finished", datetime(2026, 11, 25, 14, 5)),
    ("2026-11-25 13:05:30 Deploy finished", datetime(2026, 11, 25, 13, 5, 30)),
    ("-20m Deploy finished", datetime(2026, 11, 25, 14, 10)),
    ("-1h30m Deploy finished", datetime(2026, 11, 25, 13, 0)),
])
def test_timeline_adds_remembered_events_at_their_time(slack, clock, typed, expected):
    slack.command("declare Site is down sev1")
    clock.advance(minutes=30)
    slack.command(f"timeline {typed}", user_id="U0CHEN", channel_id=CHANNEL)
    [event] = [e for e in timeline(slack.container) if e.kind == "timeline"]
    assert (event.kind, event.text, event.actor) == ("timeline", "Deploy finished", "U0CHEN")
    assert event.at.replace(tzinfo=None) == expected
    assert event.data["recorded_at"].startswith("2026-11-25T14:30")
    assert "Added to the timeline of #1" in slack.reply_text()


@pytest.mark.parametrize("typed, expected", [
    ("yesterday Deploy", "`yesterday` is not a time"),
    ("25:00 Deploy", "`25:00` is not a time"),
    ("15:00 Deploy", None),  # later than now: yesterday, accepted
    ("2026-11-26 09:00 Deploy", "is in the future"),
    ("14:05 PST Deploy", "does not convert `PST`"),
    ("14:05", "Say what happened"),
    ("", "Say when it happened"),
])
def test_timeline_bad_times_say_what_to_type(slack, typed, expected):
    slack.command("declare Site is down sev1")
    slack.command(f"timeline {typed}", channel_id=CHANNEL)
    text = slack.reply_text()
    if expected is None:
        assert "Added to the timeline" in text and "2026-11-24 15:00:00" in text
        return
    assert expected in text, text
    assert "/incident timeline 14:05 Deploy v42 finished" in text  # an example of what works
    assert [e.kind for e in timeline(slack.container)] == ["declared"]


def test_followups_with_owners_list_and_done(slack):
    slack.command("declare Site is down sev1")
    slack.command("followup Add a canary stage <@U0AISHA|aisha>", channel_id=CHANNEL)
    assert "Follow-up 1 for #1: Add a canary stage, owner <@U0AISHA>" in slack.reply_text()
    slack.command("followup Page on 502s", channel_id=CHANNEL)
    assert "No owner yet" in slack.reply_text()
    slack.command("followup", channel_id=CHANNEL)
    assert "Say what should be done" in slack.reply_text()
    slack.command("followups done 2", channel_id=CHANNEL)
    slack.command("followups done 9", channel_id=CHANNEL)
    assert "no follow-up 9" in slack.reply_text()
    slack.command("followups", channel_id=CHANNEL)
    listing = slack.reply_text()
    assert "(1 open)" in listing and "1. [open] Add a canary stage: <@U0AISHA>" in listing
    assert "2. [done] Page on 502s: no owner" in listing
    with Session(slack.container.engine) as session:
        rows = session.exec(select(FollowUp).order_by(FollowUp.id)).all()
    assert [(r.text, r.owner, r.status, r.created_by) for r in rows] == [
        ("Add a canary stage", "U0AISHA", "open", "U0LEAD"), ("Page on 502s", None, "done", "U0LEAD")]


def test_template_override_is_used(slack, clock, tmp_path):
    template = tmp_path / "pm.md.j2"
    template.write_text("# {{ title }} ({{ peak_severity }})\n{% for e in timeline %}{{ e.offset }} {{ e.actor }} "
                        "{{ e.text }}\n{% endfor %}Owner: {{ lead }} {{ todo('lessons') }}\n")
    slack.container.settings.postmortem_template = str(template)
    slack.command("declare Site is down sev1")
    clock.advance(minutes=7)
    slack.command("resolve", channel_id=CHANNEL)
    assert stored(slack.container).markdown == (
        "# Site is down (SEV1 (Complete outage))\n"
        "T+00:00 @U0LEAD Declared as SEV1 (Complete outage, respond < 15 min): Site is down\n"
        "T+00:07 @U0LEAD Resolved after 7m\n"
        "Owner: @U0LEAD _TODO: lessons_\n")
    assert stored(slack.container).warning is None


@pytest.mark.parametrize("source, expected", [
    ("# {{ title }\n", "line 1: TemplateSyntaxError"),
    ("# ok\n\n{{ no_such_thing }}\n", "line 3: UndefinedError: 'no_such_thing' is undefined"),
    ("{% for e in timeline %}{{ e.at.nope }}{% endfor %}", "UndefinedError"),
    (None, "cannot be read"),
])
def test_broken_template_says_why_and_falls_back_to_the_default(slack, clock, tmp_path, source, expected):
    template = tmp_path / "broken.md.j2"
    if source is not None:
        template.write_text(source)
    slack.container.settings.postmortem_template = str(template)
    slack.command("declare Site is down sev1")
    slack.command("resolve", channel_id=CHANNEL)
    row = stored(slack.container)
    assert row.markdown.startswith("# Postmortem: #1 Site is down")  # the default template
    assert str(template) in row.warning and expected in row.warning and "Used the default template" in row.warning
    intro = [c.text() for c in slack.recorder.of("chat.postMessage") if "Postmortem draft for #1" in c.text()]
    assert expected in intro[0]
    slack.command("", command="/postmortem", channel_id=CHANNEL)
    assert expected in slack.reply_text()

    from bot.core.check import run_checks

    [status] = [s for s in run_checks(slack.container.settings, slack.container.registry) if s.name == "postmortem"]
    assert status.state == "error" and expected in status.detail


def test_reminder_goes_to_the_lead_24h_before_due_once(slack, clock):
    slack.command("declare Site is down sev1")
    slack.command("lead <@U0CHEN|chen>", channel_id=CHANNEL)
    clock.advance(minutes=30)
    slack.command("resolve", channel_id=CHANNEL)
    clock.advance(hours=23, minutes=59)
    slack.run_jobs()
    assert [c for c in slack.recorder.of("chat.postMessage") if "due" in c.text() and "24 hours" in c.text()] == []
    clock.advance(minutes=1)
    slack.run_jobs()
    clock.advance(hours=5)
    slack.run_jobs()
    reminders = [c for c in slack.recorder.of("chat.postMessage") if "24 hours" in c.text()]
    assert [c.data["channel"] for c in reminders] == ["U0CHEN"]
    assert "due 2026-11-27 14:30 UTC" in reminders[0].text() and "/postmortem done" in reminders[0].text()
    assert [e.kind for e in timeline(slack.container)].count("postmortem_reminded") == 1


def test_reminder_falls_back_to_the_channel_when_the_lead_cannot_be_messaged(slack, clock):
    slack.command("declare Site is down sev1")
    slack.command("resolve", channel_id=CHANNEL)
    slack.recorder.fail("chat.postMessage", "channel_not_found")
    clock.advance(hours=24)
    slack.run_jobs()
    reminders = [c for c in slack.recorder.of("chat.postMessage") if "24 hours" in c.text()]
    assert [c.data["channel"] for c in reminders] == ["U0LEAD", CHANNEL]


def test_done_closes_the_loop_and_cancels_the_reminder(slack, clock):
    slack.command("declare Site is down sev1")
    slack.command("done https://wiki.example.com/pm/1", command="/postmortem", channel_id=CHANNEL)
    assert "still open" in slack.reply_text()
    slack.command("resolve", channel_id=CHANNEL)
    slack.command("done not-a-link", command="/postmortem", channel_id=CHANNEL)
    assert "is not a link" in slack.reply_text()
    slack.command("done <https://wiki.example.com/pm/1>", command="/postmortem", channel_id=CHANNEL)
    assert "the reminder is off" in slack.reply_text()
    row = stored(slack.container)
    assert (row.done_link, row.done_by) == ("https://wiki.example.com/pm/1", "U0LEAD") and row.done_at
    assert pending_jobs(slack.container, "postmortem.reminder") == []
    done = [e for e in timeline(slack.container) if e.kind == "postmortem_done"]
    assert [e.data["link"] for e in done] == ["https://wiki.example.com/pm/1"]
    clock.advance(hours=30)
    slack.run_jobs()
    assert [c for c in slack.recorder.of("chat.postMessage") if "24 hours" in c.text()] == []
    assert any("postmortem of #1 is done" in c.text() for c in slack.recorder.of("chat.postMessage"))


def test_reminder_is_skipped_when_done_even_if_the_timer_fires(slack, clock):
    """The timer row is cancelled on done; if it had already been claimed, the job still checks."""
    from bot.core.context import job_context
    from bot.features.postmortem import service as pm_svc

    slack.command("declare Site is down sev1")
    slack.command("resolve", channel_id=CHANNEL)
    due = stored(slack.container).due_at
    slack.command("done https://wiki.example.com/pm/1 #1", command="/postmortem")
    assert pm_svc.remind(job_context(slack.container), 1, due.isoformat()) is False


def test_lower_severities_get_a_draft_without_a_due_date(slack, clock):
    slack.command("declare Search is slow sev3")
    slack.command("resolve", channel_id=CHANNEL)
    row = stored(slack.container)
    assert row.markdown and row.due_at is None
    assert "not required for SEV3" in row.markdown
    assert pending_jobs(slack.container, "postmortem.reminder") == []
    intro = [c.text() for c in slack.recorder.of("chat.postMessage") if "Postmortem draft for #1" in c.text()]
    assert "Not required at this severity" in intro[0]


def test_an_incident_that_reached_sev1_owes_one_even_if_downgraded(slack, clock):
    slack.command("declare Site is down sev1")
    slack.command("sev 3", channel_id=CHANNEL)
    slack.command("resolve", channel_id=CHANNEL)
    assert stored(slack.container).due_at is not None
    assert "SEV3 (Minor issue) (peak SEV1 (Complete outage))" in stored(slack.container).markdown


def test_reopened_and_resolved_again_moves_the_due_date(slack, clock):
    slack.command("declare Site is down sev1")
    slack.command("resolve", channel_id=CHANNEL)
    clock.advance(hours=2)
    slack.command("status investigating", channel_id=CHANNEL)
    clock.advance(hours=1)
    slack.command("resolve", channel_id=CHANNEL)
    assert stored(slack.container).due_at.replace(tzinfo=None) == datetime(2026, 11, 27, 17, 0)
    [reminder] = pending_jobs(slack.container, "postmortem.reminder")
    assert reminder.run_at.replace(tzinfo=None) == datetime(2026, 11, 26, 17, 0)
    assert len(uploads(slack)) == 2


def test_postmortem_command_regenerates_and_explains_itself(slack, clock):
    slack.command("declare Site is down sev1")
    slack.command("", command="/postmortem")
    assert "isn't an incident channel" in slack.reply_text() and "/postmortem #N" in slack.reply_text()
    slack.command("#1", command="/postmortem")
    assert "Regenerated the postmortem draft of #1" in slack.reply_text()
    assert "still open, so the draft is partial" in slack.reply_text()
    slack.command("note the load balancer shows 502s", channel_id=CHANNEL)
    slack.command("", command="/postmortem", channel_id=CHANNEL)
    assert "the load balancer shows 502s" in stored(slack.container).markdown
    assert len(uploads(slack)) == 2
    slack.command("publish", command="/postmortem", channel_id=CHANNEL)
    assert "not something `/postmortem` does" in slack.reply_text()
    slack.command("#9", command="/postmortem")
    assert "no incident #9" in slack.reply_text()


def test_upload_failure_keeps_the_draft_and_says_so(slack, clock):
    slack.recorder.fail("files.getUploadURLExternal", "not_allowed_token_type")
    slack.command("declare Site is down sev1")
    slack.command("resolve", channel_id=CHANNEL)
    assert stored(slack.container).markdown
    warning = [c.text() for c in slack.recorder.of("chat.postMessage") if "could not be attached" in c.text()]
    assert warning and "not_allowed_token_type" in warning[0] and "fireline postmortem 1" in warning[0]


def test_cli_exports_the_stored_draft(slack, clock, db_url, monkeypatch, tmp_path, capsys):
    from bot.app.cli import main

    slack.command("declare Checkout returns 502 sev1")
    slack.command("resolve Bad deploy", channel_id=CHANNEL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("POSTMORTEM_TEMPLATE", raising=False)
    out = tmp_path / "pm.md"
    assert main(["postmortem", "1", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == stored(slack.container).markdown
    assert "wrote the postmortem of #1" in capsys.readouterr().err
    assert main(["postmortem", "1"]) == 0
    assert capsys.readouterr().out == stored(slack.container).markdown
    slack.command("done https://wiki.example.com/pm/1", command="/postmortem", channel_id=CHANNEL)
    assert main(["postmortem", "1", "--fresh"]) == 0
    captured = capsys.readouterr()
    assert "published postmortem: https://wiki.example.com/pm/1" in captured.err
    assert captured.out.startswith("# Postmortem: #1 Checkout returns 502") and "no stored draft" not in captured.err
    assert main(["postmortem", "7"]) == 1
    assert "no incident #7" in capsys.readouterr().err


def test_cli_renders_when_nothing_is_stored(slack, db_url, monkeypatch, tmp_path, capsys):
    from bot.app.cli import main

    slack.command("declare Site is down sev1")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["postmortem", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("# Postmortem: #1 Site is down") and "no stored draft" in captured.err
    assert "_TODO: not resolved yet_" in captured.out


def test_console_drafts_reminds_and_closes_as_slack_does(db_url, clock):
    """The terminal gets the same draft and reminder through the console's chat (queued jobs print there)."""
    import io

    from bot.adapters.console import run_console
    from tests.support.factories import make_container

    container = make_container(db_url, clock=clock)
    try:
        out = io.StringIO()
        script = ["/incident declare Checkout returns 502 sev1", "/incident timeline -5m Deploy v42 finished",
                  "/incident followup Add a canary stage @chen", "/incident resolve Bad deploy"]
        assert run_console(container, io.StringIO("\n".join(script) + "\n"), out) == 0
        text = out.getvalue()
        assert "Postmortem draft for #1" in text and "uploaded postmortem-incident-1.md" in text
        assert "Added to the timeline of #1 at 2026-11-25 13:55:00 UTC (T-00:05" in text
        clock.advance(hours=24)
        out = io.StringIO()
        script = ["/incident list", "/postmortem done https://wiki.example.com/pm/1 #1"]  # timers run after a line
        assert run_console(container, io.StringIO("\n".join(script) + "\n"), out) == 0
        text = out.getvalue()
        # the reminder fired in the incident channel (the console user has no direct messages), then done
        assert "[#inc-1-checkout-returns-502]\n  The postmortem of #1 (Checkout returns 502) is due 2026-11-27 " \
               "14:00 UTC, in 24 hours." in text
        assert text.index("in 24 hours") < text.index("The postmortem of #1 is done")
        assert "Traceback" not in text
        markdown = stored(container).markdown
        assert "| Add a canary stage | @chen | open |" in markdown and "Deploy v42 finished _(added later)_" in markdown
    finally:
        container.engine.dispose()


def _draft_message(slack):
    [message] = [c for c in slack.recorder.of("chat.postMessage") if "Postmortem draft for #1" in c.text()]
    return message


def _buttons(message) -> list[dict]:
    return [element for block in message.data["blocks"] if block["type"] == "actions"
            for element in block["elements"]]


def test_draft_message_links_to_its_page_and_its_done_button_says_what_to_type(slack, clock):
    slack.container.settings.web_base_url = "https://fireline.example.com"
    slack.command("declare Site is down sev1")
    slack.command("resolve", channel_id=CHANNEL)
    message = _draft_message(slack)
    assert "<https://fireline.example.com/team/incidents/1/postmortem|Read it on the team pages>" in message.text()
    [done] = _buttons(message)
    assert (done["text"]["text"], done["action_id"].split("~")[0], done["value"], done.get("style")) == (
        "Done", "postmortem_done", "1", "primary")
    # pressing it asks for the link in words: the exact command, with the incident's number
    slack.press("postmortem_done", "1", user_id="U0CHEN", channel_id=CHANNEL)
    asked = slack.reply_text()
    assert "Type `/postmortem done <link> #1`" in asked and "https://wiki.example.com/postmortems/1 #1" in asked
    assert stored(slack.container).done_at is None  # nothing recorded without a link
    slack.command("done https://wiki.example.com/pm/1 #1", command="/postmortem", channel_id=CHANNEL)
    slack.press("postmortem_done", "1", user_id="U0CHEN", channel_id=CHANNEL)
    recorded = slack.reply_text()
    assert "recorded as done: https://wiki.example.com/pm/1" in recorded
    assert "`/postmortem done <new link> #1`" in recorded


def test_draft_message_has_no_page_link_without_a_public_address(slack, clock):
    """Without WEB_BASE_URL the team pages answer only on 127.0.0.1: a dead link for everyone in the channel."""
    assert not slack.container.settings.web_base_url
    slack.command("declare Site is down sev1")
    slack.command("reopen", channel_id=CHANNEL)  # an open incident's Done says to resolve it first
    slack.command("", command="/postmortem", channel_id=CHANNEL)
    message = _draft_message(slack)
    assert "/team/incidents" not in message.text() and "127.0.0.1" not in message.text()
    assert [b["action_id"].split("~")[0] for b in _buttons(message)] == ["postmortem_done"]
    slack.press("postmortem_done", "1", channel_id=CHANNEL)
    assert "still open" in slack.reply_text() and "/incident resolve #1" in slack.reply_text()
