"""Alert threads through the real Bolt app and HTTP server: contents, channel alerts, dedup, storms, buttons."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.core.clock import as_utc
from bot.store.models import Job
from tests.support.factories import make_container
from tests.support.alerts import (
    ALERT_SECRET,
    ALERTS_CHANNEL,
    alerts,
    incidents,
    pagerduty_event,
    post_alert,
    run_all,
    timeline,
)
from tests.support.harness import SlackHarness

_ts = itertools.count(100)


def make_app(db_url, recorder, clock, **overrides):
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app

    values = {"alerts_webhook_secret": ALERT_SECRET, "alerts_channel": ALERTS_CHANNEL, **overrides}
    container = make_container(db_url, recorder, **values, clock=clock)
    client = TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False)
    return container, client


@pytest.fixture
def app(db_url, recorder, clock):
    container, client = make_app(db_url, recorder, clock)
    with client:
        yield SlackHarness(container, recorder, client)
    container.engine.dispose()


def integration_message(text: str, *, channel: str = ALERTS_CHANNEL, **fields):
    ts = f"1700001{next(_ts):03d}.000100"
    event = {"type": "message", "subtype": "bot_message", "bot_id": "BSENTRY", "username": "Sentry",
             "channel": channel, "ts": ts, "text": text, "event_ts": ts, "channel_type": "channel"}
    event.update(fields)
    return event


def replies(recorder, channel: str | None = None):
    return [c for c in recorder.of("chat.postMessage") if c.data.get("thread_ts")
            and (channel is None or c.data["channel"] == channel)]


def buttons(call) -> list[tuple[str, str]]:
    out = []
    for block in call.data.get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            out.append((element["action_id"].split("~")[0], element.get("value", "")))
    return out


# -- thread contents -----------------------------------------------------------------------------------------------
def test_webhook_alert_thread_says_sev_reasons_cause_fix_and_offers_buttons(app, clock):
    post_alert(app.client, {"title": "api.cgraph.org returns 502 for every request", "source": "grafana",
                            "link": "https://grafana.example/d/1"})
    run_all(app, clock)
    root, reply = app.recorder.of("chat.postMessage")
    assert root.data["channel"] == "#incidents" and "thread_ts" not in root.data
    assert "Alert from Grafana" in root.text() and "suggested *SEV1*" in root.text()
    assert "Open in Grafana" in root.text() and "Seen once" in root.text()
    assert reply.data["thread_ts"] == "1700000001.000001" and reply.data["channel"] == "CINCIDENTS"
    text = reply.text()
    assert "Suggested SEV1* (Complete outage, respond < 15 min)" in text
    assert "matched “502” → SEV1 (common incidents: 502 errors (app crashed))" in text and "(rule " not in text
    assert "Rules: bad-gateway" in text  # the ids, once, in the context line: for whoever tunes the rules
    assert "*Likely cause:* App crashed (guide, common incidents: “502 errors”)" in text
    assert "*Quick fix:* `fly machines restart`" in text and "*Suggested playbook:* restart" in text
    assert buttons(reply) == [("alert_declare", "1"), ("playbook_diagnose", "-"), ("alert_dismiss", "1")]
    assert buttons(root) == buttons(reply)  # the alert itself carries them: no need to open the thread


def test_declare_on_the_alert_itself_declares_once_and_its_reasons_are_words(app, clock):
    """The root post in #incidents carries Declare (primary), Diagnose and Dismiss; its reasons name no rule ids."""
    post_alert(app.client, {"title": "api.cgraph.org returns 502 for every request, 5xx rate 12%", "source": "grafana"})
    run_all(app, clock)
    root, reply = app.recorder.of("chat.postMessage")
    [actions] = [b for b in root.data["blocks"] if b["type"] == "actions"]
    declare, diagnose, dismiss = actions["elements"]
    assert (declare["text"]["text"], declare.get("style")) == ("Declare incident", "primary")
    assert (diagnose["text"]["text"], dismiss["text"]["text"]) == ("Diagnose", "Dismiss")
    why = "\n".join(b["text"]["text"] for b in reply.data["blocks"] if b["type"] == "section")
    assert "also matched: an error rate in the alert → SEV2" in why, why
    assert not any(name in why for name in ("rule ", "bad-gateway", "text-error-rate")), why
    [context] = [b for b in reply.data["blocks"] if b["type"] == "context"]
    assert "bad-gateway, text-error-rate" in context["elements"][0]["text"]
    root_ts = app.recorder.of("chat.postMessage")[0].data.get("ts") or "1700000001.000001"
    app.recorder.reset()
    for who, at in (("U0CHEN", "3.1"), ("U0MARCUS", "3.2")):  # the same button pressed twice, by two people
        app.press(declare["action_id"], declare["value"], user_id=who, channel_id="CINCIDENTS", message_ts=root_ts,
                  action_ts=at)
    [incident] = incidents(app.container)
    assert incident.declared_by == "U0CHEN" and "rule " not in incident.severity_reason
    assert "already part of incident #1" in app.recorder.responses()[-1].data["text"]
    [alert] = alerts(app.container)
    last_root = [u for u in app.recorder.of("chat.update") if u.data["ts"] == alert.root_ts][-1]
    assert "Declared as incident #1" in last_root.text()
    assert buttons(last_root) == [("playbook_diagnose", "1")]  # no Declare or Dismiss once declared


def test_the_thread_prints_the_configured_response_time(db_url, recorder, clock):
    """SEV_RESPONSE_MINUTES reached the cards but the alert's thread still said the guide's `< 15 min`."""
    container, client = make_app(db_url, recorder, clock, sev_response_minutes="1=10")
    with client:
        harness = SlackHarness(container, recorder, client)
        post_alert(client, {"title": "api.cgraph.org returns 502 for every request", "source": "grafana"})
        run_all(harness, clock)
    [reply] = replies(recorder)
    assert "Suggested SEV1* (Complete outage, respond < 10 min)" in reply.text() and "15 min" not in reply.text()
    container.engine.dispose()


def test_integration_message_in_alerts_channel_gets_a_threaded_answer(app, clock):
    event = integration_message("", attachments=[{
        "color": "danger", "title": "Redix.ConnectionError: connection refused (cgraph-redis.internal:6379)",
        "title_link": "https://sentry.io/organizations/cgraph/issues/42/", "text": "PubSub and presence unavailable"}],
        bot_profile={"name": "Sentry", "id": "B1"})
    assert app.event(event, event_id="EvSentry1").status_code == 200
    run_all(app, clock)
    [reply] = app.recorder.of("chat.postMessage")
    assert reply.data["channel"] == ALERTS_CHANNEL and reply.data["thread_ts"] == event["ts"]
    assert "Suggested SEV2" in reply.text() and "Rules: redis-down" in reply.text()
    assert "Seen once" in reply.text()  # the count lives in our reply: the alert message is the integration's
    [alert] = alerts(app.container)
    assert (alert.source, alert.root_ts, alert.own_root, alert.link) == (
        "sentry", event["ts"], False, "https://sentry.io/organizations/cgraph/issues/42/")


@pytest.mark.parametrize("change", [
    {"subtype": None, "bot_id": None, "user": "U0PERSON"},           # a person
    {"subtype": None, "bot_id": "BBOT"},                              # Fireline itself (auth.test's bot id)
    {"thread_ts": "1700000000.000001"},                               # a reply in a thread
    {"subtype": "message_changed"},                                   # an edit
    {"channel": "CRANDOM"},                                           # another channel
])
def test_other_messages_are_not_alerts(app, clock, change):
    event = integration_message("api.cgraph.org is down")
    event.update(change)
    event = {k: v for k, v in event.items() if v is not None}
    assert app.event(event, event_id=f"Ev{next(_ts)}").status_code == 200
    run_all(app, clock)
    assert alerts(app.container) == [] and app.recorder.of("chat.postMessage") == []


def test_alerts_channel_by_name(db_url, recorder, clock):
    container, client = make_app(db_url, recorder, clock, alerts_channel="#some-channel")  # the recorder's name
    with client:
        harness = SlackHarness(container, recorder, client)
        harness.event(integration_message("Redis memory full", channel="CNAMED"), event_id="EvNamed")
        run_all(harness, clock)
        assert [a.title for a in alerts(container)] == ["Redis memory full"]
        assert recorder.of("conversations.info")[0].data["channel"] == "CNAMED"
    container.engine.dispose()


def test_alert_text_cannot_ping(app, clock):
    post_alert(app.client, {"title": "<!channel> <@U123> site is down", "text": "<!here> see <https://x|y>"})
    run_all(app, clock)
    for call in app.recorder.of("chat.postMessage"):
        assert "<!channel>" not in call.text() and "<!here>" not in call.text() and "<@U123>" not in call.text()
    assert "&lt;!channel&gt;" in app.recorder.of("chat.postMessage")[0].text()


# -- dedup and storms ------------------------------------------------------------------------------------------------
def test_repeats_update_the_thread_and_a_later_one_opens_a_new_one(app, clock):
    for _ in range(3):
        post_alert(app.client, {"title": "High CPU across nodes", "source": "grafana"})
        app.run_jobs()
        clock.advance(seconds=20)
    run_all(app, clock)
    assert len(app.recorder.of("chat.postMessage")) == 2  # one alert message, one answer
    [alert] = alerts(app.container)
    assert alert.count == 3
    # the alert message shows the count; its last edit shows all three
    updates = app.recorder.of("chat.update")
    assert updates and "Seen 3 times" in updates[-1].text() and updates[-1].data["ts"] == alert.root_ts
    clock.advance(minutes=31)
    post_alert(app.client, {"title": "High CPU across nodes", "source": "grafana"})
    run_all(app, clock)
    assert [(a.epoch, a.count) for a in alerts(app.container)] == [(1, 3), (2, 1)]
    assert len(app.recorder.of("chat.postMessage")) == 4


def test_storm_of_1000_alerts_over_100_keys_makes_at_most_a_minute_of_threads_and_a_digest(app, clock):
    """Through `receive()`, what the webhook route calls after checking the signature (the HTTP layer
    has its own tests; 1,000 requests through the test client would only measure the test client).

    A channel takes at most a minute of threads ahead (two posts each, one a second): the alerts past that
    are stored, counted and listed in one digest message a minute instead of 100 s more of threads."""
    from bot.features.alerts.payloads import from_generic
    from bot.features.alerts.service import receive

    start = clock()
    for n in range(1000):
        key = n % 100
        received = receive(app.container, from_generic({"title": f"Synthetic check {key} failed on cgraph-api",
                                                        "dedup_key": f"storm-{key}", "source": "checkly"}))
        assert received.new == (n < 100)
        clock.advance(seconds=0.06)  # 1,000 alerts in one minute
        if n % 10 == 9:
            app.run_jobs()
    run_all(app, clock)
    rows = alerts(app.container)
    assert len(rows) == 100 and {a.count for a in rows} == {10}
    posts = app.recorder.of("chat.postMessage")
    roots = [p for p in posts if not p.data.get("thread_ts") and "Alert from" in p.text()]
    digests = [p for p in posts if "more alerts* in the last minute" in p.text()]
    threaded = [a for a in rows if a.root_ts]
    digested = [a for a in rows if (a.details or {}).get("digest_ts")]
    assert 25 <= len(roots) == len(threaded) <= 34 and len(posts) == 2 * len(roots) + len(digests)
    assert len(threaded) + len(digested) == 100 and 1 <= len(digests) <= 2  # every alert shown, once
    assert all(f"#{a.id} SEV{a.level}" in " ".join(d.text() for d in digests) for a in digested[:20])
    assert len({p.data["text"] for p in roots}) == len(roots)
    # every thread ends up showing its final count
    last = {}
    for call in app.recorder.of("chat.postMessage") + app.recorder.of("chat.update"):
        if call.method == "chat.update" or not call.data.get("thread_ts"):
            ts = call.data.get("ts") or None
            last[ts or call.data["text"]] = call.text()
    assert all("Seen 10 times" in text for ts, text in last.items() if ts.startswith("17"))
    # within Slack's limits: posts at most one per second per channel, updates at most 50 a minute
    with Session(app.container.engine) as session:
        jobs = list(session.exec(select(Job).where(Job.kind.in_(["alerts.post", "alerts.refresh"]))).all())
    per_kind = defaultdict(list)
    for job in jobs:
        per_kind[job.kind].append(as_utc(job.run_at))
    posts_at = sorted(per_kind["alerts.post"])
    assert all(b - a >= timedelta(seconds=2) for a, b in zip(posts_at, posts_at[1:], strict=False))  # 2 posts each
    updates_at = sorted(per_kind["alerts.refresh"])
    assert updates_at and all(b - a >= timedelta(seconds=1.2) for a, b in zip(updates_at, updates_at[1:],
                                                                                 strict=False))
    assert len(app.recorder.of("chat.update")) <= len(updates_at) <= 1000 - 100  # digested alerts have none to edit
    minute = [t for t in updates_at if t < start + timedelta(minutes=1)]
    assert len(minute) <= 50


def test_repeats_before_the_first_post_need_no_update(app, clock):
    for _ in range(5):
        post_alert(app.client, {"title": "Redis memory full", "source": "upstash"})
    run_all(app, clock)
    assert app.recorder.of("chat.update") == []
    assert "Seen 5 times" in app.recorder.of("chat.postMessage")[0].text()


# -- buttons ---------------------------------------------------------------------------------------------------------
def test_declare_from_an_alert_links_both_ways(app, clock):
    post_alert(app.client, {"title": "Login broken for every user", "source": "sentry", "dedup_key": "sentry:7",
                            "link": "https://sentry.io/issues/7/"})
    run_all(app, clock)
    app.recorder.reset()
    app.press("alert_declare~0", "1", user_id="U0CHEN", channel_id="CINCIDENTS", action_ts="1.1")
    app.press("alert_declare~0", "1", user_id="U0MARCUS", channel_id="CINCIDENTS", action_ts="1.2")  # double click
    [incident] = incidents(app.container)
    assert (incident.title, incident.severity, incident.declared_by) == ("Login broken for every user", 2, "U0CHEN")
    assert "suggested from alert #1 (sentry)" in incident.severity_reason
    [alert] = alerts(app.container)
    assert (alert.status, alert.incident_id, alert.acted_by) == ("declared", 1, "U0CHEN")
    events = timeline(app.container, 1)
    declared = events[0]
    assert declared.kind == "declared" and declared.data["source"]["alert_id"] == 1
    assert declared.data["source"]["thread"] == {"channel": "CINCIDENTS", "ts": alert.root_ts}
    link = [e for e in events if e.kind == "alert"][0]
    assert link.data["permalink"] == f"https://acme.slack.com/archives/CINCIDENTS/p{alert.root_ts.replace('.', '')}"
    # the incident channel links back to the alert thread; the thread says which incident
    posts = app.recorder.of("chat.postMessage")
    back = [p for p in posts if p.data["channel"] == "CINC0001" and "Declared from" in p.text()]
    assert back and link.data["permalink"] in str(back[0].data)
    there = [p for p in posts if p.data.get("thread_ts") == alert.root_ts]
    assert there and "declared incident #1" in there[0].text() and "<@U0CHEN>" in there[0].text()
    # the alert's messages lose their Declare and Dismiss buttons and say who declared
    last_reply = [u for u in app.recorder.of("chat.update") if u.data["ts"] == alert.reply_ts][-1]
    assert "Declared as incident #1 by <@U0CHEN>" in last_reply.text()
    assert ("alert_declare", "1") not in buttons(last_reply) and ("alert_dismiss", "1") not in buttons(last_reply)
    assert "already part of incident #1" in app.recorder.responses()[-1].data["text"]


def test_dismiss_once(app, clock):
    post_alert(app.client, {"title": "Typo on the pricing page"})
    run_all(app, clock)
    app.press("alert_dismiss~2", "1", user_id="U0AISHA", action_ts="2.1")
    [alert] = alerts(app.container)
    assert alert.status == "dismissed" and alert.acted_by == "U0AISHA"
    last_reply = [u for u in app.recorder.of("chat.update") if u.data["ts"] == alert.reply_ts][-1]
    assert "Dismissed by <@U0AISHA>" in last_reply.text() and ("alert_dismiss", "1") not in buttons(last_reply)
    app.press("alert_dismiss~2", "1", user_id="U0CHEN", action_ts="2.2")
    assert "already dismissed by <@U0AISHA>" in app.recorder.responses()[-1].data["text"]


def test_diagnose_without_the_fly_playbook_says_so(app, clock):
    from bot.core.registry import Registry
    from bot.adapters.slack.context import ack_context

    registry = Registry()
    __import__("bot.features.alerts.feature", fromlist=["register"]).register(registry)
    ctx = ack_context(app.container, "U0LEAD", "CINCIDENTS")
    reply = registry.press(ctx, "playbook_diagnose", "")
    assert "Diagnose is not available yet" in reply.text  # until the Fly playbook registers the button
    if "playbook_diagnose" in app.container.registry.actions:  # installed here: the press reaches it
        post_alert(app.client, {"title": "api.cgraph.org returns 502 for every request"})
        run_all(app, clock)
        app.press("playbook_diagnose~1", "-")
        assert "not available yet" not in app.recorder.responses()[-1].data["text"]


# -- alerts that belong to an open incident --------------------------------------------------------------------------
def test_alert_of_an_open_incident_goes_to_its_timeline(app, clock):
    post_alert(app.client, {"title": "Login broken for every user", "dedup_key": "sentry:7"})
    run_all(app, clock)
    app.press("alert_declare", "1", action_ts="3.1")
    post_alert(app.client, {"title": "Login broken for every user", "dedup_key": "sentry:7"})  # within the window
    run_all(app, clock)
    assert [a.count for a in alerts(app.container)] == [2]
    clock.advance(minutes=45)
    app.recorder.reset()
    response = post_alert(app.client, {"title": "Login broken for every user", "dedup_key": "sentry:7"})
    assert response.json()["incident"] == 1
    run_all(app, clock)
    second = alerts(app.container)[1]
    assert (second.status, second.incident_id) == ("linked", 1)
    assert [e.kind for e in timeline(app.container, 1)].count("alert") == 2
    # (45 minutes without an ack also set off the response clock; its messages are bot/pagerduty's business)
    posts = [p for p in app.recorder.of("chat.postMessage") if "is not acknowledged" not in p.text()
             and "has had no status update" not in p.text()]
    assert [p.data["channel"] for p in posts] == ["CINC0001"] and "Alert from a webhook" in posts[0].text()
    # resolved: the next one opens its own thread again
    app.command("resolve #1")
    clock.advance(minutes=45)
    post_alert(app.client, {"title": "Login broken for every user", "dedup_key": "sentry:7"})
    run_all(app, clock)
    assert alerts(app.container)[2].status == "open"


def test_pagerduty_incident_that_fireline_opened_links_to_it(app, clock):
    app.command("declare Checkout returns 502 sev1")
    response = post_alert(app.client, pagerduty_event(incident_key="fireline-incident-1", title="Checkout 502"))
    assert response.status_code == 202 and response.json()["incident"] == 1
    run_all(app, clock)
    assert [e.kind for e in timeline(app.container, 1)][-1] == "alert"


# -- /alert and live signals -----------------------------------------------------------------------------------------
def test_slash_alert_and_list(app, clock):
    app.command("Redis memory full on cgraph-redis", command="/alert")
    assert "Alert #1 stored, suggested SEV3" in app.reply_text()
    run_all(app, clock)
    assert "Suggested SEV3" in app.recorder.of("chat.postMessage")[1].text()
    app.command("list", command="/alert")
    assert "#1* SEV3" in app.reply_text() and "Redis memory full" in app.reply_text()
    for empty in ("", "help"):
        app.command(empty, command="/alert")
        assert "Paste the alert's text" in app.reply_text()
    assert len(alerts(app.container)) == 1


def test_health_endpoint_down_raises_the_suggestion(db_url, recorder, clock):
    import respx
    from httpx import Response

    container, client = make_app(db_url, recorder, clock, health_url="http://health.test/api/health")
    with client, respx.mock(assert_all_called=True) as mock:
        mock.get("http://health.test/api/health").mock(return_value=Response(503))
        mock.route(host="127.0.0.1").pass_through()  # the Slack stand-in (Slack's calls go through httpx too)
        harness = SlackHarness(container, recorder, client)
        post_alert(client, {"title": "Latency alert on cgraph-api"})
        assert alerts(container)[0].level == 3  # what the text says, at intake
        run_all(harness, clock)
        [alert] = alerts(container)
        assert alert.level == 2 and alert.signals["health_ok"] is False
        assert "the health endpoint is down → at least SEV2 (live signal)" in recorder.of("chat.postMessage")[1].text()
    container.engine.dispose()


@pytest.mark.prism
def test_fly_machines_signal_against_the_spec(db_url, recorder, clock, prism):
    container, client = make_app(db_url, recorder, clock, fly_api_url=prism("fly"), fly_api_token="fo1_test",
                                 fly_app="cgraph-api")
    with client:
        harness = SlackHarness(container, recorder, client)
        post_alert(client, {"title": "Synthetic check failed"})
        run_all(harness, clock)
        [alert] = alerts(container)
        assert "machines_total" in alert.signals  # Prism accepted the list-machines request
    container.engine.dispose()


def test_team_rules_file_shows_in_the_thread(db_url, recorder, clock, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {name: checkout, level: 1, keywords: [checkout], from: 'team: checkout is money'}\n")
    container, client = make_app(db_url, recorder, clock, severity_rules=str(path))
    with client:
        harness = SlackHarness(container, recorder, client)
        post_alert(client, {"title": "Checkout errors rising"})
        run_all(harness, clock)
        assert "(team: checkout is money)" in recorder.of("chat.postMessage")[1].text()
        path.write_text("rules: [broken")
        import os
        import time

        os.utime(path, (time.time() + 10, time.time() + 10))
        post_alert(client, {"title": "Site is down"})  # a bad file never stops alerts: built-in rules are used
        run_all(harness, clock)
        assert alerts(container)[1].level == 1
    container.engine.dispose()


# -- Slack failing ---------------------------------------------------------------------------------------------------
def _posted(recorder):
    """chat.postMessage calls Slack took (the recorder fails the first ones on request, in order)."""
    return recorder.of("chat.postMessage")


def test_an_alert_thread_slack_refused_is_posted_later_once(app, clock):
    from bot.store.models import Alert

    app.recorder.fail("chat.postMessage", "internal_error", times=1)  # the root: refused
    post_alert(app.client, {"title": "checkout p99 latency above 2 s", "source": "grafana"})
    app.run_jobs()
    with Session(app.container.engine) as session:
        [retry] = session.exec(select(Job).where(Job.kind == "alerts.post", Job.status == "pending")).all()
        [stored] = session.exec(select(Alert)).all()
    assert as_utc(retry.run_at) - clock.now == timedelta(seconds=30) and stored.root_ts is None
    app.recorder.fail("chat.postMessage", "internal_error", after=1)  # the second try: root ok, thread reply refused
    run_all(app, clock)
    calls = _posted(app.recorder)
    roots = [c for c in calls if "thread_ts" not in c.data]
    threads = [c for c in calls if c.data.get("thread_ts")]
    assert len(roots) == 2 and len(threads) == 2  # root refused then posted; reply refused then posted
    assert threads[0].data["thread_ts"] == threads[1].data["thread_ts"]  # into the root that went out once
    with Session(app.container.engine) as session:
        [stored] = session.exec(select(Alert)).all()
        statuses = [j.status for j in session.exec(select(Job).where(Job.kind == "alerts.post").order_by(Job.id))]
    assert stored.root_ts and stored.reply_ts and statuses == ["done", "done", "done"]


def test_an_alert_slack_keeps_refusing_is_given_up_after_four_tries_with_its_reason(app, clock):
    app.recorder.fail("chat.postMessage", "internal_error", times=10)
    post_alert(app.client, {"title": "disk full on db-1", "source": "grafana"})
    started = clock.now
    run_all(app, clock)
    with Session(app.container.engine) as session:
        posts = session.exec(select(Job).where(Job.kind == "alerts.post").order_by(Job.id)).all()
    assert [j.status for j in posts] == ["done", "done", "done", "failed"]
    assert "internal_error" in posts[-1].error
    assert [as_utc(j.run_at) - started for j in posts] == [timedelta(0), timedelta(seconds=30),
                                                           timedelta(seconds=150), timedelta(seconds=450)]
    assert len(_posted(app.recorder)) == 4  # one try each, no storm of retries
