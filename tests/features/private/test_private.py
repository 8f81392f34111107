"""Private incidents: a private channel, members only; a non-member tries every read path and sees no title."""

from __future__ import annotations

import argparse

from sqlmodel import Session, select

from bot.features.alerts import render as alert_render
from bot.features.postmortem.cli import cmd_postmortem
from bot.store.models import Alert, Incident, IncidentMember
from bot.features.pagerduty.paging import pd_title
from bot.features.catchup.feature import ACTION as CATCHUP
from bot.service.incidents import Actions

TITLE = "Payroll export leaks salaries"
SECRET = "payroll"  # any part of the title, in any case


def _declare(slack) -> None:
    slack.command(f"declare --private {TITLE} sev2")


def _everything_said(slack, responses=()) -> str:
    texts = [c.text() for c in slack.recorder.calls] + [r.text for r in responses]
    return "\n".join(texts).lower()


def test_declared_private_makes_a_private_channel_and_no_incidents_card(slack):
    _declare(slack)
    [created] = slack.recorder.of("conversations.create")
    assert str(created.data.get("is_private")).lower() in ("true", "1")
    assert SECRET not in created.data["name"]
    assert {p.data["channel"] for p in slack.recorder.of("chat.postMessage")} == {"CINC0001"}
    with Session(slack.container.engine) as session:
        incident = session.get(Incident, 1)
        members = {m.user_id for m in session.exec(select(IncidentMember)).all()}
    assert incident.private and members == {"U0LEAD"}
    assert "(private)" in slack.reply_text()


def test_a_non_member_sees_nothing_of_it_on_any_read_path(slack, settings_factory, db_url, capsys):
    _declare(slack)
    slack.recorder.reset()
    responses = []
    for text in ("list", "show #1", "catchup #1", "timeline #1 -5m looked at it", "note #1 hi", "ack #1",
                 "followups #1", "status resolved #1", "update #1 hello"):
        responses.append(slack.command(text, user_id="U0EVE"))
        assert "no incident #1" in slack.reply_text().lower() or "no open incidents" in slack.reply_text().lower()
    responses.append(slack.command("#1", command="/postmortem", user_id="U0EVE"))
    assert "There is no incident #1" in slack.reply_text()
    for action, value in ((Actions.ACK, "1"), (Actions.LEAD, "1"), (Actions.PLAYBOOK, "1"), (CATCHUP, "1"),
                          (Actions.CHECK, "1:1")):
        responses.append(slack.press(action, value, user_id="U0EVE"))
        assert "There is no incident #1" in slack.recorder.responses()[-1].text()
    metrics = slack.client.get("/metrics")
    assert metrics.status_code == 200 and SECRET not in metrics.text.lower()
    assert SECRET not in _everything_said(slack, responses)
    with Session(slack.container.engine) as session:
        incident = session.get(Incident, 1)
        assert incident.status == "declared" and not incident.acknowledged_at  # nothing was changed either
        alert = Alert(source="grafana", dedup_key="k", title="API errors", level=2, status="linked", incident_id=1)
    # what an alert thread says of its incident, and PagerDuty's title
    assert SECRET not in (alert_render.state_line(alert) or "").lower()
    assert SECRET not in pd_title(incident).lower() and "#1" in pd_title(incident)
    # the postmortem export refuses without --include-private
    code = cmd_postmortem(settings_factory(db_url), argparse.Namespace(number=1, out=None, fresh=True,
                                                                       include_private=False), slack.container.registry)
    out = capsys.readouterr()
    assert code == 1 and SECRET not in out.out.lower() and "--include-private" in out.err


def test_members_see_it_and_joining_or_leaving_the_channel_changes_that(slack):
    _declare(slack)
    slack.command("list")
    assert TITLE in slack.reply_text()
    slack.command("show #1", user_id="U0BOB")
    assert TITLE not in slack.reply_text()
    slack.event({"type": "member_joined_channel", "channel": "CINC0001", "user": "U0BOB"}, event_id="EvJoin")
    slack.command("show #1", user_id="U0BOB")
    assert TITLE in slack.reply_text()
    slack.command("list", user_id="U0BOB")
    assert TITLE in slack.reply_text()
    slack.event({"type": "member_left_channel", "channel": "CINC0001", "user": "U0BOB"}, event_id="EvLeave")
    slack.command("list", user_id="U0BOB")
    assert TITLE not in slack.reply_text()


def test_the_new_lead_is_a_member(slack):
    _declare(slack)
    slack.command("lead <@U0CHEN|chen>", channel_id="CINC0001")
    slack.command("catchup #1", user_id="U0CHEN")
    assert "Catch-up on #1" in slack.reply_text()


def test_public_incidents_are_unchanged(slack):
    slack.command("declare Checkout returns 502 sev2")
    assert {p.data["channel"] for p in slack.recorder.of("chat.postMessage")} == {"CINC0001", "#incidents"}
    slack.command("show #1", user_id="U0EVE")
    assert "Checkout returns 502" in slack.reply_text()


def test_status_page_drafts_never_carry_the_title(slack):
    _declare(slack)
    slack.recorder.reset()
    slack.command("statuspage API, Payments", channel_id="CINC0001")  # a member drafts a public update
    drafted = _everything_said(slack)
    assert "draft" in drafted and SECRET not in drafted
    slack.command("statuspage #1", user_id="U0EVE")
    assert "There is no incident #1" in slack.reply_text()
