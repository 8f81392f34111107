"""The PagerDuty clients: headers, retries that honour rate limits, errors in words, the token never shown."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from bot.clients.pagerduty import EventsClient, PagerDutyError, RestClient
from tests.support.factories import make_settings
from tests.support.pagerduty import API, EVENTS, EVENTS_SETTINGS, FROM, REST_SETTINGS, ROUTING_KEY, TOKEN


@pytest.fixture
def settings(sqlite_url):
    return make_settings(sqlite_url, **REST_SETTINGS, **{k: v for k, v in EVENTS_SETTINGS.items()
                                                          if k == "pagerduty_routing_key"})


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def rest(settings, sleeps):
    client = RestClient(settings, sleep=sleeps.append)
    yield client
    client.close()


@pytest.fixture
def events(settings, sleeps):
    client = EventsClient(settings, sleep=sleeps.append)
    yield client
    client.close()


ONCALL = {"escalation_level": 1, "user": {"id": "PU1", "summary": "Chen Li"}, "start": None, "end": None}


def test_reads_send_token_accept_and_content_type_and_follow_pages(respx_mock, rest):
    route = respx_mock.get(f"{API}/oncalls").mock(side_effect=[
        httpx.Response(200, json={"oncalls": [ONCALL], "more": True, "offset": 0, "limit": 1}),
        httpx.Response(200, json={"oncalls": [{**ONCALL, "escalation_level": 2}], "more": False}),
    ])
    oncalls = rest.list_oncalls("PPOL001")
    assert [o["escalation_level"] for o in oncalls] == [1, 2]
    first, second = route.calls[0].request, route.calls[1].request
    assert first.headers["Authorization"] == f"Token token={TOKEN}"
    assert first.headers["Accept"].startswith("application/vnd.pagerduty+json;version=2")
    assert first.headers["Content-Type"] == "application/json"
    assert "From" not in first.headers
    assert first.url.params.get_list("escalation_policy_ids[]") == ["PPOL001"]
    assert (first.url.params["offset"], second.url.params["offset"]) == ("0", "1")


def test_writes_carry_from_and_a_proper_body(respx_mock, rest):
    route = respx_mock.post(f"{API}/incidents").mock(return_value=httpx.Response(
        201, json={"incident": {"id": "PINC1", "incident_number": 7, "status": "triggered"}}))
    incident = rest.create_incident(title="[Fireline #1] SEV1: Site is down", service_id="PSVC001",
                                    incident_key="fireline-1-x", urgency="high")
    assert incident["id"] == "PINC1"
    request = route.calls.last.request
    assert request.headers["From"] == FROM
    body = json.loads(request.content)["incident"]
    assert body["service"] == {"id": "PSVC001", "type": "service_reference"}
    assert (body["type"], body["incident_key"], body["urgency"]) == ("incident", "fireline-1-x", "high")


def test_writes_without_from_email_say_what_to_set(sqlite_url):
    client = RestClient(make_settings(sqlite_url, **{**REST_SETTINGS, "pagerduty_from_email": ""}))
    with pytest.raises(PagerDutyError, match="PAGERDUTY_FROM_EMAIL is not set"):
        client.add_note("PINC1", "hello")


def test_rate_limit_waits_what_retry_after_says(respx_mock, rest, sleeps):
    route = respx_mock.put(f"{API}/incidents/PINC1").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"message": "Rate Limit Exceeded"}}),
        httpx.Response(200, json={"incident": {"id": "PINC1", "status": "acknowledged"}}),
    ])
    assert rest.set_status("PINC1", "acknowledged")["status"] == "acknowledged"
    assert route.call_count == 2 and sleeps == [7.0]


def test_rate_limit_longer_than_we_wait_is_an_error_at_once(respx_mock, rest, sleeps):
    respx_mock.put(f"{API}/incidents/PINC1").mock(return_value=httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(PagerDutyError, match="rate limiting Fireline; it asks to wait 3600 s") as info:
        rest.escalate("PINC1", 2)
    assert info.value.retryable and sleeps == []


def test_server_errors_are_retried_a_bounded_number_of_times(respx_mock, rest, sleeps):
    route = respx_mock.get(f"{API}/oncalls").mock(return_value=httpx.Response(503, text="upstream"))
    with pytest.raises(PagerDutyError, match=r"having trouble \(HTTP 503\)") as info:
        rest.list_oncalls("PPOL001")
    assert route.call_count == 4 and sleeps == [0.5, 1.0, 2.0]
    assert info.value.retryable


def test_refusals_are_explained_and_not_retried(respx_mock, rest, sleeps):
    respx_mock.post(f"{API}/incidents").mock(return_value=httpx.Response(400, json={"error": {
        "message": "Invalid Input Provided", "code": 2001, "errors": ["Service not found"]}}))
    with pytest.raises(PagerDutyError) as info:
        rest.create_incident(title="t", service_id="PNOPE", incident_key="k", urgency="high")
    assert str(info.value) == ("PagerDuty REST API rejected the request to open a PagerDuty incident (HTTP 400): "
                               "Invalid Input Provided (Service not found).")
    assert not info.value.retryable and sleeps == []


def test_bad_token_names_the_setting_and_never_shows_the_token(respx_mock, rest, caplog):
    caplog.set_level(logging.DEBUG)
    respx_mock.get(f"{API}/oncalls").mock(return_value=httpx.Response(401, json={"error": {"message": "Unauthorized"}}))
    with pytest.raises(PagerDutyError, match="Check PAGERDUTY_API_TOKEN") as info:
        rest.list_oncalls("PPOL001")
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value.details)
    assert TOKEN not in caplog.text
    assert "PagerDuty REST API GET /oncalls -> 401" in caplog.text


def test_timeouts_repeat_only_what_is_safe_to_repeat(respx_mock, rest, sleeps):
    reads = respx_mock.get(f"{API}/users").mock(side_effect=[httpx.ReadTimeout("slow"),
                                                        httpx.Response(200, json={"users": []})])
    assert rest.find_user("chen") is None and reads.call_count == 2
    notes = respx_mock.post(f"{API}/incidents/PINC1/notes").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(PagerDutyError, match="did not answer in time while trying to add a note"):
        rest.add_note("PINC1", "hello")
    assert notes.call_count == 1  # a note that may have arrived is not posted twice


def test_unreachable_pagerduty_says_where_it_tried(respx_mock, rest):
    respx_mock.get(f"{API}/oncalls").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(PagerDutyError, match="Could not reach PagerDuty REST API at https://pagerduty.test"):
        rest.list_oncalls("PPOL001")


def test_events_go_to_v2_enqueue_with_the_routing_key_in_the_body_only(respx_mock, events, caplog):
    caplog.set_level(logging.DEBUG)
    route = respx_mock.post(f"{EVENTS}/v2/enqueue").mock(return_value=httpx.Response(
        202, json={"status": "success", "dedup_key": "fireline-1-x"}))
    events.send("trigger", "fireline-1-x", payload={"summary": "s", "severity": "critical", "source": "fireline"})
    events.send("resolve", "fireline-1-x")
    trigger, resolve = (json.loads(c.request.content) for c in route.calls)
    assert trigger["routing_key"] == ROUTING_KEY and trigger["event_action"] == "trigger"
    assert trigger["payload"]["severity"] == "critical" and trigger["dedup_key"] == "fireline-1-x"
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "fireline-1-x"}
    assert all(ROUTING_KEY not in str(c.request.headers) for c in route.calls)
    assert ROUTING_KEY not in caplog.text


def test_clients_refuse_to_exist_without_credentials(sqlite_url):
    settings = make_settings(sqlite_url)
    with pytest.raises(PagerDutyError, match="PAGERDUTY_API_TOKEN is not set"):
        RestClient(settings)
    with pytest.raises(PagerDutyError, match="PAGERDUTY_ROUTING_KEY is not set"):
        EventsClient(settings)
