"""Fireline's public status page: drafted by Fireline, published by a person, nothing internal ever shown."""

from __future__ import annotations

import io
import json
import re

import pytest
from sqlmodel import Session, select

from bot.adapters.console import run_console
from bot.store.models import TimelineEvent
from bot.store.models.status import StatusUpdate
from bot.features.status.service import publish_value
from tests.support.factories import make_container

INTERNAL_TITLE = "pg-primary-7 OOM after Dave's migration 0042"


def console_run(container, script: str) -> str:
    out = io.StringIO()
    assert run_console(container, io.StringIO(script), out) == 0
    return out.getvalue()


@pytest.fixture
def page(slack):
    """The public page of the app the Slack harness drives (same HTTP app, same database)."""
    return slack.client


def test_empty_page_is_correct_and_cacheable(page):
    response = page.get("/")
    assert response.status_code == 200
    html = response.text
    assert '<meta name="viewport"' in html and "<h1>" in html and "<script" not in html
    assert "All Systems Operational" in html
    for name in ("API", "Web app", "Realtime", "Payments", "Uploads"):
        assert f'<span class="name">{name}</span>' in html
    assert html.count(">Operational</span>") == 5
    assert "No problems in the last 90 days." in html and "No incidents in the last 90 days." in html
    assert response.headers["cache-control"] == "public, max-age=30"
    etag = response.headers["etag"]
    again = page.get("/", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    summary = page.get("/api/v2/summary.json").json()
    assert summary["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert [c["name"] for c in summary["components"]] == ["API", "Web app", "Realtime", "Payments", "Uploads"]
    assert {c["status"] for c in summary["components"]} == {"operational"}
    assert summary["incidents"] == [] and summary["scheduled_maintenances"] == []
    assert page.get("/api/v2/status.json").json()["status"]["indicator"] == "none"
    assert page.get("/api/v2/incidents.json").json()["incidents"] == []
    feed = page.get("/history.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml") and "<entry>" not in feed.text


def test_publish_needs_a_responder_and_shows_only_public_words(slack, page, clock):
    slack.command(f"declare {INTERNAL_TITLE} sev1")
    slack.command("note Dave says the pool is at 500 on pg-primary-7", channel_id="CINC0001")
    slack.command("statuspage API, Payments", channel_id="CINC0001")
    plan = slack.reply_text()
    assert "draft, not published" in plan and "API: Major outage" in plan and "Payments: Major outage" in plan
    assert "Investigating" in plan
    # nothing public yet
    assert page.get("/api/v2/summary.json").json()["incidents"] == []
    with Session(slack.container.engine) as session:
        [draft] = session.exec(select(StatusUpdate)).all()
    assert INTERNAL_TITLE not in draft.body and INTERNAL_TITLE not in draft.title
    # someone not in RESPONDERS cannot publish (RESPONDERS is empty in tests)
    slack.press("status_publish", publish_value(draft), user_id="U0RANDOM")
    assert "Only responders may publish" in slack.reply_text()
    assert page.get("/api/v2/summary.json").json()["incidents"] == []


def responders_app(db_url, recorder, clock, **overrides):
    return make_container(db_url, recorder, responders="U0LEAD", **overrides, clock=clock)


@pytest.fixture
def rslack(db_url, recorder, clock):
    from tests.support.factories import slack_harness

    container = responders_app(db_url, recorder, clock)
    yield from slack_harness(container, recorder)
    container.engine.dispose()


def test_published_update_is_on_the_page_once_and_in_the_timeline(rslack, clock):
    slack = rslack
    slack.command(f"declare {INTERNAL_TITLE} sev1")
    slack.command("lead <@U0CHEN|chen>", channel_id="CINC0001")
    slack.command("note Dave says the pool is at 500 on pg-primary-7", channel_id="CINC0001")
    slack.command('statuspage API, "Web app" --text "Some API requests fail. We are on it."', channel_id="CINC0001")
    with Session(slack.container.engine) as session:
        [draft] = session.exec(select(StatusUpdate)).all()
    clock.advance(minutes=2)
    slack.press("status_publish", publish_value(draft))
    assert "Published on the status page" in slack.reply_text()
    slack.press("status_publish", publish_value(draft))  # a double click
    assert "Already on the status page" in slack.reply_text()
    with Session(slack.container.engine) as session:
        public = [e for e in session.exec(select(TimelineEvent)) if e.kind == "public_update"]
    assert len(public) == 1 and public[0].actor == "U0LEAD" and "Some API requests fail" in public[0].text
    assert public[0].data["allowed"] == "listed in RESPONDERS"

    html = slack.client.get("/").text
    assert "Some API requests fail. We are on it." in html
    assert "Major System Outage" in html and html.count(">Major outage</span>") == 2
    summary = slack.client.get("/api/v2/summary.json").json()
    assert summary["status"]["indicator"] == "critical"
    statuses = {c["name"]: c["status"] for c in summary["components"]}
    assert statuses == {"API": "major_outage", "Web app": "major_outage", "Realtime": "operational",
                        "Payments": "operational", "Uploads": "operational"}
    [incident] = summary["incidents"]
    assert incident["status"] == "investigating" and incident["impact"] == "critical"
    assert [u["body"] for u in incident["incident_updates"]] == ["Some API requests fail. We are on it."]
    assert {a["name"] for a in incident["incident_updates"][0]["affected_components"]} == {"API", "Web app"}
    feed = slack.client.get("/history.atom").text
    assert feed.count("<entry>") == 1 and "Some API requests fail" in feed

    # nothing internal anywhere public
    for path in ("/", "/status", "/history.atom", "/api/v2/summary.json", "/api/v2/status.json",
                 "/api/v2/incidents.json"):
        text = slack.client.get(path).text
        for secret in (INTERNAL_TITLE, "pg-primary", "Dave", "inc-1", "CINC0001", "U0LEAD", "U0CHEN", "chen",
                       "SEV", "pool is at 500", "timeline", "xoxb"):
            assert secret not in text, (path, secret)
        assert not re.search(r"#1(?![0-9a-f])|incident 1\b|Incident #", text), path


def test_resolve_offers_the_closing_update_and_history_keeps_the_day(rslack, clock):
    slack = rslack
    slack.command("declare Checkout broken sev2")
    slack.command("statuspage Payments", channel_id="CINC0001")
    with Session(slack.container.engine) as session:
        [draft] = session.exec(select(StatusUpdate)).all()
    slack.press("status_publish", publish_value(draft))
    clock.advance(hours=1)
    slack.command("resolve fixed the config", channel_id="CINC0001")
    offered = [r for r in [c.text() for c in slack.recorder.responses()] if "publish the closing update" in r]
    assert offered and "Resolved" in offered[-1] and "Payments: Operational" in offered[-1]
    with Session(slack.container.engine) as session:
        closing = session.exec(select(StatusUpdate).where(StatusUpdate.state == "draft")).one()
    slack.press("status_publish", publish_value(closing))
    summary = slack.client.get("/api/v2/summary.json").json()
    assert summary["incidents"] == [] and summary["status"]["indicator"] == "none"
    [past] = slack.client.get("/api/v2/incidents.json").json()["incidents"]
    assert past["status"] == "resolved" and [u["status"] for u in past["incident_updates"]] == [
        "resolved", "investigating"]
    from bot.store.models import Postmortem

    with Session(slack.container.engine) as session:
        markdown = session.exec(select(Postmortem)).one().markdown
    section = markdown.split("## Public updates", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "Published by" not in line]
    assert len(rows) == 2, section
    assert "Investigating" in rows[0] and "Payments: partial outage" in rows[0]
    assert "Resolved" in rows[1] and "Payments: operational" in rows[1] and "working normally again" in rows[1]
    html = slack.client.get("/").text
    assert "Partial outage" not in html.split('id="components"')[0]
    assert "problems on 1 day (Nov 25: partial outage)" in " ".join(html.split())


def test_console_publishes_edits_and_refuses_unknown_components(db_url, clock):
    container = make_container(db_url, clock=clock)
    out = console_run(container, "\n".join([
        "/incident declare Site is down for everyone sev1",
        "/incident statuspage Billing",
        "/incident statuspage API, Realtime partial_outage",
        '/incident statuspage --text "Realtime messages are delayed."',
        "!Publish",
        "!Publish",
    ]) + "\n")
    assert "`Billing` is not a component. Components: API, Web app, Realtime, Payments, Uploads." in out
    assert "API: Partial outage, Realtime: Partial outage" in out
    assert "*Text:* Realtime messages are delayed." in out or "Text: Realtime messages are delayed." in out
    assert "Published on the status page" in out and "Already on the status page" in out
    assert "Traceback" not in out
    with Session(container.engine) as session:
        rows = session.exec(select(StatusUpdate)).all()
    assert [(r.state, r.body) for r in rows] == [("published", "Realtime messages are delayed.")]


def test_public_text_cannot_name_people_or_channels(slack):
    slack.command("declare Checkout broken sev2")
    slack.command('statuspage Payments --text "ask <@U0CHEN> in <#CINC0001>"', channel_id="CINC0001")
    assert "names a person or a channel" in slack.reply_text()
    slack.command("statuspage", channel_id="CINC0001")
    assert "Say which components" in slack.reply_text()


def test_summary_json_has_statuspage_shape(rslack):
    slack = rslack
    slack.command("declare Uploads slow sev3")
    slack.command("statuspage Uploads", channel_id="CINC0001")
    with Session(slack.container.engine) as session:
        [draft] = session.exec(select(StatusUpdate)).all()
    slack.press("status_publish", publish_value(draft))
    body = json.loads(slack.client.get("/api/v2/summary.json").text)
    assert set(body) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    assert set(body["page"]) >= {"id", "name", "url", "time_zone", "updated_at"}
    assert body["status"]["indicator"] == "minor"
    incident = body["incidents"][0]
    assert set(incident) >= {"id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at",
                             "impact", "shortlink", "incident_updates", "components"}
    assert incident["incident_updates"][0]["status"] == "investigating"
    assert {c["status"] for c in body["components"]} == {"operational", "degraded_performance"}


def test_readme_console_walkthrough(db_url, clock):
    """docs/status-page.md's walkthrough, line by line: publish, see it on the page, resolve, close, postmortem."""
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app

    container = make_container(db_url, clock=clock)
    client = TestClient(build_http_app(container, build_bolt_app(container)))
    out = console_run(container, "/incident declare Checkout returns 502 for everyone sev1\n"
                                 "/incident statuspage API, Payments\n!Publish\n")
    summary = client.get("/api/v2/summary.json").json()
    assert {c["name"]: c["status"] for c in summary["components"] if c["status"] != "operational"} == {
        "API": "major_outage", "Payments": "major_outage"}
    out += console_run(container, ":channel inc-1-checkout-returns-502-for-everyone\n/incident resolve bad deploy\n"
                                  "!Publish\n/postmortem\n")
    assert "publish the closing update?" in out
    with Session(container.engine) as session:
        assert [r.stage for r in session.exec(select(StatusUpdate).where(StatusUpdate.state == "published")
                                              .order_by(StatusUpdate.id))] == ["investigating", "resolved"]
    assert client.get("/api/v2/status.json").json()["status"]["description"] == "All Systems Operational"
    assert "Past incidents" in client.get("/").text and "Checkout" not in client.get("/").text
    assert "Traceback" not in out
    from bot.store.models import Postmortem

    with Session(container.engine) as session:
        markdown = session.exec(select(Postmortem)).one().markdown
    section = markdown.split("## Public updates", 1)[1].split("\n## ", 1)[0]
    assert section.count("| Investigating |") == 1 and section.count("| Resolved |") == 1, section
    container.engine.dispose()


def test_scheduled_maintenance_is_announced_then_shown_while_it_runs(db_url, clock):
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app

    container = make_container(db_url, clock=clock)
    page = TestClient(build_http_app(container, build_bolt_app(container)))
    out = console_run(container, "\n".join([
        '/incident maintenance Realtime --start 2026-11-25T16:00 --end 2026-11-25T17:00 --title "Database upgrade"'
        ' --text "Messages may arrive late for a few minutes."',
        '/incident maintenance Realtime --start tomorrow --end 2026-11-25T17:00 --title "x"',
        '/incident maintenance --start 2026-11-25T16:00 --end 2026-11-25T17:00 --title "x"',
    ]) + "\n")
    assert "Scheduled maintenance on the status page: Database upgrade" in out
    assert "`tomorrow` is not a time for --start" in out and "Say which components" in out
    summary = page.get("/api/v2/summary.json").json()
    [planned] = summary["scheduled_maintenances"]
    assert planned["status"] == "scheduled" and planned["scheduled_for"] == "2026-11-25T16:00:00.000Z"
    assert summary["status"]["indicator"] == "none"
    assert "Scheduled maintenance" in page.get("/").text and "Database upgrade" in page.get("/").text
    clock.advance(hours=2, minutes=30)
    summary = page.get("/api/v2/summary.json").json()
    assert summary["status"] == {"indicator": "maintenance", "description": "Service Under Maintenance"}
    assert {c["name"]: c["status"] for c in summary["components"]}["Realtime"] == "under_maintenance"
    assert summary["scheduled_maintenances"][0]["status"] == "in_progress"
    clock.advance(hours=1)
    summary = page.get("/api/v2/summary.json").json()
    assert summary["status"]["indicator"] == "none" and summary["scheduled_maintenances"] == []
    container.engine.dispose()


def test_only_responders_schedule_maintenance(slack):
    slack.command('maintenance API --start 2026-11-25T16:00 --end 2026-11-25T17:00 --title "Upgrade"')
    assert "Only responders may schedule maintenance" in slack.reply_text()


def view_submission_body(view: dict, values: dict, user_id: str = "U0LEAD") -> str:
    import urllib.parse

    payload = {"type": "view_submission", "team": {"id": "T1"}, "user": {"id": user_id, "name": "lead"},
               "api_app_id": "A1", "token": "legacy", "trigger_id": "1.t",
               "view": {**view, "id": "V1", "hash": "h1", "state": {"values": values}}}
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def test_slack_edit_opens_a_modal_and_saving_it_changes_the_draft(rslack):
    slack = rslack
    slack.command("declare Checkout broken sev2")
    slack.command("statuspage Payments", channel_id="CINC0001")
    with Session(slack.container.engine) as session:
        [draft] = session.exec(select(StatusUpdate)).all()
    slack.press("status_edit", str(draft.id), channel_id="CINC0001")
    [opened] = slack.recorder.of("views.open")
    view = json.loads(opened.data["view"]) if isinstance(opened.data["view"], str) else opened.data["view"]
    assert view["callback_id"] == "status_edit_modal"
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["text"]["element"]["initial_value"] == draft.body
    assert [o["value"] for o in blocks["components"]["element"]["initial_options"]] == ["Payments"]

    def submit(text: str):
        values = {"title": {"v": {"value": "Payments problems"}},
                  "components": {"v": {"selected_options": [{"value": "Payments"}, {"value": "API"}]}},
                  "status": {"v": {"selected_option": {"value": "degraded_performance"}}},
                  "stage": {"v": {"selected_option": {"value": "identified"}}},
                  "text": {"v": {"value": text}}}
        return slack.post(view_submission_body(view, values), "application/x-www-form-urlencoded")

    refused = submit("Ask <@U0CHEN> for details")
    assert refused.status_code == 200 and refused.json()["response_action"] == "errors"
    assert "names a person or a channel" in refused.json()["errors"]["text"]
    saved = submit("Some card payments are slow. We know why and are fixing it.")
    assert saved.status_code == 200 and saved.text == ""
    slack.run_jobs()
    with Session(slack.container.engine) as session:
        [draft] = session.exec(select(StatusUpdate)).all()
    assert (draft.state, draft.stage, draft.title) == ("draft", "identified", "Payments problems")
    assert draft.components == {"API": "degraded_performance", "Payments": "degraded_performance"}
    assert draft.body == "Some card payments are slow. We know why and are fixing it."
    assert "Draft saved from the form." in slack.recorder.of("chat.postEphemeral")[-1].text()


def test_maintenance_that_ends_before_it_starts_says_what_to_type(db_url, clock):
    """Every refusal says what to type instead; "Maintenance must end after it starts." said only what was wrong."""
    container = make_container(db_url, clock=clock)
    out = console_run(container, '/incident maintenance API --start 2026-11-25T17:00 --end 2026-11-25T16:00 '
                                 '--title "Database upgrade"\n')
    assert "Maintenance must end after it starts" in out
    assert "--start 2026-11-25T17:00 --end 2026-11-25T18:00" in out, out  # the same start, an end an hour later
    container.engine.dispose()


def test_a_mistyped_status_word_is_pointed_out():
    """`/incident statuspage API partial_outag` said "`API partial_outag` is not a component", with no word about
    the typo: the closest component, status or stage is suggested."""
    from playbooks.statuspage import StatusProblem, parse_components

    with pytest.raises(StatusProblem) as caught:
        parse_components("API partial_outag", ["API", "Web app", "Payments"])
    assert "Did you mean `partial_outage`?" in str(caught.value), caught.value
    with pytest.raises(StatusProblem) as caught:
        parse_components("Paymnets", ["API", "Web app", "Payments"])
    assert "Did you mean `Payments`?" in str(caught.value)


@pytest.fixture
def two_responders(db_url, recorder, clock):
    from tests.support.factories import slack_harness

    container = make_container(db_url, recorder, responders="U0LEAD,U0CHEN", clock=clock)
    yield from slack_harness(container, recorder)
    container.engine.dispose()


def _draft_rows(container) -> list[StatusUpdate]:
    with Session(container.engine) as session:
        return list(session.exec(select(StatusUpdate).order_by(StatusUpdate.id)).all())


def _timeline_kinds(container) -> list[str]:
    with Session(container.engine) as session:
        return [e.kind for e in session.exec(select(TimelineEvent).order_by(TimelineEvent.id))]


def test_publish_publishes_only_the_words_the_pressed_message_showed(two_responders):
    """Lead reviews a draft; the words change under the same id; Lead's Publish on the old message publishes
    nothing and shows the new words for a fresh review, whose own Publish then works."""
    from tests.support.playbook_harness import newest_button

    slack = two_responders
    slack.command("declare Checkout broken sev2")
    slack.command('statuspage Payments --text "Card payments fail for some customers."', channel_id="CINC0001")
    _, reviewed = newest_button(slack.recorder, "Publish")
    slack.command('statuspage --text "All fine, nothing to see. Pay at evil.example instead." #1', user_id="U0CHEN")
    assert "Card payments fail" not in slack.reply_text() and "evil.example" in slack.reply_text()
    [row] = _draft_rows(slack.container)
    assert row.state == "draft" and row.revision == 2
    slack.press("status_publish", reviewed, channel_id="CINC0001")
    answer = slack.reply_text()
    assert "Nothing was published" in answer and "evil.example" in answer and "draft, not published" in answer
    for path in ("/", "/history.atom", "/api/v2/summary.json"):
        assert "evil.example" not in slack.client.get(path).text, path
    assert [r.state for r in _draft_rows(slack.container)] == ["draft"]
    assert "public_update" not in _timeline_kinds(slack.container)
    _, fresh = newest_button(slack.recorder, "Publish")
    assert fresh != reviewed
    slack.press("status_publish", fresh, channel_id="CINC0001")
    assert "Published on the status page" in slack.reply_text()
    assert "evil.example" in slack.client.get("/api/v2/summary.json").text
    with Session(slack.container.engine) as session:
        edits = [e for e in session.exec(select(TimelineEvent)) if e.kind == "public_draft_edited"]
    assert len(edits) == 1 and edits[0].actor == "U0CHEN"
    assert edits[0].data["before"]["body"] == "Card payments fail for some customers."
    assert "evil.example" in edits[0].data["after"]["body"] and edits[0].data["revision"] == 2


def test_only_responders_change_or_discard_a_waiting_draft(rslack):
    slack = rslack
    slack.command("declare Checkout broken sev2")
    slack.command('statuspage Payments --text "Card payments fail for some customers."', channel_id="CINC0001")
    [draft] = _draft_rows(slack.container)
    slack.command('statuspage --text "Pay at evil.example" --title "Moved" #1', user_id="U0EVE")
    refused = slack.reply_text()
    assert "Only responders may change the waiting public status update" in refused and "RESPONDERS" in refused
    # the Edit modal's save, by someone not in RESPONDERS
    values = {"title": {"v": {"value": "Moved"}}, "components": {"v": {"selected_options": [{"value": "Payments"}]}},
              "status": {"v": {"selected_option": {"value": "major_outage"}}},
              "stage": {"v": {"selected_option": {"value": "investigating"}}},
              "text": {"v": {"value": "Pay at evil.example"}}}
    view = {"type": "modal", "callback_id": "status_edit_modal",
            "private_metadata": json.dumps({"u": draft.id, "c": "CINC0001"})}
    assert slack.post(view_submission_body(view, values, user_id="U0EVE"),
                      "application/x-www-form-urlencoded").status_code == 200
    slack.run_jobs()
    slack.press("status_edit", str(draft.id), user_id="U0EVE", channel_id="CINC0001")
    assert not slack.recorder.of("views.open") and "Only responders may change" in slack.reply_text()
    slack.press("status_discard", str(draft.id), user_id="U0EVE", channel_id="CINC0001")
    assert "Only responders may discard" in slack.reply_text()
    [row] = _draft_rows(slack.container)
    assert (row.state, row.body, row.title, row.revision) == ("draft", "Card payments fail for some customers.",
                                                              draft.title, 1)
    assert "public_draft_edited" not in _timeline_kinds(slack.container)
    # pressing the card's Status page button (anyone) shows the waiting draft without changing it
    slack.press("status_draft", "1", user_id="U0EVE", channel_id="CINC0001")
    assert "Card payments fail for some customers." in slack.reply_text()
    assert _draft_rows(slack.container)[0].revision == 1
    slack.press("status_discard", str(draft.id), channel_id="CINC0001")
    assert "Draft discarded" in slack.reply_text()
    kinds = _timeline_kinds(slack.container)
    assert "public_draft" in kinds and "public_draft_discarded" in kinds


def test_a_publish_value_that_is_not_a_draft_and_revision_is_refused_in_words(rslack):
    slack = rslack
    slack.command("declare Checkout broken sev2")
    slack.command("statuspage Payments", channel_id="CINC0001")
    [draft] = _draft_rows(slack.container)
    for value in (str(draft.id), f"{draft.id}.x", "abc"):
        slack.press("status_publish", value, channel_id="CINC0001")
        answer = slack.reply_text()
        assert "Published on the status page" not in answer and "Traceback" not in answer, value
    assert _draft_rows(slack.container)[0].state == "draft"


def test_every_public_route_sends_security_headers_and_never_reflects_the_host(rslack, db_url, recorder, clock):
    """A forged Host header must not end up in a publicly cached answer, and no public answer may be framed,
    sniffed or run a script. The routes are read from bot.adapters.web.public, so a new one is checked too."""
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app
    from bot.adapters.web import public

    slack = rslack
    slack.command("declare Checkout broken sev2")
    slack.command("statuspage Payments", channel_id="CINC0001")
    [draft] = _draft_rows(slack.container)
    slack.press("status_publish", publish_value(draft))
    paths = [route.path for route in public.routes()]
    assert {"/", "/history.atom", "/api/v2/summary.json"} <= set(paths)
    for path in paths:
        for headers in ({}, {"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example"}):
            response = slack.client.get(path, headers=headers)
            assert response.status_code == 200, (path, headers)
            assert "evil.example" not in response.text, (path, headers)
            csp = response.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
            assert response.headers["x-frame-options"] == "DENY", path
            assert response.headers["x-content-type-options"] == "nosniff", path
            again = slack.client.get(path, headers={"If-None-Match": response.headers["etag"], **headers})
            assert again.status_code == 304 and again.headers["x-frame-options"] == "DENY", path
    assert 'href="/history.atom"' in slack.client.get("/", headers={"Host": "evil.example"}).text
    # with a configured origin, links use it whatever the Host says
    container = make_container(db_url, recorder, status_page_url="https://status.example.com/", clock=clock)
    client = TestClient(build_http_app(container, build_bolt_app(container)))
    summary = client.get("/api/v2/summary.json", headers={"Host": "evil.example"}).json()
    assert summary["page"]["url"] == "https://status.example.com"
    feed = client.get("/history.atom", headers={"Host": "evil.example"}).text
    assert "https://status.example.com/history.atom" in feed and "evil.example" not in feed
    container.engine.dispose()
