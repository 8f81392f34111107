"""Hostile input at the HTTP layer: bodies over the limit, malformed headers, odd signed payloads.

The successor of tests/proofs/test_hostile.py for everything before a handler's own logic: the real
HTTP app (and its Bolt app) with every webhook on, Sentry initialised for real with a transport that
keeps its events, and the log records of every request. Nothing here may answer 500, log above INFO or
send a Sentry event; the route sweep at the end iterates over the app's own routes, so a route added
later is covered without editing this file.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import urllib.parse

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from bot.core import metrics
from bot.app.assembly import build_container
from bot.store.models import Alert, Job
from bot.adapters.http.server import MAX_BODY, build_http_app
from bot.adapters.slack.bolt import build_bolt_app
from tests.support.factories import make_container, make_settings
from tests.support.alerts import ALERT_SECRET, post_alert, sentry_alert
from tests.support.signing import action_body, sign, slash_body

PD_SECRET = "pd-webhook-secret-abcdef"
DSN = "https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.example/42"
WEBHOOK_LIMIT = 512 * 1024


@pytest.fixture
def web(sqlite_url, recorder, clock, sentry_kept):
    """The HTTP app with Slack, alert and PagerDuty webhooks on, and Sentry keeping its events."""
    from bot.app.observability import init_sentry

    sent, transport = sentry_kept
    settings = make_settings(sqlite_url, recorder, alerts_webhook_secret=ALERT_SECRET,
                             pagerduty_webhook_secret=PD_SECRET, sentry_dsn=DSN)
    container = build_container(settings, clock=clock)
    init_sentry(settings, transport=transport)
    app = build_http_app(container, build_bolt_app(container))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.app_under_test = app  # type: ignore[attr-defined]
        client.container = container  # type: ignore[attr-defined]
        client.sentry = sent  # type: ignore[attr-defined]
        yield client
    container.engine.dispose()


def sentry_events(client) -> list[dict]:
    import sentry_sdk

    sentry_sdk.flush()
    return [event for event in client.sentry if event.get("exception") or event.get("level") in ("error", "fatal")]


def loud(caplog) -> list[str]:
    return [f"{r.levelname} {r.name}: {r.getMessage()[:200]}" for r in caplog.records if r.levelno > logging.INFO]


def stored_nothing(container) -> bool:
    with Session(container.engine) as session:
        return session.exec(select(Alert)).first() is None and session.exec(select(Job)).first() is None


# -- 1. bodies over the limit: never read past it ------------------------------------------------------------
def asgi_call(app, path: str, headers: list[tuple[bytes, bytes]], chunks, method: str = "POST"):
    """Run one request through the ASGI app; returns (status, body, bytes the app pulled from the client)."""
    pulled = {"bytes": 0, "calls": 0}
    sent: list[dict] = []
    source = iter(chunks)
    following = next(source, None)

    async def receive():
        nonlocal following
        pulled["calls"] += 1
        if following is None:
            await asyncio.sleep(3600)  # the client has nothing more to say: an app waiting here hangs
        chunk, following = following, next(source, None)
        pulled["bytes"] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": following is not None}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"fireline.test"), *headers], "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8080)}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, pulled


def endless(size: int = 64 * 1024, total: int = 40_000_000):
    """An unsigned body streamed in chunks (no Content-Length): 40 MB unless someone stops reading."""
    chunk = b"a" * size
    for _ in range(total // size):
        yield chunk


LIMITS = [("/slack/events", MAX_BODY), ("/webhooks/alerts", WEBHOOK_LIMIT), ("/webhooks/pagerduty", WEBHOOK_LIMIT),
          ("/no/such/route", WEBHOOK_LIMIT)]


@pytest.mark.parametrize("path,limit", LIMITS[:3])
def test_a_streamed_body_over_the_limit_is_413_and_read_no_further(web, caplog, path, limit):
    content = [(b"content-type", b"application/x-www-form-urlencoded")]
    with caplog.at_level(logging.INFO):
        status, body, pulled = asgi_call(web.app_under_test, path, content, endless())
    assert status == 413, body
    assert pulled["bytes"] <= limit + 64 * 1024, f"read {pulled['bytes']} bytes of a body over {limit}"
    assert b"too large" in body
    assert sentry_events(web) == [] and loud(caplog) == []  # an attacker's refused body is no error to report


def test_real_uvicorn_stops_a_chunked_body_at_the_limit(web):
    """On the real server (uvicorn on loopback): 413 while the client is still streaming, then the close."""
    import select
    import socket
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(web.app_under_test, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    sent, answer = 0, b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /webhooks/alerts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
            while sent < 50_000_000:
                if select.select([sock], [], [], 0)[0]:
                    answer = sock.recv(65536)
                    break
                try:
                    sock.sendall(chunk)  # blocking: a chunk is never cut in two
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    break
                sent += 0x10000
            answer = answer or sock.recv(65536)
    finally:
        server.should_exit = True
        thread.join(10)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert sent < 20_000_000, f"the client streamed {sent} bytes before the answer"


def test_a_route_added_later_is_guarded_too(sqlite_url, recorder, clock):
    """A feature's route (the `http.routes` hook) that reads its body whole gets the default limit for free."""
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    container = make_container(sqlite_url, recorder, clock=clock)

    async def echo_length(request):
        return PlainTextResponse(str(len(await request.body())))

    container.registry.hooks.setdefault("http.routes", []).append(
        lambda container, worker=None: [Route("/later", echo_length, methods=["POST"])])
    app = build_http_app(container, build_bolt_app(container))
    status, body, pulled = asgi_call(app, "/later", [], endless())
    assert status == 413 and pulled["bytes"] <= WEBHOOK_LIMIT + 64 * 1024, (status, pulled)
    assert asgi_call(app, "/later", [], [b"x" * 1000])[:2] == (200, b"1000")
    container.engine.dispose()


@pytest.mark.parametrize("path,limit", LIMITS)
def test_a_declared_length_over_the_limit_is_413_before_reading_anything(web, path, limit):
    headers = [(b"content-type", b"application/json"), (b"content-length", b"400000000")]
    status, body, pulled = asgi_call(web.app_under_test, path, headers, endless())
    assert status == 413 and pulled["calls"] == 0, (status, body, pulled)
    assert f"at most {limit}".encode() in body


@pytest.mark.parametrize("value", [b"abc", b"-1", b"", b"1e9", b"9" * 40, b"12 34", "\u0663".encode()])
@pytest.mark.parametrize("path", [p for p, _ in LIMITS])
def test_a_malformed_content_length_is_400_never_500(web, path, value):
    status, body, _ = asgi_call(web.app_under_test, path, [(b"content-length", value)], [b"x"])
    assert status == 400 and b"Content-Length" in body, (status, body)


def test_bodies_within_the_limit_still_work(web):
    """The guard passes what it should: a signed alert just under the webhook limit, and a slash command."""
    padding = "x" * (WEBHOOK_LIMIT - 2000)
    response = post_alert(web, {"title": "Disk full", "text": padding[:1000], "pad": padding})
    assert response.status_code == 202, response.text
    body = slash_body("help")
    answer = web.post("/slack/events", content=body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                               **sign(body)})
    assert answer.status_code == 200 and "incident" in answer.text


# -- 2. a 500 of any cause is counted, logged once, and answered plainly ---------------------------------------
def test_an_unhandled_exception_is_a_plain_500_counted_on_metrics(web, monkeypatch, caplog):
    def broken(container):
        raise RuntimeError("schema check exploded")

    monkeypatch.setattr("bot.adapters.http.server.schema_state", broken)
    before = metrics.sample_value("fireline_http_server_errors_total", {"endpoint": "/readyz"})
    with caplog.at_level(logging.INFO):
        response = web.get("/readyz")
    assert response.status_code == 500 and "exploded" not in response.text
    assert metrics.sample_value("fireline_http_server_errors_total", {"endpoint": "/readyz"}) == before + 1
    assert "fireline_http_server_errors_total" in web.get("/metrics").text
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "RuntimeError" in errors[0].getMessage()


# -- 3. malformed signatures and headers: 401, quietly --------------------------------------------------------
SLASH = slash_body("declare Checkout down sev1", response_url="https://hooks.slack.com/commands/T1/1/SeCrEt")
ACTION = action_body("incident:ack", "1", response_url="https://hooks.slack.com/actions/T1/1/SeCrEt")
BAD_TIMESTAMPS = ["abc", "", "1e9", "9" * 5000, " 17", "-5", "\u0661\u0667"]


def bad_slack_headers() -> list[dict[str, str]]:
    now = str(int(time.time()))
    cases = [{"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + "0" * 64} for ts in BAD_TIMESTAMPS]
    cases += [{"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=\u00ff\u00ff\u00ff"},
              {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "\u00e9"},
              {"X-Slack-Request-Timestamp": now}, {"X-Slack-Signature": "v0=abc"}]
    return cases


def post_raw(client, path: str, body: bytes, headers: dict[str, str]):
    encoded = {k: v.encode() for k, v in headers.items()}  # UTF-8 bytes on the wire, read back as latin-1
    return client.post(path, content=body, headers=encoded)


@pytest.mark.parametrize("body", [SLASH, ACTION], ids=["slash_command", "interaction"])
@pytest.mark.parametrize("headers", bad_slack_headers())
def test_malformed_slack_signature_headers_are_401_quietly(web, caplog, body, headers):
    with caplog.at_level(logging.DEBUG):
        response = post_raw(web, "/slack/events", body.encode(),
                            {"Content-Type": "application/x-www-form-urlencoded", **headers})
    assert response.status_code == 401, response.text
    assert loud(caplog) == [] and sentry_events(web) == []
    assert stored_nothing(web.container)


@pytest.mark.parametrize("headers", bad_slack_headers()[:9])
def test_bolts_own_signature_check_is_401_for_malformed_headers(web, caplog, headers):
    """Bolt's RequestVerification (what Socket Mode skips and any other adapter would use) with the same headers."""
    from slack_bolt import BoltRequest

    bolt_app = build_bolt_app(web.container)
    with caplog.at_level(logging.DEBUG):
        response = bolt_app.dispatch(BoltRequest(body=ACTION, headers={
            "content-type": "application/x-www-form-urlencoded", **{k.lower(): v for k, v in headers.items()}}))
    assert response.status == 401
    assert loud(caplog) == [] and sentry_events(web) == []


@pytest.mark.parametrize("body", [b"command=%2Fincident&text=\xff\xfe", b"payload=\xff", b"\xff" * 10],
                         ids=["command", "payload", "bytes"])
def test_a_body_that_is_not_utf8_is_401_with_any_signature(web, caplog, body):
    now = str(int(time.time()))
    for signature in ("v0=" + "0" * 64, "v0=\u00ff"):
        with caplog.at_level(logging.DEBUG):
            response = post_raw(web, "/slack/events", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                             "X-Slack-Request-Timestamp": now,
                                                             "X-Slack-Signature": signature})
        assert response.status_code == 401, response.text
    assert loud(caplog) == [] and sentry_events(web) == []


WEBHOOK_SIGNATURES = [
    ("/webhooks/alerts", {"X-Fireline-Signature": "sha256=\u00e9"}),
    ("/webhooks/alerts", {"X-PagerDuty-Signature": "v1=\u00e9"}),
    ("/webhooks/alerts", {"Sentry-Hook-Signature": "\u00e9\u00ff"}),
    ("/webhooks/alerts", {"X-Fireline-Signature": "sha256=" + "\u00ff" * 64}),
    ("/webhooks/pagerduty", {"X-PagerDuty-Signature": "v1=\u00e9"}),
    ("/webhooks/pagerduty", {"X-PagerDuty-Signature": "v1=\u00e9, v1=" + "0" * 64}),
    ("/webhooks/pagerduty", {"X-PagerDuty-Signature": "\u00e9"}),
]


@pytest.mark.parametrize("path,headers", WEBHOOK_SIGNATURES)
@pytest.mark.parametrize("body", [b'{"title": "Site down"}', b'{"title": "\xff"}'], ids=["json", "not_utf8"])
def test_malformed_webhook_signatures_are_401_quietly(web, caplog, path, headers, body):
    with caplog.at_level(logging.DEBUG):
        response = post_raw(web, path, body, {"Content-Type": "application/json", **headers})
    assert response.status_code == 401, response.text
    assert response.json()["error"]
    assert loud(caplog) == [] and sentry_events(web) == []
    assert stored_nothing(web.container)


# -- 4. signed but odd -----------------------------------------------------------------------------------------
def pd_sign(body: bytes) -> str:
    return "v1=" + hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()


DEEP = b'{"event": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def test_deeply_nested_json_is_422_with_a_reason_on_both_webhooks(web, caplog):
    with caplog.at_level(logging.INFO):
        pagerduty = web.post("/webhooks/pagerduty", content=DEEP, headers={"Content-Type": "application/json",
                                                                           "X-PagerDuty-Signature": pd_sign(DEEP)})
        alerts = post_alert(web, None, raw=DEEP)
    for response in (pagerduty, alerts):
        assert response.status_code == 422, response.text
        assert "nested" in response.json()["error"]
    assert loud(caplog) == [] and sentry_events(web) == []


def interaction(kind: str) -> dict:
    """The payloads Slack sends to the interactivity URL, in the shapes of Slack's docs (trimmed)."""
    user = {"id": "U0LEAD", "username": "lead", "name": "lead", "team_id": "T1"}
    team = {"id": "T1", "domain": "acme"}
    view = {"id": "V1", "type": "modal", "callback_id": "declare", "private_metadata": "", "hash": "1.2",
            "state": {"values": {"b1": {"title": {"type": "plain_text_input", "value": "Checkout down"}}}},
            "title": {"type": "plain_text", "text": "Declare"}, "blocks": []}
    base = {"type": kind, "team": team, "user": user, "api_app_id": "A1", "token": "legacy",
            "trigger_id": f"{time.time_ns()}.t"}
    if kind == "view_submission":
        return {**base, "view": view, "response_urls": [], "is_enterprise_install": False}
    if kind == "view_closed":
        return {**base, "view": view, "is_cleared": False}
    if kind == "shortcut":
        return {**base, "callback_id": "declare_incident", "action_ts": "1700000000.1"}
    if kind == "message_action":
        return {**base, "callback_id": "declare_from_message", "action_ts": "1700000000.2",
                "channel": {"id": "CGENERAL", "name": "general"}, "message_ts": "1700000000.000100",
                "message": {"type": "message", "text": "checkout is down", "ts": "1700000000.000100"},
                "response_url": "https://hooks.slack.com/app/T1/1/SeCrEt"}
    if kind == "block_suggestion":
        return {**base, "action_id": "service", "block_id": "b1", "value": "chec", "view": view}
    if kind == "block_actions_in_a_view":  # a button inside a modal: no channel, no response_url
        return {**base, "type": "block_actions", "container": {"type": "view", "view_id": "V1"}, "view": view,
                "actions": [{"type": "button", "action_id": "incident:ack", "block_id": "b1", "value": "1",
                             "action_ts": "1700000000.3"}]}
    return {**base}  # a type Slack may add one day


@pytest.mark.parametrize("kind", ["view_submission", "view_closed", "shortcut", "message_action",
                                  "block_suggestion", "block_actions_in_a_view", "something_new"])
def test_every_interaction_type_is_acknowledged_without_an_error(web, caplog, kind):
    body = urllib.parse.urlencode({"payload": json.dumps(interaction(kind))})
    with caplog.at_level(logging.INFO):
        response = web.post("/slack/events", content=body,
                            headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)})
    assert response.status_code == 200, response.text
    assert loud(caplog) == [] and sentry_events(web) == []
    assert "KeyError" not in response.text


def without(payload: dict, *path: str) -> dict:
    node = payload
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return payload


ODD_SIGNED = {  # signed (so only Slack or a leaked secret could send them), shaped as Bolt's matchers do not expect
    "view without a type": without(interaction("view_submission"), "view", "type"),
    "view_closed without a view": without(interaction("view_closed"), "view"),
    "view as a string": {**interaction("view_submission"), "view": "V1"},
    "shortcut without a callback_id": without(interaction("shortcut"), "callback_id"),
    "block_actions without actions": {**interaction("block_actions_in_a_view"), "actions": []},
    "block_actions with a list of strings": {**interaction("block_actions_in_a_view"), "actions": ["x"]},
    "type as a number": {**interaction("shortcut"), "type": 7},
}


@pytest.mark.parametrize("name", sorted(ODD_SIGNED))
def test_odd_signed_payloads_are_acknowledged_without_a_key_error(web, caplog, name):
    body = urllib.parse.urlencode({"payload": json.dumps(ODD_SIGNED[name])})
    with caplog.at_level(logging.INFO):
        response = web.post("/slack/events", content=body,
                            headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)})
    assert response.status_code == 200, response.text
    assert loud(caplog) == [] and sentry_events(web) == []


def test_an_event_without_a_type_is_acknowledged_quietly(web, caplog):
    body = json.dumps({"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                       "event_id": "Ev9", "event_time": int(time.time()), "event": {"text": "no type"}})
    with caplog.at_level(logging.INFO):
        response = web.post("/slack/events", content=body, headers={"Content-Type": "application/json", **sign(body)})
    assert response.status_code == 200, response.text
    assert loud(caplog) == [] and sentry_events(web) == []


def test_a_replayed_sentry_delivery_with_a_new_request_id_is_a_duplicate(web):
    payload = sentry_alert()
    first = post_alert(web, payload, header="Sentry-Hook-Signature",
                       extra={"Sentry-Hook-Resource": "event_alert", "Request-ID": "req-1"})
    assert first.status_code == 202, first.text
    replay = post_alert(web, payload, header="Sentry-Hook-Signature",  # the captured bytes, a new (unsigned) id
                        extra={"Sentry-Hook-Resource": "event_alert", "Request-ID": "req-2-forged"})
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate", replay.text
    with Session(web.container.engine) as session:
        [alert] = session.exec(select(Alert)).all()
    assert alert.count == 1


# -- 5. every route, every malformed header and body ----------------------------------------------------------
def hostile_requests() -> list[tuple[str, dict[str, str], bytes]]:
    now = str(int(time.time()))
    junk = [
        ("bad timestamp", {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"}, SLASH.encode()),
        ("long timestamp", {"X-Slack-Request-Timestamp": "9" * 5000, "X-Slack-Signature": "v0=00"}, b"a=b"),
        ("non-ascii signatures", {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=\u00ff",
                                  "X-Fireline-Signature": "sha256=\u00e9", "X-PagerDuty-Signature": "v1=\u00e9",
                                  "Sentry-Hook-Signature": "\u00e9"}, b'{"title": "x"}'),
        ("not utf-8", {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=00",
                       "X-Fireline-Signature": "sha256=00", "Content-Type": "application/json"}, b"\xff\xfe{"),
        ("deep json", {"Content-Type": "application/json", "X-PagerDuty-Signature": "v1=00"}, DEEP[:20_000]),
        ("odd content type", {"Content-Type": "multipart/form-data; boundary=\u00ff"}, b"--\xff--"),
        ("odd request ids", {"X-Request-Id": "\u00ff" * 300, "Fly-Request-Id": "\r"}, b""),
        ("authorization", {"Authorization": "Bearer \u00ff\u00e9"}, b""),
    ]
    return junk


def every_route(app) -> list[tuple[str, str]]:
    pairs = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method != "HEAD":
                pairs.append((method, route.path))
    return pairs


def test_every_route_refuses_malformed_headers_and_bodies_without_a_500(web, caplog):
    routes = every_route(web.app_under_test)
    assert ("POST", "/slack/events") in routes and ("POST", "/webhooks/alerts") in routes
    assert ("POST", "/webhooks/pagerduty") in routes and ("GET", "/metrics") in routes
    counted = {path: metrics.sample_value("fireline_http_server_errors_total", {"endpoint": path})
               for path in [*(p for _, p in routes), "other"]}
    failures = []
    with caplog.at_level(logging.INFO):
        for method, path in routes:
            for name, headers, body in hostile_requests():
                response = web.request(method, path, content=body,
                                       headers={k: v.encode() for k, v in headers.items()})
                if response.status_code >= 500 and not (path == "/readyz" and response.status_code == 503):
                    failures.append(f"{method} {path} {name}: {response.status_code} {response.text[:100]}")
            for value in (b"abc", b"-1", b"9" * 30):
                response = web.request(method, path, content=b"x", headers={"content-length": value})
                if response.status_code != 400:
                    failures.append(f"{method} {path} Content-Length {value[:5]!r}: {response.status_code}")
    assert failures == []
    assert loud(caplog) == [] and sentry_events(web) == []
    assert stored_nothing(web.container)
    assert counted == {path: metrics.sample_value("fireline_http_server_errors_total", {"endpoint": path})
                       for path in counted}


# -- 6. Sentry events and logs never carry a response_url ------------------------------------------------------
SECRET_PATHS = ["SeCrEt1", "SeCrEt2", "SeCrEt3", "SeCrEt4", "SeCrEt5", "SeCrEt6", "SeCrEt7"]


def slack_json(payload: dict) -> str:
    """JSON as Slack writes it, slashes escaped (`https:\\/\\/hooks.slack.com\\/...`)."""
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/")


def leaked_paths(blob: object) -> list[str]:
    text = json.dumps(blob, default=str)
    return [secret for secret in SECRET_PATHS if secret in text]


def test_before_send_scrubs_response_urls_and_bodies_whatever_the_names():
    from bot.app.observability import make_before_send

    payload = slack_json({"type": "block_actions", "response_url": "https://hooks.slack.com/actions/T1/1/SeCrEt1"})
    form = urllib.parse.urlencode({"payload": payload})
    event = {
        "message": f"failed with {payload}",
        "exception": {"values": [{"type": "KeyError", "value": "'https://hooks.slack-gov.com/commands/T1/2/SeCrEt2'",
                                  "stacktrace": {"frames": [{"function": "handle", "vars": {
                                      "blob": repr(form.encode()), "zz": payload, "q": repr({"response_url": "x"}),
                                      "where": "https://hooks.slack.com/commands/T1/3/SeCrEt3",
                                      "pairs": "text=hi&response_url=http%3A%2F%2F127.0.0.1%3A9%2FSeCrEt4&x=1",
                                      "d": "{'text': 'hi', 'response_url': 'http://127.0.0.1:9/SeCrEt5'}",
                                  }}]}}]},
        "breadcrumbs": {"values": [{"category": "slack_sdk.webhook.client", "level": "debug",
                                    "message": "Sending a request - url: http://127.0.0.1:9/response/SeCrEt6, "
                                               "body: {\"text\": \"hi\"}"}]},
        "extra": {"body": form, "raw": f"payload={urllib.parse.quote(payload)}"},
        "request": {"data": "command=%2Fincident&response_url=http%3A%2F%2F127.0.0.1%2FSeCrEt7&text=declare"},
    }
    scrubbed = make_before_send(make_settings("sqlite://"))(event, {})
    assert leaked_paths(scrubbed) == [], json.dumps(scrubbed, indent=1)[:3000]
    assert "hooks.slack" not in json.dumps(scrubbed)
    assert "command=%2Fincident" in scrubbed["request"]["data"]  # the rest of a body stays useful


def test_a_captured_sentry_event_from_a_failed_request_carries_no_response_url(web, monkeypatch):
    from slack_bolt import App

    def broken(self, request):
        raise RuntimeError("dispatch exploded")

    monkeypatch.setattr(App, "dispatch", broken)
    payload = slack_json({"type": "block_actions", "user": {"id": "U0LEAD"}, "trigger_id": "1.t",
                          "response_url": "https://hooks.slack.com/actions/T1/1/SeCrEt1",
                          "actions": [{"action_id": "incident:ack", "value": "1", "action_ts": "1.1"}]})
    body = urllib.parse.urlencode({"payload": payload})
    before = metrics.sample_value("fireline_http_server_errors_total", {"endpoint": "/slack/events"})
    response = web.post("/slack/events", content=body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                                **sign(body)})
    assert response.status_code == 200  # Slack still gets our "something went wrong" answer
    # ... and the fault is counted with the 500s
    assert metrics.sample_value("fireline_http_server_errors_total", {"endpoint": "/slack/events"}) == before + 1
    events = sentry_events(web)
    assert events and any(frame.get("vars") for event in events
                          for value in (event.get("exception") or {}).get("values", [])
                          for frame in (value.get("stacktrace") or {}).get("frames", []))
    assert leaked_paths(web.sentry) == []
    assert "hooks.slack.com" not in json.dumps(web.sentry)


def test_debug_logs_of_slack_sdk_never_show_a_response_url(recorder):
    """At LOG_LEVEL=DEBUG slack_sdk logs the URL of every response_url post: the handler redacts it."""
    import io

    from slack_sdk.webhook import WebhookClient

    from bot.core.logging_setup import make_handler

    stream = io.StringIO()
    handler = make_handler(make_settings("sqlite://", recorder, log_level="DEBUG"), stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        url = recorder.response_url("SeCrEt6")
        assert WebhookClient(url).send(text="hello").status_code == 200
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    output = stream.getvalue()
    assert "Sending a request" in output  # the lines are there, without the URL
    assert "SeCrEt6" not in output and "/response/" not in output, output


# -- 7. an exception inside a Bolt listener is a fault too -------------------------------------------------------
def modal_submission(private_metadata: str) -> str:
    payload = {"type": "view_submission", "team": {"id": "T1"}, "user": {"id": "U0LEAD"}, "api_app_id": "A1",
               "token": "legacy", "trigger_id": "1.t",
               "view": {"id": "V1", "hash": "h1", "type": "modal", "callback_id": "status_edit_modal",
                        "private_metadata": private_metadata, "state": {"values": {
                            "title": {"v": {"value": "Payments slow"}},
                            "text": {"v": {"value": "Card payments are slow for some customers."}},
                            "components": {"v": {"selected_options": [{"value": "Payments"}]}}}}}}
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def test_an_exception_in_a_bolt_listener_is_counted_with_the_500s(web, monkeypatch):
    """Bolt's error handler answered Slack 200 and logged, but the fault never reached /metrics
    (docs/operations.md: "every exception nobody handled, of any cause" is counted)."""
    import bot.features.status.slack_modal as modal

    def broken(view):
        raise RuntimeError("listener exploded")

    monkeypatch.setattr(modal, "submitted", broken)
    body = modal_submission('{"u": 1, "c": "C1"}')
    before = metrics.sample_value("fireline_http_server_errors_total", {"endpoint": "/slack/events"}) or 0
    response = web.post("/slack/events", content=body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                                **sign(body)})
    assert response.status_code == 200
    assert metrics.sample_value("fireline_http_server_errors_total", {"endpoint": "/slack/events"}) == before + 1


@pytest.mark.parametrize("metadata", ["not json", "[1]", '{"u": "abc", "c": "C1"}', '{"u": 1, "c": ["C1"]}', ""])
def test_a_status_form_with_unreadable_metadata_is_answered_in_the_form(web, caplog, metadata):
    """Signed, but the modal's private_metadata is not what Fireline wrote: the form says so, nothing is logged
    above INFO. Before: JSONDecodeError / AttributeError / ValueError in the listener, logged at ERROR, and the
    modal closed as if saved."""
    body = modal_submission(metadata)
    with caplog.at_level(logging.INFO):
        response = web.post("/slack/events", content=body,
                            headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)})
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "errors" and "press Edit again" in answer["errors"]["text"], answer
    assert loud(caplog) == []
