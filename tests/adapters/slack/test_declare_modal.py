"""Declaring through a modal, from a message shortcut, and the console's prompts."""

from __future__ import annotations

import io
import json
import urllib.parse

from sqlmodel import Session, select

from bot.adapters.console import run_console
from bot.store.models import Incident, TimelineEvent
from tests.support.factories import make_container


def view_of(call) -> dict:
    view = call.data["view"]
    return json.loads(view) if isinstance(view, str) else view


def submission(view: dict, values: dict, user_id: str = "U0LEAD") -> str:
    payload = {"type": "view_submission", "team": {"id": "T1"}, "user": {"id": user_id, "name": "lead"},
               "api_app_id": "A1", "token": "legacy", "trigger_id": "1.t",
               "view": {**view, "id": "V1", "hash": "h1", "state": {"values": values}}}
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def shortcut(text: str, *, channel: str = "CGENERAL", ts: str = "1764900000.000100", author: str = "U0AISHA") -> str:
    payload = {"type": "message_action", "callback_id": "declare_from_message", "team": {"id": "T1"},
               "user": {"id": "U0LEAD", "name": "lead"}, "channel": {"id": channel, "name": "general"},
               "trigger_id": "2.t", "response_url": "", "api_app_id": "A1", "token": "legacy",
               "message_ts": ts, "message": {"type": "message", "ts": ts, "user": author, "text": text}}
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def values(title: str = "", sev: str | None = None, components=(), description: str = "", private=False) -> dict:
    return {"title": {"v": {"type": "plain_text_input", "value": title}},
            "severity": {"v": {"type": "static_select",
                               "selected_option": {"value": sev} if sev else None}},
            "components": {"v": {"type": "multi_static_select",
                                 "selected_options": [{"value": c} for c in components]}},
            "description": {"v": {"type": "plain_text_input", "value": description}},
            "private": {"v": {"type": "checkboxes",
                              "selected_options": [{"value": "private"}] if private else []}}}


def incidents(engine) -> list[Incident]:
    with Session(engine) as session:
        return list(session.exec(select(Incident)).all())


def test_bare_incident_and_declare_without_title_open_the_modal_in_the_ack(slack):
    for text in ("", "declare", "declare sev2"):
        response = slack.command(text, trigger_id=f"trig-{text or 'bare'}", run=False)
        assert response.status_code == 200 and response.text == "", text
    opened = slack.recorder.of("views.open")
    assert [c.data["trigger_id"] for c in opened] == ["trig-bare", "trig-declare", "trig-declare sev2"]
    view = view_of(opened[0])
    assert view["callback_id"] == "declare_modal"
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    labels = [o["text"]["text"] for o in blocks["severity"]["element"]["options"]]
    assert labels[0].startswith("SEV1: Complete outage") and "Cosmetic" in labels[3]
    assert [o["value"] for o in blocks["components"]["element"]["options"]][:2] == ["API", "Web app"]
    assert blocks["private"]["element"]["type"] == "checkboxes"
    assert "initial_option" not in blocks["severity"]["element"]
    assert view_of(opened[2])["blocks"][1]["element"]["initial_option"]["value"] == "2"
    assert slack.run_jobs() == 0 and incidents(slack.container.engine) == []  # nothing stored, nothing declared


def test_modal_submission_answers_field_errors_then_declares_as_a_job(slack):
    slack.command("declare", run=False)
    view = view_of(slack.recorder.of("views.open")[0])
    form = "application/x-www-form-urlencoded"
    refused = slack.post(submission(view, values(title="   ", components=["Mainframe"])), form)
    assert refused.status_code == 200
    errors = refused.json()
    assert errors["response_action"] == "errors"
    assert set(errors["errors"]) == {"title", "components"}
    assert "Say what is broken" in errors["errors"]["title"]
    assert incidents(slack.container.engine) == []

    ok = slack.post(submission(view, values("Checkout returns 502 for EU users", components=["Payments"],
                                            description="Started after the 14:00 deploy", private=True)), form)
    assert ok.status_code == 200 and ok.text == ""
    again = slack.post(submission(view, values("Checkout returns 502 for EU users")), form)  # Slack's retry
    assert again.status_code == 200
    slack.run_jobs()
    [incident] = incidents(slack.container.engine)
    assert incident.title == "Checkout returns 502 for EU users" and incident.lead_id == "U0LEAD"
    with Session(slack.container.engine) as session:
        events = session.exec(select(TimelineEvent).where(TimelineEvent.incident_id == incident.id)
                              .order_by(TimelineEvent.id)).all()
    declared = events[0]
    assert declared.data["source"] == {"components": ["Payments"], "private": True}
    assert declared.data["reason"] and "given by" not in declared.data["reason"]  # the classifier chose
    assert any(e.kind == "description" and e.text == "Started after the 14:00 deploy" for e in events)
    said = slack.recorder.of("chat.postEphemeral")[-1].text()
    assert f"Declared #{incident.id}" in said.replace("*", "") and "Picked SEV" in said


def test_message_shortcut_prefills_suggests_and_pins_the_message_first(slack):
    slack.recorder.add_message("CGENERAL", "1764900000.000100", "The site is down, every page returns 503")
    response = slack.post(shortcut("The site is down, every page returns 503"), "application/x-www-form-urlencoded")
    assert response.status_code == 200
    view = view_of(slack.recorder.of("views.open")[0])
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["title"]["element"]["initial_value"] == "The site is down, every page returns 503"
    assert blocks["severity"]["element"]["initial_option"]["value"] == "1"
    assert "Suggested SEV1 because it" in blocks["suggestion"]["elements"][0]["text"]
    slack.post(submission(view, values("The site is down, every page returns 503", sev="1")),
               "application/x-www-form-urlencoded")
    slack.run_jobs()
    [incident] = incidents(slack.container.engine)
    assert incident.severity == 1
    with Session(slack.container.engine) as session:
        first = session.exec(select(TimelineEvent).where(TimelineEvent.incident_id == incident.id)
                             .order_by(TimelineEvent.at, TimelineEvent.id)).first()
    assert first.kind == "pinned" and first.actor == "U0AISHA"
    assert first.text == "The site is down, every page returns 503"
    assert first.data["permalink"] == "https://acme.slack.com/archives/CGENERAL/p1764900000000100"
    said = slack.recorder.of("chat.postEphemeral")[-1].text()
    assert "https://acme.slack.com/archives/CGENERAL/p1764900000000100" in said


def test_modal_refused_by_slack_answers_with_the_typed_form(slack):
    slack.recorder.fail("views.open", "expired_trigger_id")
    response = slack.command("declare", run=False)
    assert "A title is needed" in slack.ack_json(response)["text"]


def test_console_declare_without_title_prompts_for_title_and_sev(db_url, clock):
    container = make_container(db_url, clock=clock)
    out = io.StringIO()
    script = "/incident declare\nLogin broken for EU users\n\n/incident declare\nTypo on the pricing page\n4\n"
    assert run_console(container, io.StringIO(script), out) == 0
    text = out.getvalue()
    assert "Title (what is broken)?" in text and "Enter for SEV" in text
    rows = sorted(incidents(container.engine), key=lambda i: i.id)
    assert [(i.title, i.severity) for i in rows][1] == ("Typo on the pricing page", 4)
    assert rows[0].title == "Login broken for EU users"
    assert "Picked SEV" in text
    container.engine.dispose()


def test_manifest_and_docs_declare_the_shortcut_and_home_tab():
    from pathlib import Path

    import yaml

    from bot.adapters.slack.modals import SHORTCUT

    repo = Path(__file__).resolve().parents[3]
    manifest = yaml.safe_load((repo / "slack-manifest.yml").read_text())
    [declare] = [s for s in manifest["features"]["shortcuts"] if s["callback_id"] == SHORTCUT]
    assert declare["type"] == "message" and declare["name"] == "Declare incident"
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"commands", "chat:write"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    incidents = (repo / "docs" / "incidents.md").read_text()
    assert "**Declare incident**" in incidents and "The declare modal" in incidents
