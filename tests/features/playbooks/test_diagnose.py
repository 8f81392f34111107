"""diagnose: the guide's investigation order against a fake Fly, from Slack, the card button and the console."""

from __future__ import annotations

import io
from datetime import timedelta

from bot.adapters.console import run_console
from bot.clients.fly.models import HealthResult, Machine, MachineEvent, Release
from playbooks.diagnose import Diagnose, Findings
from playbooks.framework import Env
from tests.support.factories import make_container
from tests.support.playbook_harness import executions, timeline


def crash_events(clock, count=3):
    return [{"id": f"01JEX{n:021d}", "type": "exit", "status": "stopped", "source": "flyd",
             "timestamp": int((clock() - timedelta(minutes=3 * n)).timestamp() * 1000),
             "request": {"exit_event": {"exit_code": 1}, "restart_count": count - n}} for n in range(count)]


def crash_m4(fake, clock):
    machine = fake.machine("m4dddddddddddd")
    machine["state"] = "stopped"
    machine["events"] = crash_events(clock)
    machine["checks"] = [{"name": "http", "status": "critical"}]


def test_recent_release_and_a_crash_loop_suggest_rollback(fly_slack, clock):
    slack, fake = fly_slack, fly_slack.fake
    crash_m4(fake, clock)
    slack.command("declare Checkout returns 502 sev1")
    slack.command("", command="/diagnose", channel_id="CINC0001")
    answer = slack.recorder.responses()[-1]
    assert answer.data["response_type"] == "in_channel"
    text = answer.text()
    assert "Diagnosis of cgraph-api" in text and "DRY RUN" not in text
    assert "3 of 4 started · iad: 2 started · lhr: 1 started, 1 stopped" in text
    assert "Crash loop*: m4dddddddddddd (lhr): 3 crashes in the last 30 min (exit code 1)" in text
    assert f"Health*: {fake.url}/health HTTP 200" in text
    assert "Database* (cgraph-db): 2 of 2 machines started" in text
    assert "Latest release*: v42, 40 min ago by marcus@cgraph.org" in text
    assert "*roll back*: v42 went out 40 min ago" in text and "`/rollback` (to v41)" in text
    assert "502 errors -&gt; likely App crashed -&gt; `fly machines restart`" in text
    assert "status.flyio.net" in text and "fly postgres connect -a cgraph-db" in text
    # read-only: nothing was changed on Fly
    assert fake.changes() == []
    [execution] = executions(slack.container)
    assert execution.status == "succeeded" and execution.playbook == "diagnose"
    assert execution.results[0]["suggestion"]["playbook"] == "rollback"
    assert any(c["request_id"] for c in execution.results[0]["calls"])
    event = timeline(slack.container, 1)[-1]
    assert event.kind == "playbook_diagnose" and "suggests rollback" in event.text
    assert any("Crash loop" in line for line in event.data["details"])


def test_crashes_without_a_recent_release_suggest_restart_of_those_machines(fly_slack, clock):
    slack, fake = fly_slack, fly_slack.fake
    crash_m4(fake, clock)
    for release in fake.releases:
        release["createdAt"] = "2026-11-20T09:00:00Z"
    slack.command("#1", command="/diagnose")
    assert "There is no incident #1" in slack.recorder.responses()[-1].text()
    slack.command("", command="/diagnose")
    text = slack.recorder.responses()[-1].text()
    assert "*restart*: 1 machine(s) crashed" in text and "`/restart --machine m4dddddddddddd`" in text
    assert "Not attached to an incident" in text


def test_healthy_fleet_says_so_and_continues_the_guide_order(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    for release in fake.releases:
        release["createdAt"] = "2026-11-20T09:00:00Z"
    slack.command("", command="/diagnose")
    text = slack.recorder.responses()[-1].text()
    assert "Crashes*: none in the last 30 min" in text and "*no Fly playbook*: Fly looks healthy" in text


def test_cdn_problem_is_told_apart_from_an_app_problem(db_url, recorder, clock, fake_fly):
    from tests.support.fly_fixtures import fly_container
    from tests.support.harness import SlackHarness

    container = fly_container(db_url, recorder, clock, fake_fly, health_origin_url=f"{fake_fly.url}/origin/health")
    fake_fly.health_status = 522
    for release in fake_fly.releases:
        release["createdAt"] = "2026-11-20T09:00:00Z"
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app

    with TestClient(build_http_app(container, build_bolt_app(container))) as client:
        slack = SlackHarness(container, recorder, client)
        slack.command("", command="/diagnose")
        text = slack.recorder.responses()[-1].text()
        assert "HTTP 522" in text and "origin" in text and "a CDN/DNS problem (Cloudflare), not the app" in text
        assert "check Cloudflare" in text
        fake_fly.origin_status = 503
        slack.command("", command="/diagnose")
        assert "both fail: the app itself, not the CDN" in slack.recorder.responses()[-1].text()


def test_a_failing_fly_call_does_not_hide_the_rest(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.script("GET", r"/v1/apps/cgraph-api/machines$", *[(500, {"error": "flyd unavailable"})] * 4)
    slack.command("", command="/diagnose")
    text = slack.recorder.responses()[-1].text()
    assert "Machines*: could not read them: Could not list the machines of cgraph-api" in text
    assert "flyd unavailable" in text and "Health*:" in text and "Database* (cgraph-db): 2 of 2" in text
    assert slack.container.knobs.sleeps == [0.5, 1.0, 2.0]  # retried with backoff, never really waiting


def test_card_button_diagnoses_its_incident_from_anywhere(fly_slack):
    slack = fly_slack
    slack.command("declare Site is down sev1")
    card = slack.recorder.of("chat.postMessage")[0].text()
    assert "Diagnose" in card and "playbook_diagnose" in card
    slack.press("playbook_diagnose~3", "1", user_id="U0INTERN", channel_id="CGENERAL")  # read-only: anyone
    assert "Diagnosis of cgraph-api" in slack.recorder.responses()[-1].text()
    assert timeline(slack.container, 1)[-1].kind == "playbook_diagnose"
    slack.press("playbook_diagnose~3", "-", user_id="U0INTERN", channel_id="CGENERAL")  # empty value: standalone
    assert "Not attached to an incident" in slack.recorder.responses()[-1].text()
    assert [e.incident_id for e in executions(slack.container)] == [1, None]


def test_dry_run_without_a_token_uses_the_example_fleet(slack):
    slack.command("", command="/diagnose")
    text = slack.recorder.responses()[-1].text()
    assert "Diagnosis of cgraph-api* [DRY RUN]" in text and "FLY_API_TOKEN is not set" in text
    assert "Crash loop*: 91852e7a4d6008 (lhr)" in text and "*roll back*" in text


def test_console(db_url, clock):
    container = make_container(db_url, clock=clock)
    out = io.StringIO()
    run_console(container, io.StringIO("declare Site down sev1\n!Diagnose\n/diagnose\n"), out)
    text = out.getvalue()
    assert "[Diagnose]" in text and text.count("Diagnosis of cgraph-api [DRY RUN]") == 2
    assert "Traceback" not in text


# -- the suggestion rules, on their own --------------------------------------------------------------------
def env(clock, **kw) -> Env:
    return Env(app="cgraph-api", fly=None, releases=None, health=None, now=clock, sleep=lambda s: None, **kw)


def machine(mid, state="started", **kw) -> Machine:
    return Machine(mid, state=state, region="iad", config={"guest": {"memory_mb": 1024}}, **kw)


def test_rules_overload_oom_and_title_rows(clock):
    diagnose = Diagnose()
    healthy = [machine("a"), machine("b")]
    slow = Findings(machines=healthy, health=HealthResult("https://x/health", True, 200, 2400.0))
    suggestion, rows = diagnose.suggest(env(clock, incident_title="WebSocket fails for everyone"), slow, None)
    assert suggestion["playbook"] == "scale-count" and suggestion["command"] == "/scale count 4"
    assert [r.key for r in rows] == ["websocket"]
    refusing = Findings(machines=healthy, health=HealthResult("https://x/health", False, 503, 20.0))
    assert diagnose.suggest(env(clock), refusing, None)[0]["playbook"] == "scale-count"
    oom = machine("c", "stopped", events=[MachineEvent("e", "exit", "stopped", "flyd", clock(), exit_code=137,
                                                       oom_killed=True)])
    found = Findings(machines=[*healthy, oom], down=[oom], oom=[oom])
    suggestion, _ = diagnose.suggest(env(clock), found, Release(41, "img", clock() - timedelta(days=3)))
    assert suggestion["command"] == "/scale memory 2048"
    _, rows = diagnose.suggest(env(clock, incident_title="Can't login since 9am"), Findings(machines=healthy), None)
    assert [r.key for r in rows] == ["login"]


def test_diagnose_of_an_incident_typed_elsewhere_posts_in_the_incident_channel(slack):
    """`/diagnose #1` typed in #incidents: the report goes to #1's channel, and the typer is told where."""
    slack.command("declare Checkout returns 502 sev1")
    channel = slack.recorder.of("conversations.create")[0].data["name"]
    slack.recorder.reset()
    slack.command("#1", command="/diagnose", channel_id="CINCIDENTS")
    posted = [call for call in slack.recorder.of("chat.postMessage") if "Diagnosis of" in call.text()]
    assert [call.data["channel"] for call in posted] == ["CINC0001"]
    answer = slack.recorder.responses()[-1]
    assert answer.data.get("response_type", "ephemeral") == "ephemeral"
    assert "Diagnosis of" not in answer.text()
    assert f"<#CINC0001|{channel}>" in answer.text()
    assert executions(slack.container)[0].incident_id == 1


def test_diagnose_in_the_incident_channel_answers_there_once(slack):
    slack.command("declare Checkout returns 502 sev1")
    slack.recorder.reset()
    slack.command("", command="/diagnose", channel_id="CINC0001")
    assert not [call for call in slack.recorder.of("chat.postMessage") if "Diagnosis of" in call.text()]
    assert slack.recorder.responses()[-1].data["response_type"] == "in_channel"
