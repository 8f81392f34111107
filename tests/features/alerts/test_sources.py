"""POST /webhooks/alerts/<source>: each sender's real payload shape, its own auth, firing then resolved.

Samples in tests/data/sources/ are written from each sender's public documentation.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.support.factories import make_container, make_settings
from tests.support.alerts import ALERT_SECRET, alerts, post_alert, run_all, signature, stored_nothing, timeline
from tests.support.harness import SlackHarness

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "sources"
TOKENS = "alertmanager=am-token-1,am-token-2;grafana=gf-token;datadog=dd-token;uptimerobot=ur-token;" \
         "honeycomb=hc-secret;betterstack=bs-token"
TOKEN = {"alertmanager": "am-token-1", "grafana": "gf-token", "datadog": "dd-token", "uptimerobot": "ur-token",
         "honeycomb": "hc-secret", "betterstack": "bs-token"}


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def make(db_url, recorder, clock, **overrides):
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app

    values = {"alerts_webhook_secret": ALERT_SECRET, "alerts_source_tokens": TOKENS, **overrides}
    container = make_container(db_url, recorder, **values, clock=clock)
    return container, TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False)


@pytest.fixture
def app(db_url, recorder, clock):
    container, client = make(db_url, recorder, clock)
    with client:
        yield SlackHarness(container, recorder, client)
    container.engine.dispose()


def post_source(client, source: str, payload, *, token: str | None = "default", how: str = "bearer",
                headers: dict | None = None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    token = TOKEN.get(source, "") if token == "default" else token
    if token is not None:
        if how == "bearer":
            sent["Authorization"] = f"Bearer {token}"
        elif how == "basic":
            sent["Authorization"] = "Basic " + base64.b64encode(f"{source}:{token}".encode()).decode()
        elif how == "honeycomb":
            sent["X-Honeycomb-Webhook-Token"] = token
    return client.post(f"/webhooks/alerts/{source}", content=body, headers=sent)


def thread_texts(recorder) -> list[str]:
    return [c.text() for c in recorder.of("chat.postMessage")] + [c.text() for c in recorder.of("chat.update")]


# -- Prometheus Alertmanager -----------------------------------------------------------------------------------------
def test_alertmanager_firing_then_resolved(app, clock):
    response = post_source(app.client, "alertmanager", sample("alertmanager_firing.json"))
    assert response.status_code == 202, response.text
    body = response.json()
    assert [a["status"] for a in body["alerts"]] == ["accepted", "accepted"]
    first, second = alerts(app.container)
    # one thread per fingerprint: "worker 0" and "worker 1" stay two alerts
    assert (first.dedup_key, second.dedup_key) == ("alertmanager:a1b2c3d4e5f60708", "alertmanager:b2c3d4e5f6070809")
    assert first.title == "Queue worker 0 lagging" and first.source == "alertmanager"
    assert first.severity_hint == "warning" and first.level == 3
    assert "1,204 jobs behind" in first.text and "runbook_url: https://runbooks.cgraph.org/queue-lag" in first.text
    assert first.link.startswith("http://prometheus.cgraph.internal:9090/graph")
    run_all(app, clock)
    posted = [c.text() for c in app.recorder.of("chat.postMessage")]
    assert any("Alert from Alertmanager" in t and "Queue worker 0 lagging" in t for t in posted)
    # the same group resent: repeats on the same threads
    again = post_source(app.client, "alertmanager", sample("alertmanager_firing.json"))
    assert [a["thread"] for a in again.json()["alerts"]] == ["updated", "updated"]
    # resolved: the thread is edited, repeats stop counting, nothing resolves twice
    app.recorder.reset()
    resolved = post_source(app.client, "alertmanager", sample("alertmanager_resolved.json"))
    assert resolved.status_code == 202, resolved.text
    assert resolved.json()["alerts"] == [{"status": "resolved", "alert": 1, "severity": 3, "thread": "updated",
                                          "count": 2, "resolved_after": "12m"}]
    run_all(app, clock)
    edits = [c.text() for c in app.recorder.of("chat.update")]
    assert any("Resolved after 12m" in t for t in edits), edits
    twice = post_source(app.client, "alertmanager", sample("alertmanager_resolved.json"))
    assert twice.json()["alerts"][0]["thread"] == "unchanged"
    refire = post_source(app.client, "alertmanager", sample("alertmanager_firing.json"))
    assert [a["thread"] for a in refire.json()["alerts"]] == ["new", "updated"]


def test_alertmanager_per_group_setting(db_url, recorder, clock):
    container, client = make(db_url, recorder, clock, alerts_alertmanager_groups=True)
    with client:
        response = post_source(client, "alertmanager", sample("alertmanager_firing.json"))
        assert [a["thread"] for a in response.json()["alerts"]] == ["new", "updated"]
    assert len(alerts(container)) == 1 and alerts(container)[0].dedup_key.startswith("alertmanager:group:")
    container.engine.dispose()


def test_unknown_shape_is_422_naming_the_expected_fields(app):
    response = post_source(app.client, "alertmanager", {"title": "hello"})
    assert response.status_code == 422
    assert "`alerts[]`" in response.json()["error"] and "fingerprint" in response.json()["error"]
    assert stored_nothing(app.container)


def test_unknown_source_is_404_listing_the_known_ones(app):
    response = post_source(app.client, "nagios", {"x": 1}, token="t")
    assert response.status_code == 404 and "alertmanager" in response.json()["error"]


# -- auth ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("token,how,status", [
    ("am-token-1", "bearer", 202), ("am-token-2", "bearer", 202),  # rotation: both values work
    ("am-token-1", "basic", 202),
    ("wrong", "bearer", 401), (None, "bearer", 401),
    ("dd-token", "bearer", 401),  # another source's token never opens this route
])
def test_alertmanager_bearer_and_basic_auth(app, token, how, status):
    response = post_source(app.client, "alertmanager", sample("alertmanager_firing.json"), token=token, how=how)
    assert response.status_code == status, response.text
    if status == 401:
        assert stored_nothing(app.container)
        assert "am-token" not in response.text  # the reason never repeats a secret


def test_hmac_still_works_on_source_routes(app):
    body = json.dumps(sample("alertmanager_firing.json")).encode()
    response = post_source(app.client, "alertmanager", body, token=None,
                           headers={"X-Fireline-Signature": signature(body)})
    assert response.status_code == 202, response.text


def test_a_source_without_a_token_or_secret_is_off(db_url, recorder, clock):
    container, client = make(db_url, recorder, clock, alerts_webhook_secret=None, alerts_source_tokens=None)
    with client:
        response = post_source(client, "alertmanager", sample("alertmanager_firing.json"))
    assert response.status_code == 403 and "ALERTS_SOURCE_TOKENS=alertmanager=<token>" in response.json()["error"]
    container.engine.dispose()


# -- defects: repeats behind an incident, derived keys ---------------------------------------------------------------
def test_a_repeat_of_the_alert_behind_an_open_incident_reaches_its_timeline_and_channel(app, clock):
    post_alert(app.client, {"title": "Login broken for every user", "dedup_key": "sentry:7"})
    run_all(app, clock)
    app.press("alert_declare", "1", action_ts="3.1")
    run_all(app, clock)
    app.recorder.reset()
    for _ in range(3):  # a storm of repeats: coalesced
        assert post_alert(app.client, {"title": "Login broken for every user",
                                       "dedup_key": "sentry:7"}).json()["incident"] == 1
    run_all(app, clock)
    repeats = [e for e in timeline(app.container, 1) if e.kind == "alert_repeat"]
    assert len(repeats) == 1 and "seen again (4 times)" in repeats[0].text
    channel_posts = [c for c in app.recorder.of("chat.postMessage") if c.data["channel"] == "CINC0001"]
    assert len(channel_posts) == 1 and "seen again (4 times)" in channel_posts[0].text()


def test_resolved_alert_behind_an_incident_tells_its_timeline_and_never_resolves_it(app, clock):
    post_source(app.client, "alertmanager", sample("alertmanager_firing.json"))
    run_all(app, clock)
    app.press("alert_declare", "1", action_ts="3.1")
    run_all(app, clock)
    app.recorder.reset()
    post_source(app.client, "alertmanager", sample("alertmanager_resolved.json"))
    run_all(app, clock)
    [event] = [e for e in timeline(app.container, 1) if e.kind == "alert_resolved"]
    assert "resolved after 12m" in event.text
    [post] = [c for c in app.recorder.of("chat.postMessage") if c.data["channel"] == "CINC0001"]
    assert "/incident status monitoring" in post.text() and "/incident resolve" in post.text()
    from tests.support.alerts import incidents

    assert incidents(app.container)[0].status != "resolved"


def test_derived_keys_keep_labelled_instances_apart(app):
    for n in range(3):
        post_alert(app.client, {"title": f"Queue worker {n} lagging: {1000 + n} jobs behind"})
    post_alert(app.client, {"title": "Queue worker 1 lagging: 1500 jobs behind"})
    assert [a.count for a in alerts(app.container)] == [1, 2, 1]


def fire_then_resolve(app, clock, source: str, firing: str, resolved: str, *, how: str = "bearer",
                      minutes: int = 12):
    """Post a firing sample, run the thread jobs, post its resolution; the alert, the posts and the edits."""
    response = post_source(app.client, source, sample(firing), how=how)
    assert response.status_code == 202, response.text
    assert response.json()["alerts"][0]["status"] == "accepted", response.text
    run_all(app, clock)
    posts = [c.text() for c in app.recorder.of("chat.postMessage")]
    clock.advance(minutes=minutes)
    done = post_source(app.client, source, sample(resolved), how=how)
    assert done.status_code == 202, done.text
    assert done.json()["alerts"][0]["status"] == "resolved", done.text
    run_all(app, clock)
    edits = [c.text() for c in app.recorder.of("chat.update")]
    return alerts(app.container)[0], posts, edits


# -- Grafana ----------------------------------------------------------------------------------------------------------
def test_grafana_unified_firing_then_resolved(app, clock):
    alert, posts, edits = fire_then_resolve(app, clock, "grafana", "grafana_unified_firing.json",
                                            "grafana_unified_resolved.json")
    assert alert.source == "grafana" and alert.dedup_key == "grafana:c6eadffa33fcdf37"
    # the rule's own `severity: critical` decides (severity_hints maps it to SEV1), above the 12% rate's SEV2
    assert alert.title == "5xx rate 12% on cgraph-api" and alert.level == 1 and alert.severity_hint == "critical"
    assert any("the alert rule says “critical” → SEV1" in r for r in alert.reasons), alert.reasons
    assert alert.link == "https://grafana.cgraph.org/d/api-overview?orgId=1&viewPanel=4"
    assert "values: B=0.12, C=1" in alert.text
    assert "silence: https://grafana.cgraph.org/alerting/silence/new" in alert.text
    assert any("Alert from Grafana" in p and "5xx rate 12% on cgraph-api" in p for p in posts)
    assert any("Resolved after 48m" in e for e in edits), edits


def test_grafana_legacy_alerting_then_ok_with_basic_auth(app, clock):
    alert, posts, edits = fire_then_resolve(app, clock, "grafana", "grafana_legacy_alerting.json",
                                            "grafana_legacy_ok.json", how="basic")
    assert alert.dedup_key == "grafana:rule:7" and alert.title == "HighCPU cgraph-api"  # the state is the thread's
    assert alert.level == 3 and alert.playbook == "scale" and "cgraph-api cpu=96.4" in alert.text
    assert any("HighCPU cgraph-api" in p for p in posts)
    assert any("Resolved after 12m" in e for e in edits), edits


# -- Datadog ----------------------------------------------------------------------------------------------------------
def test_datadog_triggered_then_recovered(app, clock):
    alert, posts, edits = fire_then_resolve(app, clock, "datadog", "datadog_triggered.json", "datadog_recovered.json")
    assert alert.dedup_key == "datadog:148223567:host:cgraph-api-iad-1"
    # the monitor's own priority P1 decides (SEV1); the 14% failing rate's SEV2 is shown as also matched
    assert alert.title == "API 5xx rate above 10%" and alert.severity_hint == "P1" and alert.level == 1
    assert any("the alert rule says “P1” → SEV1" in r for r in alert.reasons), alert.reasons
    assert "priority: P1" in alert.text and alert.link.startswith("https://app.datadoghq.com/monitors/148223567")
    # $EVENT_MSG wraps its Markdown in `%%%` lines: the message, not the markers, is shown
    assert alert.text.startswith("5xx rate is 14.2% on cgraph-api") and "%%%" not in alert.text, alert.text
    assert any("Alert from Datadog" in p for p in posts)
    assert any("Resolved after 12m" in e for e in edits), edits


def test_datadog_retry_of_one_event_is_a_replay(app):
    post_source(app.client, "datadog", sample("datadog_triggered.json"))
    again = post_source(app.client, "datadog", sample("datadog_triggered.json"))
    assert again.json()["alerts"] == [{"status": "duplicate", "reason": "this delivery was already received"}]
    assert alerts(app.container)[0].count == 1


# -- UptimeRobot ------------------------------------------------------------------------------------------------------
def test_uptimerobot_down_then_up(app, clock):
    alert, posts, edits = fire_then_resolve(app, clock, "uptimerobot", "uptimerobot_down.json", "uptimerobot_up.json",
                                            how="basic")
    assert alert.dedup_key == "uptimerobot:monitor:797812345"
    assert alert.title == "Monitor is DOWN: cgraph.org homepage (Connection Timeout)" and alert.level == 1
    assert any("Alert from UptimeRobot" in p for p in posts)
    assert any("Resolved after 12m" in e for e in edits), edits  # alertDuration 720 s


# -- Honeycomb --------------------------------------------------------------------------------------------------------
def test_honeycomb_triggered_then_ok_with_its_token_header(app, clock):
    alert, posts, edits = fire_then_resolve(app, clock, "honeycomb", "honeycomb_triggered.json", "honeycomb_ok.json",
                                            how="honeycomb")
    assert alert.dedup_key == "honeycomb:trigger:2qFx8ZbYq3a" and alert.title == "Checkout p99 latency"
    assert alert.level == 3 and "service.name=cgraph-api: 3120.5" in alert.text
    assert "hc-secret" not in json.dumps(alert.details) + alert.text  # the body's shared_secret is never kept
    assert any("Alert from Honeycomb" in p for p in posts)
    assert any("Resolved after 12m" in e for e in edits), edits


def test_honeycomb_wrong_token_header_is_401(app):
    response = post_source(app.client, "honeycomb", sample("honeycomb_triggered.json"), token="nope", how="honeycomb")
    assert response.status_code == 401 and stored_nothing(app.container)


# -- Better Stack -----------------------------------------------------------------------------------------------------
def test_betterstack_started_then_resolved(app, clock):
    alert, posts, edits = fire_then_resolve(app, clock, "betterstack", "betterstack_started.json",
                                            "betterstack_resolved.json")
    assert alert.dedup_key == "betterstack:incident:412345678"
    assert alert.title == "api.cgraph.org/api/health is down: Status 503" and alert.level == 1
    assert any("Alert from Better Stack" in p for p in posts)
    assert any("Resolved after 15m" in e for e in edits), edits


@pytest.mark.parametrize("source,payload,names", [
    ("datadog", {"text": "no title"}, "`transition` ($ALERT_TRANSITION)"),
    ("uptimerobot", {"alertType": "1"}, "`monitorID`"),
    ("honeycomb", {"name": "x"}, "`status` (TRIGGERED or OK)"),
    ("betterstack", {"data": {}}, "`data.attributes`"),
    ("grafana", {"title": "x"}, "`ruleId`"),
])
def test_each_source_names_its_expected_fields(app, source, payload, names):
    response = post_source(app.client, source, payload)
    assert response.status_code == 422 and names in response.json()["error"], response.text


# -- the console: /alert accepts a pasted payload -------------------------------------------------------------------
def test_console_alert_accepts_a_pasted_payload_firing_then_resolved(db_url, clock):
    import io

    from bot.adapters.console import run_console

    container = make_container(db_url, clock=clock)
    firing = json.dumps(sample("uptimerobot_down.json"))
    up = json.dumps(sample("uptimerobot_up.json"))
    out = io.StringIO()
    assert run_console(container, io.StringIO(f"/alert {firing}\n/alert {up}\n/alert {{not json\n"), out) == 0
    text = out.getvalue()
    assert "Read 1 alert(s) from a pasted uptimerobot payload" in text
    assert "Monitor is DOWN: cgraph.org homepage (Connection Timeout)" in text and "suggested SEV1" in text
    assert "Alert from UptimeRobot" in text  # the thread, printed by the console
    assert "alert #1 resolved after 12m" in text  # (the console keeps edited messages silent)
    from tests.support.alerts import alerts as stored

    assert stored(container)[0].details["resolved_after"] == "12m"
    assert "That looks like JSON but is not" in text
    container.engine.dispose()


# -- settings: tokens parsed, check says what is wrong without the value -------------------------------------------
def test_tokens_setting_parses_and_check_names_a_bad_entry_without_its_value(db_url):
    from bot.features.alerts.auth import TokensError, parse_tokens
    from bot.features.alerts.check import check_alerts

    assert parse_tokens("alertmanager=a,b; UptimeRobot = c") == {"alertmanager": ("a", "b"), "uptimerobot": ("c",)}
    with pytest.raises(TokensError, match="at most two"):
        parse_tokens("datadog=a,b,c")
    live = check_alerts(make_settings(db_url, alerts_source_tokens="alertmanager=s3cret-one"))
    assert live.state == "live" and "POST /webhooks/alerts/<source> on for alertmanager" in live.detail
    bad = check_alerts(make_settings(db_url, alerts_source_tokens="alertmanager=s3cret-one;s3cret-two"))
    assert bad.state == "error" and "entry 2" in bad.detail and "s3cret" not in bad.detail


def test_the_generic_route_reads_a_source_payload_as_its_route_does(app):
    """Alertmanager's payload on /webhooks/alerts was a 422 in generic terms; it is recognised by its fields."""
    response = post_alert(app.client, sample("alertmanager_firing.json"))
    assert response.status_code == 202, response.text
    assert response.json()["source"] == "alertmanager"
    assert [a.dedup_key for a in alerts(app.container)] == ["alertmanager:a1b2c3d4e5f60708",
                                                            "alertmanager:b2c3d4e5f6070809"]
    resolved = post_alert(app.client, sample("alertmanager_resolved.json"))
    assert resolved.json()["alerts"][0]["status"] == "resolved", resolved.text


def test_a_payload_pasted_in_slack_survives_its_escaping():
    from bot.features.alerts.pasted import read

    pasted = json.dumps(sample("grafana_legacy_alerting.json")).replace("&", "&amp;").replace('"', "\u201c", 1)
    [incoming] = read(pasted)
    assert incoming.source == "grafana" and "&amp;" not in incoming.link and "?tab=alert&viewPanel=2" in incoming.link


@pytest.mark.parametrize("firing,resolved,source", [
    ("alertmanager_firing.json", "alertmanager_resolved.json", "alertmanager"),
    ("grafana_unified_firing.json", "grafana_unified_resolved.json", "grafana"),
    ("grafana_legacy_alerting.json", "grafana_legacy_ok.json", "grafana"),
    ("datadog_triggered.json", "datadog_recovered.json", "datadog"),
    ("uptimerobot_down.json", "uptimerobot_up.json", "uptimerobot"),
    ("honeycomb_triggered.json", "honeycomb_ok.json", "honeycomb"),
    ("betterstack_started.json", "betterstack_resolved.json", "betterstack"),
])
def test_every_sample_pasted_in_the_console_is_recognised(firing, resolved, source):
    from bot.features.alerts.pasted import read

    fired, done = read(json.dumps(sample(firing))), read(json.dumps(sample(resolved)))
    assert {a.source for a in fired} == {source} and not any(a.resolved for a in fired)
    assert all(a.resolved for a in done) and done[0].dedup_key == fired[0].dedup_key


def test_deeply_nested_json_on_a_source_route_is_422_without_a_traceback(app, caplog):
    """An authenticated sender's 100,000-deep JSON: 422 saying why, as on the generic route, and no ERROR log.

    Before: 422, but through the adapters' catch-all, which logged a RecursionError traceback at ERROR (and so sent
    a Sentry event carrying the body) and said only "could not read this alertmanager payload".
    """
    deep = b"[" * 100_000 + b"]" * 100_000
    with caplog.at_level("INFO"):
        response = post_source(app.client, "alertmanager", deep)
    assert response.status_code == 422 and "nested too deeply" in response.json()["error"], response.text
    assert [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []
    assert stored_nothing(app.container)


def test_alert_list_says_an_alert_is_resolved(app, clock):
    """`/alert list` after a resolution: "resolved after 12m", not "open" (before, it said open forever)."""
    post_source(app.client, "alertmanager", sample("alertmanager_firing.json"))
    post_source(app.client, "alertmanager", sample("alertmanager_resolved.json"))
    app.command("list", command="/alert")
    lines = {line.split(" ", 1)[0]: line for line in app.reply_text().splitlines() if line.startswith("*#")}
    assert "resolved after 12m" in lines["*#1*"] and ", open" not in lines["*#1*"], lines
    assert ", open)" in lines["*#2*"], lines  # worker 1 still fires


def test_refusals_name_the_source_with_the_right_article(app):
    """"this does not look like a alertmanager webhook" read as a typo to a new user."""
    wrong = post_source(app.client, "alertmanager", {"foo": 1})
    assert wrong.status_code == 422 and "does not look like an alertmanager webhook" in wrong.json()["error"]
    assert "like a datadog webhook" in post_source(app.client, "datadog", {"foo": 1}).json()["error"]
    # on the generic route, a recognised sender's broken payload is refused in that sender's terms
    generic = post_alert(app.client, {"monitorID": "797812345", "monitorFriendlyName": "cgraph.org homepage"})
    assert generic.status_code == 422, generic.text
    assert "does not look like an uptimerobot webhook (no `alertType`)" in generic.json()["error"], generic.text


def test_an_oversized_body_at_a_source_route_is_counted_as_too_large(app):
    """413 at once, and counted in fireline_webhook_rejections_total like the other webhooks' (before, the guard
    looked the path up literally, so `/webhooks/alerts/{source}` refusals for size were never counted)."""
    from bot.core import metrics

    labels = {"endpoint": "/webhooks/alerts/{source}", "reason": "too_large"}
    before = metrics.sample_value("fireline_webhook_rejections_total", labels) or 0
    response = post_source(app.client, "alertmanager", b'{"x": "' + b"x" * 600_000 + b'"}')
    assert response.status_code == 413 and stored_nothing(app.container)
    assert metrics.sample_value("fireline_webhook_rejections_total", labels) == before + 1


# -- what real senders' payloads taught (tests/data/senders/ has the deliveries) ------------------------------------
def test_derived_keys_keep_host_style_names_apart():
    from bot.features.alerts.payloads import derive_key

    pairs = [("web-12 OOM", "web-13 OOM"), ("edge-7 5xx rate high", "edge-8 5xx rate high"),
             ("cgraph-api-3 down", "cgraph-api-4 down"), ("cs30 disk full", "cs31 disk full")]
    for one, other in pairs:
        assert derive_key("datadog", one) != derive_key("datadog", other), (one, other)
    # measurements and ids still blur: one alert
    assert derive_key("x", "CPU at 93% on 3d8d9e1b") == derive_key("x", "CPU at 97% on 17811e9e")
    assert derive_key("x", "Deploy v42 failed") == derive_key("x", "Deploy v43 failed")


def test_words_inside_links_and_label_names_are_not_the_alerts_scope():
    from playbooks.severity import Signals, classify

    text = ("Instance cgraph-api-3 down\ncgraph-api-3 has been down for more than 1 minute.\n"
            "labels: instance=cgraph-api-3, region=iad\nrunbook_url: https://wiki.cgraph.org/runbooks/internal/down")
    result = classify(text, Signals(source_severity="critical"), source="alertmanager")
    assert result.level == 1, result.reasons
    assert not any("internal" in r or "region limits" in r for r in result.reasons), result.reasons
    # a URL in the title is what is watched: its host still names the product
    watched = classify("https://api.cgraph.org/health unreachable from all 4 locations")
    assert watched.level == 1 and any("cgraph.org" in r for r in watched.reasons), watched.reasons


def test_the_rules_own_severity_is_not_outvoted_by_a_weak_word_and_sentrys_level_is_not_a_severity():
    from bot.features.alerts.payloads import from_sentry
    from playbooks.severity import Signals, classify

    assert classify("Disk latency high on andromeda", Signals(source_severity="critical")).level == 1
    assert classify("Disk latency high on andromeda", Signals(source_severity="warning")).level == 3
    exception = from_sentry({"action": "triggered", "data": {"event": {
        "title": "ReferenceError: heck is not defined", "level": "error", "issue_id": "1"}}}, "event_alert", None)
    assert exception.signals.severity_hint is None and exception.details["level"] == "error"
    assert classify(exception.classify_text, exception.signals, source="sentry").level == 3


def test_a_pasted_grafana_test_notification_is_read_as_the_webhook_reads_it(db_url, clock):
    import io

    from bot.adapters.console import run_console

    container = make_container(db_url, clock=clock)
    test = json.dumps({"dashboardId": 1, "evalMatches": [], "message": "Someone is testing the alert notification "
                       "within grafana.", "orgId": 0, "panelId": 1, "ruleId": 0, "ruleName": "Test rule",
                       "ruleUrl": "http://localhost:3000/", "state": "alerting", "tags": {},
                       "title": "[Alerting] Test notification"})
    out = io.StringIO()
    assert run_console(container, io.StringIO(f"/alert {test}\n"), out) == 0
    assert "Nothing stored: Grafana's test notification" in out.getvalue(), out.getvalue()
    assert alerts(container) == []
    container.engine.dispose()


def test_fireline_shape_keeps_labels_for_workflow_conditions():
    """{title, source, labels}: the labels reach the alert's details, where `alert_labels` reads them."""
    from bot.features.alerts.payloads import PayloadError, from_generic

    alert = from_generic({"title": "Charge failures up 40%", "source": "stripe", "labels": {"team": "payments", "n": 2}})
    assert alert.details == {"labels": {"team": "payments", "n": "2"}}
    assert from_generic({"title": "No labels"}).details == {}
    with pytest.raises(PayloadError, match="`labels` must be an object"):
        from_generic({"title": "x", "labels": ["team", "payments"]})
