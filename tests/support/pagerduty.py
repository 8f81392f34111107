"""PagerDuty test helpers: settings, a scripted PagerDuty (respx), signed v3 webhooks shaped like the docs."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import respx

from bot.clients.pagerduty import EventsClient, RestClient
from bot.core.container import Container
from tests.support.factories import make_container
from bot.features.pagerduty.config import PAGERDUTY_EVENTS, PAGERDUTY_REST
from tests.support.harness import SlackHarness

API = "https://pagerduty.test"
EVENTS = "https://events.pagerduty.test"
TOKEN = "pd-secret-token-0123456789"
ROUTING_KEY = "R0UT1NGKEY0123456789abcdef"
WEBHOOK_SECRET = "pd-webhook-secret-abcdef"
SERVICE = "PSVC001"
POLICY = "PPOL001"
FROM = "fireline@example.com"

REST_SETTINGS = dict(pagerduty_api_token=TOKEN, pagerduty_from_email=FROM, pagerduty_service_id=SERVICE,
                     pagerduty_escalation_policy_id=POLICY, pagerduty_api_url=API, pagerduty_events_url=EVENTS,
                     pagerduty_webhook_secret=WEBHOOK_SECRET)
EVENTS_SETTINGS = dict(pagerduty_routing_key=ROUTING_KEY, pagerduty_events_url=EVENTS, pagerduty_api_url=API,
                       pagerduty_webhook_secret=WEBHOOK_SECRET)


def build(db_url: str, recorder, clock, **overrides: Any) -> Container:
    return make_container(db_url, recorder, clock, **overrides)


def install_clients(container: Container, sleeps: list[float] | None = None, *,
                    rest_transport: httpx.BaseTransport | None = None,
                    events_transport: httpx.BaseTransport | None = None) -> list[float]:
    """Clients that record their retry waits instead of sleeping."""
    sleeps = [] if sleeps is None else sleeps
    settings = container.settings
    if settings.pagerduty_api_token is not None:
        container.parts.put(PAGERDUTY_REST, RestClient(settings, transport=rest_transport, sleep=sleeps.append))
    if settings.pagerduty_routing_key is not None:
        container.parts.put(PAGERDUTY_EVENTS, EventsClient(settings, transport=events_transport,
                                                         sleep=sleeps.append))
    return sleeps


@contextlib.contextmanager
def harness(container: Container, recorder) -> Iterator[SlackHarness]:
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app

    bolt_app = build_bolt_app(container)
    with TestClient(build_http_app(container, bolt_app), raise_server_exceptions=False) as client:
        yield SlackHarness(container, recorder, client)


@contextlib.contextmanager
def rest_harness(db_url: str, recorder, clock, **overrides: Any) -> Iterator[SlackHarness]:
    """Fireline with PagerDuty's REST settings and clients that record their retry waits, behind the real app."""
    container = build(db_url, recorder, clock, **{**REST_SETTINGS, **overrides})
    install_clients(container)
    try:
        with harness(container, recorder) as slack:
            yield slack
    finally:
        container.engine.dispose()


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    """The scripted PagerDuty for a test (a pytest fixture, loaded by tests/conftest.py)."""
    with fake_pagerduty() as fake:
        yield fake


# -- a scripted PagerDuty REST + Events API ---------------------------------------------------------------------
def _ref(kind: str, ident: str, summary: str) -> dict[str, str]:
    return {"id": ident, "type": f"{kind}_reference", "summary": summary, "self": f"{API}/{kind}s/{ident}",
            "html_url": f"https://acme.pagerduty.com/{kind}s/{ident}"}


class FakePagerDuty:
    """Behaves like PagerDuty for what Fireline uses; every request is kept in `requests`."""

    def __init__(self, router: respx.Router) -> None:
        self.router = router
        self.requests: list[httpx.Request] = []
        self.incidents: dict[str, dict[str, Any]] = {}
        self.notes: list[tuple[str, str]] = []
        self.responder_requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.oncalls: list[dict[str, Any]] = [
            {"escalation_level": 1, "user": {**_ref("user", "PCHEN01", "Chen Li"), "name": "Chen Li"},
             "schedule": _ref("schedule", "PSCH001", "Primary rotation"),
             "escalation_policy": _ref("escalation_policy", POLICY, "Engineering"),
             "start": "2026-11-23T09:00:00Z", "end": "2026-11-30T09:00:00Z"},
            {"escalation_level": 2, "user": {**_ref("user", "PMARC01", "Marcus Webb"), "name": "Marcus Webb"},
             "schedule": None, "escalation_policy": _ref("escalation_policy", POLICY, "Engineering"),
             "start": None, "end": None},
        ]
        self.users = [{"id": "PBOT001", "name": "Fireline Bot", "email": FROM},
                      {"id": "PCHEN01", "name": "Chen Li", "email": "chen@example.com"},
                      {"id": "PMARC01", "name": "Marcus Webb", "email": "marcus@example.com"}]
        # answered before anything else, in order; an exception (httpx.ReadTimeout(...)) is raised instead
        self.fail_next: list[httpx.Response | Exception] = []
        self.violations: list[str] = []
        self._numbers = itertools.count(101)
        router.route(host="pagerduty.test").mock(side_effect=self._rest)
        router.route(host="events.pagerduty.test").mock(side_effect=self._events)

    # -- queries --------------------------------------------------------------------------------------------
    def calls(self, method: str, path: str = "") -> list[httpx.Request]:
        """Requests by method and path: exact, or every path under it when it ends with / (or is empty)."""
        def wanted(request: httpx.Request) -> bool:
            if not path or path.endswith("/"):
                return request.url.path.startswith(path)
            return request.url.path == path

        return [r for r in self.requests if r.method == method and wanted(r)]

    def body(self, request: httpx.Request) -> dict[str, Any]:
        return json.loads(request.content or b"{}")

    # -- answers ----------------------------------------------------------------------------------------------
    def _problem(self, request: httpx.Request) -> str | None:
        """What real PagerDuty would refuse (headers); the Prism tests check bodies against the spec."""
        if request.headers.get("Authorization") != f"Token token={TOKEN}":
            return "wrong Authorization header"
        if not request.headers.get("Accept", "").startswith("application/vnd.pagerduty+json;version=2"):
            return "wrong Accept header"
        if request.headers.get("Content-Type") != "application/json":
            return "no Content-Type: application/json"
        if request.method != "GET" and request.headers.get("From") != FROM:
            return "writes need the From header"
        if request.url.path == "/oncalls" and request.url.params.get_list("escalation_policy_ids[]") != [POLICY]:
            return "on-call asked for the wrong policy"
        return None

    def _failure(self) -> httpx.Response | None:
        item = self.fail_next.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def _rest(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_next:
            return self._failure()
        problem = self._problem(request)
        if problem:
            self.violations.append(problem)
            return httpx.Response(400, json={"error": {"message": problem, "code": 2001}})
        path, method = request.url.path, request.method
        if method == "GET" and path == "/oncalls":
            return httpx.Response(200, json={"oncalls": self.oncalls, "limit": 100, "offset": 0, "more": False})
        if method == "GET" and path == "/users":
            query = request.url.params.get("query", "").lower()
            found = [u for u in self.users if query in u["email"].lower() or query in u["name"].lower()]
            return httpx.Response(200, json={"users": found, "more": False})
        if method == "GET" and path == "/incidents":
            key = request.url.params.get("incident_key")
            found = [i for i in self.incidents.values() if i["incident_key"] == key]
            return httpx.Response(200, json={"incidents": found, "more": False})
        if method == "POST" and path == "/incidents":
            incident = self.body(request)["incident"]
            key = incident.get("incident_key")
            if any(i["incident_key"] == key and i["status"] != "resolved" for i in self.incidents.values()):
                return httpx.Response(400, json={"error": {"message": "Invalid Input Provided", "code": 2001,
                                                           "errors": ["Open incident with key already exists"]}})
            number = next(self._numbers)
            pd_id = f"PINC{number}"
            self.incidents[pd_id] = {
                "id": pd_id, "type": "incident", "incident_number": number, "title": incident["title"],
                "status": "triggered", "incident_key": key, "urgency": incident.get("urgency"),
                "html_url": f"https://acme.pagerduty.com/incidents/{pd_id}",
                "assignments": [{"assignee": _ref("user", "PCHEN01", "Chen Li")}],
                "escalation_level": 1}
            return httpx.Response(201, json={"incident": self.incidents[pd_id]})
        if method == "PUT" and path.startswith("/incidents/"):
            pd_id = path.split("/")[2]
            if pd_id not in self.incidents:
                return httpx.Response(404, json={"error": {"message": "Not Found", "code": 2100}})
            fields = self.body(request)["incident"]
            if "status" in fields:
                self.incidents[pd_id]["status"] = fields["status"]
            if "escalation_level" in fields:
                self.incidents[pd_id]["escalation_level"] = fields["escalation_level"]
            return httpx.Response(200, json={"incident": self.incidents[pd_id]})
        if method == "POST" and path.endswith("/notes"):
            pd_id = path.split("/")[2]
            content = self.body(request)["note"]["content"]
            self.notes.append((pd_id, content))
            return httpx.Response(200, json={"note": {"id": f"PNOTE{len(self.notes)}", "content": content}})
        if method == "POST" and path.endswith("/responder_requests"):
            self.responder_requests.append(self.body(request))
            return httpx.Response(200, json={"responder_request": {"incident": {"id": path.split("/")[2]}}})
        return httpx.Response(404, json={"error": {"message": f"unexpected {method} {path}", "code": 2100}})

    def _events(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_next:
            return self._failure()
        event = self.body(request)
        if request.url.path != "/v2/enqueue" or event.get("routing_key") != ROUTING_KEY:
            self.violations.append(f"events: wrong path {request.url.path} or routing key")
            return httpx.Response(400, json={"status": "invalid event", "message": "Event object is invalid"})
        self.events.append(event)
        return httpx.Response(202, json={"status": "success", "message": "Event processed",
                                         "dedup_key": event.get("dedup_key")})


@contextlib.contextmanager
def fake_pagerduty() -> Iterator[FakePagerDuty]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        # Slack's calls go through httpx too (bot/core/http_pool.py): the loopback Slack stand-in is real.
        router.route(host="127.0.0.1").pass_through()
        yield FakePagerDuty(router)


# -- webhooks v3, shaped like PagerDuty's documented payloads ----------------------------------------------------
def incident_data(pd_id: str, *, status: str, incident_key: str | None = None, number: int = 101,
                  assignees: tuple[tuple[str, str], ...] = (("PCHEN01", "Chen Li"),),
                  policy: tuple[str, str] = (POLICY, "Engineering")) -> dict[str, Any]:
    return {
        "id": pd_id, "type": "incident", "self": f"{API}/incidents/{pd_id}",
        "html_url": f"https://acme.pagerduty.com/incidents/{pd_id}", "number": number, "status": status,
        "incident_key": incident_key or uuid.uuid4().hex, "created_at": "2026-11-25T14:00:05Z",
        "title": "[Fireline #1] SEV1: Site is down",
        "service": _ref("service", SERVICE, "API Service"),
        "assignees": [_ref("user", ident, name) for ident, name in assignees],
        "escalation_policy": _ref("escalation_policy", *policy),
        "teams": [_ref("team", "PTEAM01", "Engineering")],
        "priority": _ref("priority", "PPRI001", "P1"),
        "urgency": "high", "conference_bridge": None, "resolve_reason": None,
    }


def note_data(pd_id: str, content: str, note_id: str = "PNOTE9") -> dict[str, Any]:
    return {"incident": _ref("incident", pd_id, "Site is down"), "id": note_id, "content": content, "trimmed": False,
            "type": "incident_note"}


def webhook(event_type: str, data: dict[str, Any], *, occurred_at: datetime, event_id: str | None = None,
            agent: str | None = "Chen Li") -> dict[str, Any]:
    return {"event": {
        "id": event_id or str(uuid.uuid4()), "event_type": event_type, "resource_type": "incident",
        "occurred_at": occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "agent": _ref("user", "PCHEN01", agent) if agent else None,
        "client": {"name": "PagerDuty"}, "data": data}}


def pd_signature(body: bytes, *secrets: str) -> str:
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


def post_webhook(harness: SlackHarness, payload: dict[str, Any] | bytes, *,
                 secrets: tuple[str, ...] = (WEBHOOK_SECRET,), signature: str | None = None,
                 run: bool = True) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "PagerDuty-Webhook/V3.0",
               "X-Webhook-Id": str(uuid.uuid4())}
    sig = signature if signature is not None else (pd_signature(body, *secrets) if secrets else None)
    if sig is not None:
        headers["X-PagerDuty-Signature"] = sig
    response = harness.client.post("/webhooks/pagerduty", content=body, headers=headers)
    if run:
        harness.run_jobs()
    return response


class RecordingTransport(httpx.BaseTransport):
    """A real HTTP transport that keeps (method, path, status, body) of every exchange.

    `strip_prefix` maps the Events API's `/v2/enqueue` onto a Prism mock, which serves the spec's
    paths without the `/v2` of its server URL.
    """

    def __init__(self, strip_prefix: str = "") -> None:
        self.inner = httpx.HTTPTransport()
        self.strip_prefix = strip_prefix
        self.seen: list[tuple[str, str, int, bytes]] = []
        self.request_violations: list[dict[str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.strip_prefix and path.startswith(self.strip_prefix):
            request.url = request.url.copy_with(path=path[len(self.strip_prefix):])
        response = self.inner.handle_request(request)
        response.read()
        violations = json.loads(response.headers.get("sl-violations") or "[]")
        self.request_violations += [v for v in violations if v.get("location", [""])[0] == "request"]
        self.seen.append((request.method, path, response.status_code, response.content[:600]))
        return response

    def refused(self) -> list[tuple[str, str, int, bytes]]:
        """Exchanges Prism refused, plus any request violation it reported while answering."""
        refused = [entry for entry in self.seen if entry[2] >= 300]
        return refused + [("violation", str(v.get("location")), 0, str(v.get("message")).encode())
                          for v in self.request_violations]


def escalations(pd) -> list[int]:
    """The escalation levels Fireline asked PagerDuty for, in order."""
    return [pd.body(r)["incident"]["escalation_level"] for r in pd.calls("PUT", "/incidents/PINC101")
            if "escalation_level" in pd.body(r)["incident"]]


def incident_posts(recorder, needle: str) -> list[str]:
    """Posts in incident channels (announcements also go under the card in #incidents)."""
    return [c.text() for c in recorder.of("chat.postMessage")
            if needle in c.text() and re.fullmatch(r"CINC\d+", str(c.data.get("channel")))]
