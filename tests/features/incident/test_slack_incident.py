"""The incident lifecycle through the real Bolt app, with signed requests and a recording Slack."""

from __future__ import annotations

import json
import time
import urllib.parse

from sqlmodel import Session, select

from bot.store.models import Incident, Job, TimelineEvent
from bot.service.incidents import Actions


def incidents(container) -> list[Incident]:
    with Session(container.engine) as session:
        return list(session.exec(select(Incident).order_by(Incident.id)).all())


def events(container, incident_id: int) -> list[TimelineEvent]:
    with Session(container.engine) as session:
        return list(session.exec(select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
                                 .order_by(TimelineEvent.id)).all())


def test_declare_creates_channel_invites_and_posts_cards(slack):
    response = slack.command("declare Checkout returns 502 sev1")
    assert response.status_code == 200
    rec = slack.recorder
    created = rec.of("conversations.create")
    assert [c.data["name"] for c in created] == ["inc-1-checkout-returns-502"]
    assert rec.of("conversations.invite")[0].data["users"] == "U0LEAD"
    posts = rec.of("chat.postMessage")
    assert {p.data["channel"] for p in posts} == {"CINC0001", "#incidents"}
    card = posts[0].text()
    assert "Incident #1: Checkout returns 502" in card and "SEV1" in card and "< 15 min" in card
    for label in ("Acknowledge", "I'm lead", "Show playbook"):
        assert label in card
    assert "Declared *#1*" in slack.reply_text()
    [incident] = incidents(slack.container)
    assert (incident.severity, incident.status, incident.channel_id) == (1, "declared", "CINC0001")
    assert incident.channel_name == "inc-1-checkout-returns-502"
    assert len(incident.cards) == 2
    assert [e.kind for e in events(slack.container, 1)] == ["declared"]


def test_declare_without_severity_says_which_and_why(slack):
    slack.command("declare Login broken for EU users")
    text = slack.reply_text()
    assert "Picked SEV2" in text and "Login broken" in text
    assert incidents(slack.container)[0].severity == 2


def test_commands_in_incident_channel_apply_to_it(slack, clock):
    slack.command("declare Site is down sev1")
    clock.advance(minutes=3)
    slack.command("ack", channel_id="CINC0001")
    slack.command("sev 2", channel_id="CINC0001")
    slack.command("lead <@U0CHEN|chen>", channel_id="CINC0001")
    slack.command("status mitigating", channel_id="CINC0001")
    slack.command("update Rolled back to the previous image", channel_id="CINC0001")
    slack.command("note saw resets in iad", channel_id="CINC0001")
    slack.command("status monitoring", channel_id="CINC0001")
    clock.advance(minutes=20)
    slack.command("resolve bad deploy", channel_id="CINC0001")
    [incident] = incidents(slack.container)
    assert incident.status == "resolved" and incident.severity == 2 and incident.lead_id == "U0CHEN"
    assert incident.acknowledged_by == "U0LEAD"
    assert (incident.acknowledged_at.replace(tzinfo=None) - incident.declared_at.replace(tzinfo=None)).seconds == 180
    assert incident.mitigated_at is not None and incident.resolved_at is not None
    kinds = [e.kind for e in events(slack.container, 1)]
    assert kinds == ["declared", "acknowledged", "severity_changed", "lead_changed", "status_changed", "update",
                     "note", "status_changed", "resolved"]
    assert all(e.actor == "U0LEAD" for e in events(slack.container, 1))
    # every change edits the cards in both channels
    assert len(slack.recorder.of("chat.update")) >= 2 * 5
    # the update was posted in the channel and under the card in #incidents
    update_posts = [c for c in slack.recorder.of("chat.postMessage") if "Rolled back" in c.text()]
    assert {c.data.get("thread_ts") is not None for c in update_posts} == {True, False}


def test_outside_incident_channel_needs_number(slack):
    slack.command("declare Site is down sev1")
    slack.command("ack")
    assert "isn't an incident channel" in slack.reply_text()
    assert "#N" in slack.reply_text()
    slack.command("ack #1")
    assert incidents(slack.container)[0].acknowledged_at is not None
    slack.command("show #7")
    assert "no incident #7" in slack.reply_text()


def test_errors_are_ephemeral_and_change_nothing(slack):
    slack.command("declare Site is down sev1")
    before = [e.id for e in events(slack.container, 1)]
    # `declare` without a title opens the modal; when Slack refuses it, the ack says what to type
    slack.recorder.fail("views.open", "expired_trigger_id")
    refused = slack.ack_json(slack.command("declare"))
    assert refused["response_type"] == "ephemeral" and "title is needed" in refused["text"]
    for text, expected in [("declare Thing sev9", "not a severity"),
                           ("sev 7 #1", "1 to 4"), ("status sideways #1", "not a state"),
                           ("lead #1", "Say who leads"), ("update #1", "needs some text")]:
        slack.command(text)
        response = slack.recorder.responses()[-1].data
        assert response["response_type"] == "ephemeral", text
        assert expected in response["text"], (text, response["text"])
    assert [e.id for e in events(slack.container, 1)] == before
    slack.command("resolve #1")
    slack.command("resolve #1")
    assert "already resolved" in slack.reply_text() and "status investigating #1" in slack.reply_text()


def test_unknown_subcommand_answers_in_ack_with_closest_match(slack):
    response = slack.command("decalre Site down", run=False)
    body = slack.ack_json(response)
    assert body["response_type"] == "ephemeral"
    assert "`decalre` is not a `/incident` subcommand" in body["text"]
    assert "declare <title>" in str(body["blocks"])
    with slack.container.engine.connect() as connection:
        assert connection.exec_driver_sql("select count(*) from jobs").scalar() == 0


def test_help_lists_every_subcommand(slack):
    body = slack.ack_json(slack.command("help", run=False))
    for sub in ("declare", "sev", "ack", "lead", "status", "update", "note", "show", "list", "resolve"):
        assert f"/incident {sub}" in str(body["blocks"])


def test_list_shows_open_incidents_most_severe_first(slack):
    slack.command("declare Typo in footer sev4")
    slack.command("declare Site is down sev1")
    slack.command("declare Slow search")
    slack.command("list")
    text = str(slack.recorder.responses()[-1].data)
    assert text.index("#2") < text.index("#3") < text.index("#1")


def test_buttons_ack_once_and_take_lead(slack):
    slack.command("declare Site is down sev1")
    slack.press(Actions.ACK + "~0", "1", user_id="U0CHEN", action_ts="1.1")
    slack.press(Actions.ACK + "~0", "1", user_id="U0MARCUS", action_ts="1.2")  # a second click
    [incident] = incidents(slack.container)
    assert incident.acknowledged_by == "U0CHEN"
    assert "already acknowledged by <@U0CHEN>" in slack.recorder.responses()[-1].data["text"]
    assert [e.kind for e in events(slack.container, 1)].count("acknowledged") == 1
    slack.press(Actions.LEAD, "1", user_id="U0MARCUS")
    assert incidents(slack.container)[0].lead_id == "U0MARCUS"


def test_same_button_payload_delivered_twice_runs_once(slack):
    slack.command("declare Site is down sev1")
    for _ in range(2):
        slack.press(Actions.CHECK, "1:1", action_ts="5.5")
    checks = [e for e in events(slack.container, 1) if e.kind == "checklist"]
    assert len(checks) == 1


def test_playbook_checklist_every_check_is_a_timeline_event(slack):
    slack.command("declare Site is down sev1")
    slack.press(Actions.PLAYBOOK, "1")
    [posted] = [c for c in slack.recorder.of("chat.postMessage") if "SEV1 playbook" in c.data["text"]]
    text = str(posted.data)
    assert "Fly.io status page" in text and "fly postgres connect" in text and "48 hours" in text
    slack.press(Actions.CHECK, "1:2", action_ts="1")
    slack.press(Actions.CHECK, "1:2", action_ts="2")
    checks = [e for e in events(slack.container, 1) if e.kind == "checklist"]
    assert [c.data["checked"] for c in checks] == [True, False]
    assert "0 of 10 done" in slack.recorder.of("chat.update")[-1].data["text"]


def test_retries_are_dropped(slack):
    response = slack.command("declare Site is down sev1", run=False, )
    assert response.status_code == 200
    from tests.support.signing import slash_body

    body = slash_body("declare Another sev1", response_url=slack.recorder.response_url())
    retry = slack.post(body, "application/x-www-form-urlencoded", headers={"X-Slack-Retry-Num": "1",
                                                                            "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200
    slack.run_jobs()
    assert [i.title for i in incidents(slack.container)] == ["Site is down"]


def test_bad_signatures_get_401_and_change_nothing(slack):
    from tests.support.signing import slash_body

    body = slash_body("declare Site is down sev1")
    assert slack.post(body, "application/x-www-form-urlencoded", signed=False).status_code == 401
    assert slack.post(body, "application/x-www-form-urlencoded", secret="wrong").status_code == 401
    stale = int(time.time()) - 6 * 60
    assert slack.post(body, "application/x-www-form-urlencoded", timestamp=stale).status_code == 401
    slack.run_jobs()
    assert incidents(slack.container) == []
    with Session(slack.container.engine) as session:
        assert session.exec(select(Job)).all() == []


def test_slack_failure_keeps_incident_and_says_so(slack):
    slack.recorder.fail("conversations.create", "restricted_action")
    slack.command("declare Site is down sev1")
    [incident] = incidents(slack.container)
    assert incident.channel_id is None
    text = slack.reply_text()
    assert "could not create the incident channel" in text and "restricted_action" in text
    # the card still went to #incidents, and commands work with #N
    assert [c.data["channel"] for c in slack.recorder.of("chat.postMessage")] == ["#incidents"]
    slack.command("ack #1")
    assert incidents(slack.container)[0].acknowledged_at is not None


def test_channel_name_taken_gets_suffix(slack):
    slack.recorder.fail("conversations.create", "name_taken")
    slack.command("declare Site is down sev1")
    names = [c.data["name"] for c in slack.recorder.of("conversations.create")]
    assert names == ["inc-1-site-is-down", "inc-1-site-is-down-2"]


def test_injection_in_title_cannot_ping(slack):
    # Slack sends a real @channel as <!channel> and a typed "<!channel>" as &lt;!channel&gt;: neither pings.
    slack.command("declare <!channel> <@U999> &lt;!here&gt; *boom* site down sev1")
    for call in slack.recorder.of("chat.postMessage"):
        assert "<!channel>" not in call.text() and "<@U999>" not in call.text() and "<!here>" not in call.text()
        assert "@channel @U999 &lt;!here&gt;" in call.text()
    assert incidents(slack.container)[0].title == "@channel @U999 <!here> *boom* site down"
    assert incidents(slack.container)[0].channel_name.startswith("inc-1-channel-u999-here-boom-site-down")


def test_healthz(slack):
    response = slack.client.get("/healthz")
    assert response.status_code == 200 and response.json()["database"] == "ok"


def test_list_is_capped_and_counts_the_rest(slack):
    from bot.features.incident.feature import LIST_LIMIT

    for n in range(LIST_LIMIT + 2):
        slack.command(f"declare Typo number {n} sev4", run=False)
    slack.run_jobs()
    slack.command("declare Site is down sev1")
    slack.command("list")
    text = slack.reply_text()
    assert f"{LIST_LIMIT + 3} open incidents" in text
    assert "...and 3 more" in text
    assert "Site is down" in text  # the most severe is always shown


def _blocks(call) -> list[dict]:
    blocks = call.data["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def _card_parts(blocks: list[dict]) -> tuple[str, dict[str, str], list[dict], list[dict]]:
    """(header, fields by label, buttons, overflow menus) of a recorded card."""
    header = next(b["text"]["text"] for b in blocks if b["type"] == "header")
    fields = {}
    for block in blocks:
        for text in block.get("fields") or []:
            label, _, value = text["text"].partition("\n")
            fields[label.strip("*")] = value
    elements = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    return (header, fields, [e for e in elements if e["type"] == "button"],
            [e for e in elements if e["type"] == "overflow"])


def test_declare_card_has_a_header_fields_and_the_likely_actions(slack, clock):
    """As the on-call engineer reads it: what broke and how bad, who leads, Acknowledge first; the rest in a menu."""
    slack.command("declare Checkout returns 502 sev1")
    card = slack.recorder.of("chat.postMessage")[0]
    header, fields, buttons, menus = _card_parts(_blocks(card))
    assert header == ":rotating_light: SEV1 · Incident #1: Checkout returns 502"
    assert fields["State"] == "declared" and fields["Lead"] == "<@U0LEAD>"
    assert fields["Severity"].startswith("SEV1") and fields["Channel"] == "<#CINC0001|inc-1-checkout-returns-502>"
    assert [(b["text"]["text"], b.get("style")) for b in buttons][0] == ("Acknowledge", "primary")
    assert [b["text"]["text"] for b in buttons] == ["Acknowledge", "I'm lead", "Diagnose"]
    [menu] = menus
    assert [o["text"]["text"] for o in menu["options"]] == ["Show playbook", "Catch me up", "Status page"]
    assert "Incident #1: Checkout returns 502" in card.data["text"]  # what a notification shows

    # choosing "Show playbook" in the menu runs what the old button ran
    option = menu["options"][0]
    payload = {
        "type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U0LEAD", "name": "lead"},
        "api_app_id": "A1", "token": "legacy", "trigger_id": "1.t",
        "container": {"type": "message", "message_ts": "1700000001.000001", "channel_id": "CINC0001"},
        "channel": {"id": "CINC0001", "name": "x"}, "response_url": slack.recorder.response_url("action"),
        "actions": [{"type": "overflow", "action_id": menu["action_id"], "block_id": "b1",
                     "selected_option": option, "action_ts": "2.2"}],
    }
    slack.post(urllib.parse.urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    slack.run_jobs()
    [checklist] = [c for c in slack.recorder.of("chat.postMessage") if "SEV1 playbook for #1" in c.data["text"]]
    assert checklist.data["channel"] == "CINC0001"  # shared where it was chosen, not shown only to the chooser

    clock.advance(minutes=42)
    slack.command("ack", channel_id="CINC0001")
    slack.command("resolve bad deploy", channel_id="CINC0001")
    resolved = slack.recorder.of("chat.update")[-1]
    header, fields, buttons, menus = _card_parts(_blocks(resolved))
    assert header == ":white_check_mark: Resolved · SEV1 · Incident #1: Checkout returns 502"
    assert ":rotating_light:" not in json.dumps(_blocks(resolved)) + resolved.data["text"]
    assert fields["State"] == "resolved" and fields["Lasted"] == "42m" and "resolved after 42m" in resolved.data["text"]
    assert buttons == [] and menus == []
