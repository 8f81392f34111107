"""Incident roles (commander = the lead, comms, scribe, team roles) through Slack and the console."""

from __future__ import annotations

import io

from sqlmodel import Session, select

from bot.adapters.console import run_console
from bot.core.context import pagerduty_context
from bot.service import incidents as svc
from bot.store.models import Incident, IncidentRole, TimelineEvent
from tests.support.factories import make_container, make_settings

CHANNEL = "CINC0001"


def incident(container, number: int = 1) -> Incident:
    with Session(container.engine) as session:
        return session.get(Incident, number)


def events(container, kind: str) -> list[TimelineEvent]:
    with Session(container.engine) as session:
        return list(session.exec(select(TimelineEvent).where(TimelineEvent.kind == kind)).all())


def test_role_comms_is_stored_on_the_card_in_the_timeline_by_name_and_announced(slack):
    slack.recorder.names.update({"U0CHEN": "Chen Li", "U0LEAD": "Dana Lead"})
    slack.command("declare Checkout returns 502 sev2")
    slack.command("role comms <@U0CHEN|chen>", channel_id=CHANNEL)
    assert "Chen Li is now Communications of #1" in slack.reply_text()
    with Session(slack.container.engine) as session:
        [row] = session.exec(select(IncidentRole)).all()
    assert (row.incident_id, row.role, row.user_id, row.assigned_by) == (1, "comms", "U0CHEN", "U0LEAD")
    [changed] = events(slack.container, "role_changed")
    assert changed.text == "Communications: nobody -> Chen Li"  # names, not ids, in what people read
    card = slack.recorder.of("chat.update")[-1].text()
    assert "Roles" in card and "Communications: <@U0CHEN>" in card
    announced = [c for c in slack.recorder.of("chat.postMessage") if "is now *Communications*" in c.text()]
    assert announced and announced[0].data["channel"] == CHANNEL
    assert any(c.data.get("users") == "U0CHEN" for c in slack.recorder.of("conversations.invite"))
    slack.command("role communications <@U0CHEN|chen>", channel_id=CHANNEL)
    assert "already Communications" in slack.reply_text()


def test_lead_stays_an_alias_and_role_commander_sets_the_lead(slack):
    slack.command("declare Checkout returns 502 sev2")
    slack.command("role commander <@U0ANA|ana>", channel_id=CHANNEL)
    assert incident(slack.container).lead_id == "U0ANA"
    slack.command("lead <@U0BEN|ben>", channel_id=CHANNEL)
    assert incident(slack.container).lead_id == "U0BEN"
    slack.command("roles", channel_id=CHANNEL)
    text = slack.reply_text()
    assert "*Lead* (`lead`)" in text and "Commander" not in text and "Communications" in text and "Scribe" in text and "nobody" in text


def test_unknown_role_lists_the_roles_and_team_roles_come_from_settings(db_url, recorder, clock):
    from tests.support.factories import slack_harness

    container = make_container(db_url, recorder, incident_roles="liaison:Customer liaison", clock=clock)
    try:
        for harness in slack_harness(container, recorder):
            harness.command("declare Checkout returns 502 sev2")
            harness.command("role juggler <@U0ANA|ana>", channel_id=CHANNEL)
            refused = harness.reply_text()
            assert "is not an incident role" in refused and "`liaison` (Customer liaison)" in refused
            assert "`lead` (Lead)" in refused and "commander" not in refused  # the word /incident roles shows
            harness.command("role liaison <@U0ANA|ana>", channel_id=CHANNEL)
            assert "is now Customer liaison of #1" in harness.reply_text()
    finally:
        container.engine.dispose()


def test_checklist_communicate_step_names_the_comms_role(slack):
    slack.recorder.names["U0CHEN"] = "Chen Li"
    slack.command("declare Checkout returns 502 sev2")
    slack.press("incident_playbook", "1", channel_id=CHANNEL)
    [posted] = [c for c in slack.recorder.of("chat.postMessage") if "SEV1 playbook" in c.data["text"]]
    assert "nobody holds Communications" in posted.text()
    slack.command("role comms <@U0CHEN|chen>", channel_id=CHANNEL)  # the posted checklist is edited to say so
    edited = [c for c in slack.recorder.of("chat.update") if "SEV1 playbook" in c.data["text"]][-1]
    assert "*Communicate*: Update status page, tweet, Slack" in edited.text()
    assert "Communications: Chen Li" in edited.text() and "nobody holds" not in edited.text()


def test_postmortem_has_a_row_per_role_by_name(slack):
    slack.recorder.names.update({"U0CHEN": "Chen Li", "U0ANA": "Ana Souza"})
    slack.command("declare Checkout returns 502 sev2")
    slack.command("role comms <@U0CHEN|chen>", channel_id=CHANNEL)
    slack.command("role scribe <@U0ANA|ana>", channel_id=CHANNEL)
    slack.command("resolve", channel_id=CHANNEL)
    from bot.features.postmortem.service import generate

    markdown = generate(slack.container, 1).markdown
    assert "| Communications | Chen Li |" in markdown and "| Scribe | Ana Souza |" in markdown
    assert "U0CHEN" not in markdown and "U0ANA" not in markdown


def test_pagerduty_responder_becomes_commander_only_when_nobody_took_it(container, clock):
    from bot.adapters.console import console_context
    from bot.adapters.console_chat import ConsoleChat

    ctx = console_context(container, ConsoleChat(io.StringIO()), user_id="U0LEAD", channel_id="#incidents")
    first, _ = svc.declare(ctx, "Checkout returns 502", 2, "test")
    second, _ = svc.declare(ctx, "Login broken", 2, "test")
    svc.set_lead(ctx, second.id, "U0ANA")  # taken by a person
    clock.advance(minutes=3)
    pd = pagerduty_context(container, user_id="pagerduty")
    for number in (first.id, second.id):
        svc.acknowledge(pd, number, actor="pagerduty:Chen Li", via="pagerduty")
    assert incident(container, first.id).lead_id == "pagerduty:Chen Li"
    assert incident(container, second.id).lead_id == "U0ANA"


def test_console_assigns_roles(db_url, clock):
    container = make_container(db_url, clock=clock)
    out = io.StringIO()
    script = "/incident declare Checkout returns 502 sev2\n/incident role scribe @ana\n/incident roles\n"
    assert run_console(container, io.StringIO(script), out) == 0
    text = out.getvalue()
    assert "ana is now Scribe of #1" in text
    assert "Scribe (`scribe`): ana" in text
    container.engine.dispose()


def test_pagerduty_reassignment_makes_the_responder_commander_until_a_person_takes_it(db_url, recorder, clock, pd):
    from datetime import timedelta

    from tests.support.pagerduty import incident_data, post_webhook, rest_harness, webhook

    def pd_event(kind: str, minutes: float, name: str):
        return webhook(kind, incident_data("PINC101", status="triggered", assignees=(("PX", name),)),
                       occurred_at=clock() + timedelta(minutes=minutes))

    with rest_harness(db_url, recorder, clock) as slack:
        slack.command("declare Site is down sev1")
        post_webhook(slack, pd_event("incident.reassigned", 1, "Aisha Khan"))
        assert incident(slack.container).lead_id == "pagerduty:Aisha Khan"
        post_webhook(slack, pd_event("incident.escalated", 2, "Marcus Webb"))
        assert incident(slack.container).lead_id == "pagerduty:Marcus Webb"  # PagerDuty's pick is not "taken"
        slack.command("lead <@U0ANA|ana>", channel_id=CHANNEL)
        post_webhook(slack, pd_event("incident.reassigned", 3, "Chen Li"))
        assert incident(slack.container).lead_id == "U0ANA"


def test_fireline_check_says_what_is_wrong_with_incident_roles(db_url):
    from bot.features.roles.feature import check_roles

    bad = check_roles(make_settings(db_url, incident_roles="Bad Key:x"))
    assert bad.state == "error" and "is not a role key" in bad.detail and "INCIDENT_ROLES=liaison" in bad.detail
    taken = check_roles(make_settings(db_url, incident_roles="comms:Again"))
    assert taken.state == "error" and "already a role" in taken.detail
    good = check_roles(make_settings(db_url, incident_roles="liaison:Customer liaison"))
    assert (good.state, good.detail) == ("live", "incident roles: lead, comms, scribe, liaison")
