"""`/incident catchup` and the card's "Catch me up": a late joiner's private summary, built from the record."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlmodel import Session

from bot.adapters.console import Console
from bot.store.models import Incident, PlaybookExecution
from bot.features.catchup.feature import ACTION


def _history(slack, clock) -> None:
    slack.command("declare Checkout returns 502 sev2")
    clock.advance(minutes=2)
    slack.command("ack", channel_id="CINC0001")
    slack.command("sev 1", channel_id="CINC0001")
    slack.command("update Rolled back to v41; error rate is falling", channel_id="CINC0001")
    slack.command("followup Add a canary for checkout <@U0CHEN|chen>", channel_id="CINC0001")
    with Session(slack.container.engine) as session:
        incident = session.get(Incident, 1)
        session.add(PlaybookExecution(playbook="restart", app="checkout-api", incident_id=1, status="succeeded",
                                      nonce="n", proposed_by="U0LEAD", outcome="3 machines restarted, healthy",
                                      proposed_at=incident.declared_at))
        session.commit()
    clock.advance(minutes=7)


def test_catchup_is_private_and_built_from_the_record(slack, clock):
    _history(slack, clock)
    slack.recorder.reset()
    slack.command("catchup", channel_id="CINC0001", user_id="U0LATE")
    answer = slack.recorder.responses()[-1]
    assert answer.data.get("response_type", "ephemeral") == "ephemeral"
    text = answer.text()
    assert "Catch-up on #1: Checkout returns 502" in text
    # severity and its change, each fact once: the level's meaning, the current level, the declaration day
    assert ("*Severity*: SEV1 (Complete outage, respond < 15 min) since 14:02 UTC; before: SEV2 when declared"
            in text)
    assert text.count("Complete outage") == 1 and "Major degradation" not in text
    assert text.count("2026-11-25") == 1  # in the State line only
    assert "investigating" in text and "acknowledged by <@U0LEAD>" in text
    assert "lead <@U0LEAD>" in text
    assert "restart on checkout-api: succeeded: 3 machines restarted, healthy" in text
    assert "Rolled back to v41" in text and "(7m ago" in text  # the latest update and its age
    assert "Add a canary for checkout" in text and "owner <@U0CHEN>" in text
    # nothing was posted for the channel to see
    assert not slack.recorder.of("chat.postMessage")


def test_catchup_says_when_nothing_is_recorded(slack, clock):
    slack.command("declare Search is slow sev3")
    slack.command("catchup #1", user_id="U0LATE")
    text = slack.reply_text()
    assert "no playbook run yet" in text and "none posted yet" in text and "*Open follow-ups*: none" in text
    assert "*Severity*: SEV3 (Minor issue, respond < 4 hours), unchanged since declared" in text
    assert text.count("Minor issue") == 1 and "not acknowledged yet" in text


def test_catch_me_up_button_on_the_card(slack, clock):
    _history(slack, clock)
    card = slack.recorder.of("chat.postMessage")[0].text()
    assert "Catch me up" in card
    slack.recorder.reset()
    slack.press(ACTION, "1", user_id="U0LATE", channel_id="CINC0001")
    text = slack.recorder.responses()[-1].text()
    assert "Catch-up on #1" in text and "SEV1 (Complete outage, respond < 15 min) since 14:02 UTC" in text


def test_catchup_reads_roles_from_the_timeline(slack, clock):
    from bot.core.context import job_context
    from bot.service import incidents as svc

    slack.command("declare Payments down sev1")
    ctx = job_context(slack.container, user_id="U0LEAD")
    with Session(slack.container.engine) as session:
        incident = session.get(Incident, 1)
        svc.record(session, incident, "role_changed", "U0LEAD", "comms -> U0AISHA", {"role": "comms", "to": "U0AISHA"},
                   at=ctx.now() + timedelta(seconds=1))
        session.commit()
    slack.command("catchup #1", user_id="U0LATE")
    assert "comms <@U0AISHA>" in slack.reply_text()


def test_catchup_in_the_console(sqlite_container):
    out = io.StringIO()
    console = Console(sqlite_container, out)
    console.run_line("/incident declare Login broken sev2")
    console.run_line("/incident update Looking at the auth service")
    console.run_line("/incident catchup")
    shown = out.getvalue()
    assert "Catch-up on #1: Login broken" in shown and "Looking at the auth service" in shown


def test_catchup_tells_a_severity_history_of_several_changes_once(slack, clock):
    slack.command("declare Checkout is slow sev3")
    clock.advance(minutes=5)
    slack.command("sev 2", channel_id="CINC0001")
    clock.advance(minutes=15)
    slack.command("sev 1", channel_id="CINC0001")
    clock.advance(hours=10)  # the next day
    slack.command("sev 2", channel_id="CINC0001")
    slack.command("catchup #1", user_id="U0LATE")
    text = slack.reply_text()
    assert ("*Severity*: SEV2 (Major degradation, respond < 1 hour) since 2026-11-26 00:20 UTC; before: SEV3 when "
            "declared, SEV2 at 14:05 UTC, SEV1 at 14:20 UTC") in text
    assert text.count("Major degradation") == 1
