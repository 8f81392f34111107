"""Every request Fireline sends to PagerDuty, replayed against Prism mocks of the official specs.

Prism checks each request (path, query, headers, body) against `pagerduty-rest.json` and
`pagerduty-events-v2.json`; any refusal or reported request violation fails the test.
"""

from __future__ import annotations

import pytest

from bot.features.pagerduty import oncall
from tests.support.pagerduty import (
    EVENTS_SETTINGS,
    REST_SETTINGS,
    RecordingTransport,
    build,
    harness,
    install_clients,
)

CHANNEL = "CINC0001"
# Prism answers with the spec's examples: this is the example user's email, so the requester is found.
PRISM_USER_EMAIL = "125.greenholt.earline@graham.name"
OTHER_PRISM_USER = "126_dvm_kyler_kuhn@beahan.name"


@pytest.fixture
def sqlite_only(sqlite_url):
    return sqlite_url


def test_rest_requests_validate_against_the_official_spec(sqlite_only, recorder, clock, prism):
    settings = {**REST_SETTINGS, "pagerduty_api_url": prism("pagerduty"), "pagerduty_from_email": PRISM_USER_EMAIL}
    container = build(sqlite_only, recorder, clock, **settings)
    transport = RecordingTransport()
    install_clients(container, rest_transport=transport)
    recorder.emails["U0MARC"] = OTHER_PRISM_USER
    with harness(container, recorder) as slack:
        slack.command("", command="/oncall")  # GET /oncalls
        slack.command("declare Site is down sev1")  # GET /incidents by key, POST /incidents, POST notes
        slack.command("page <@U0MARC|marcus>", channel_id=CHANNEL)  # GET /users, POST responder_requests
        slack.command("page PENG999", channel_id=CHANNEL)
        slack.command("note Checking the database", channel_id=CHANNEL)  # POST notes
        clock.advance(minutes=15)
        slack.run_jobs()  # PUT escalation_level
        slack.command("ack", channel_id=CHANNEL)  # PUT status acknowledged
        slack.command("sev 3", channel_id=CHANNEL)  # PUT urgency low
        slack.command("resolve Bad deploy", channel_id=CHANNEL)  # PUT status resolved
        slack.command("status investigating", channel_id=CHANNEL)  # PUT status triggered (reopen)
    oncall.refresh(container)
    seen = {(method, path.split("/")[-1] if path.count("/") > 1 else path) for method, path, _, _ in transport.seen}
    assert {("GET", "/oncalls"), ("GET", "/incidents"), ("POST", "/incidents"), ("POST", "notes"),
            ("GET", "/users"), ("POST", "responder_requests")} <= seen
    puts = [body for method, _, _, body in transport.seen if method == "PUT"]
    assert len(puts) == 5  # escalate, acknowledge, urgency, resolve, reopen
    assert transport.refused() == []
    assert not any("Could not" in c.text() for c in recorder.of("chat.postMessage"))
    container.engine.dispose()


def test_events_requests_validate_against_the_official_spec(sqlite_only, recorder, clock, prism):
    settings = {**EVENTS_SETTINGS, "pagerduty_events_url": prism("pagerduty_events")}
    container = build(sqlite_only, recorder, clock, **settings)
    transport = RecordingTransport(strip_prefix="/v2")
    install_clients(container, events_transport=transport)
    with harness(container, recorder) as slack:
        slack.command("declare Login broken sev2")
        slack.command("ack", channel_id=CHANNEL)
        slack.command("resolve", channel_id=CHANNEL)
        slack.command("status investigating", channel_id=CHANNEL)
    assert [(method, path, status) for method, path, status, _ in transport.seen] == [
        ("POST", "/v2/enqueue", 202)] * 4
    assert transport.refused() == []
    container.engine.dispose()
