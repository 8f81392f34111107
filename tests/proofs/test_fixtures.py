"""The shared fixtures give what they promise: a fresh database at head, a wired container, an incident
declared through the service, a request Slack's signature check accepts, a Slack stand-in that stops at once."""

from __future__ import annotations

import time

from sqlmodel import Session, select

from bot.store.db import current_revisions, head_revisions
from bot.store.models import Incident
from tests.support.databases import MIGRATED
from tests.support.slack_recorder import SlackRecorder


def test_each_test_gets_a_fresh_database_at_head(db_url):
    assert current_revisions(db_url.replace("postgresql://", "postgresql+psycopg://", 1)) == head_revisions()
    assert db_url in MIGRATED


def test_an_empty_database_is_empty(empty_db_url):
    assert current_revisions(empty_db_url.replace("postgresql://", "postgresql+psycopg://", 1)) == set()


def test_containers_made_in_one_test_do_not_share_a_database(make_container, make_incident):
    first, second = make_container(), make_container()
    make_incident(first, "Only in the first")
    with Session(first.engine) as session:
        assert [i.title for i in session.exec(select(Incident))] == ["Only in the first"]
    with Session(second.engine) as session:
        assert list(session.exec(select(Incident))) == []


def test_make_container_passes_settings_through(make_container, recorder):
    container = make_container(incidents_channel="war-room")
    assert container.settings.incidents_channel == "war-room"
    assert container.settings.slack_api_url == recorder.api_url


def test_make_incident_declares_through_the_service(container, make_incident):
    incident = make_incident(container, "Checkout returns 502", 2, user_id="U0CHEN")
    with Session(container.engine) as session:
        stored = session.get(Incident, incident.id)
    assert (stored.title, stored.severity, stored.lead_id, stored.status) == ("Checkout returns 502", 2, "U0CHEN",
                                                                             "declared")


def test_a_signed_request_passes_the_apps_signature_check(slack, signed_request):
    body, headers = signed_request("command", "help")
    assert slack.client.post("/slack/events", content=body, headers=headers).status_code == 200
    body, headers = signed_request("command", "help", secret="not-the-secret")
    assert slack.client.post("/slack/events", content=body, headers=headers).status_code == 401


def test_the_slack_stand_in_stops_at_once():
    recorder = SlackRecorder()
    started = time.perf_counter()
    recorder.close()
    assert time.perf_counter() - started < 0.25  # polled every 0.5 s, stopping took 0.45 s on average
