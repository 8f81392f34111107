"""/deploy watch: a new Fly release judged for a window from Sentry (loopback fake), HEALTH_URL and Fly (loopback
fake), in one message edited as it runs; a bad verdict offers the rollback plan and Declare, never rolling back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from bot.adapters.http.server import build_http_app
from bot.adapters.slack.bolt import build_bolt_app
from tests.support.fake_sentry import FakeSentry
from tests.support.fly_fixtures import fly_container
from tests.support.harness import SlackHarness
from tests.support.playbook_harness import buttons_in, executions, newest_button

NEW, OLD = "deployment-v43", "deployment-v42"


@pytest.fixture
def fake_sentry():
    fake = FakeSentry()
    yield fake
    fake.close()


@pytest.fixture
def deploy_slack(db_url, recorder, clock, fake_fly, fake_sentry, request):
    overrides = getattr(request, "param", {})
    fake_fly.releases.insert(0, {"id": "r43", "version": 43, "status": "complete",
                                 "imageRef": f"registry.fly.io/cgraph-api:{NEW}",
                                 "createdAt": (clock() - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                 "user": {"email": "marcus@cgraph.org"}})
    for machine in fake_fly.apps["cgraph-api"].values():  # the fleet runs the new release
        machine["config"] = {**machine["config"], "image": f"registry.fly.io/cgraph-api:{NEW}"}
    container = fly_container(db_url, recorder, clock, fake_fly,
                              **{**fake_sentry.settings(), "deploy_watch_minutes": 5, **overrides})
    with TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False) as client:
        harness = SlackHarness(container, recorder, client)
        harness.fake = fake_fly  # type: ignore[attr-defined]
        yield harness
    container.engine.dispose()


def run_window(slack, clock, minutes=6):
    for _ in range(minutes):
        clock.advance(minutes=1)
        slack.run_jobs()


def verdict_messages(slack):
    return [c for c in slack.recorder.calls if c.method in ("chat.postMessage", "chat.update")
            and "Deploy watch" in c.text()]


def test_a_five_fold_error_rise_is_judged_bad_and_offers_the_rollback_plan(deploy_slack, clock, fake_sentry):
    slack = deploy_slack
    fake_sentry.counts = {NEW: 100.0, OLD: 20.0}  # per 5 minutes each: 20/min against 4/min
    slack.command("watch", command="/deploy")
    assert "Watching v43" in slack.reply_text()
    [posted] = slack.recorder.of("chat.postMessage")
    assert posted.data["channel"] == "#incidents" and "watching" in posted.text()
    run_window(slack, clock)
    updates = slack.recorder.of("chat.update")
    assert len(updates) >= 5 and all(u.data["ts"] == updates[0].data["ts"] for u in updates)
    final = updates[-1].text()
    assert "bad" in final and "5.0x" in final and "error_ratio_bad" in final and "p50" in final
    labels = [label for label, _, _ in buttons_in(updates[-1].data)]
    assert "Roll back" in labels and "Declare" in labels
    queries = {q.get("query") for _, q in fake_sentry.requests}
    assert f"release:{NEW}" in queries and f"release:{OLD}" in queries
    # Roll back: the rollback playbook's plan, on a new incident, waiting for Confirm; nothing changed on Fly
    action_id, value = newest_button(slack.recorder, "Roll back")
    slack.press(action_id, value, channel_id="CINCIDENTS")
    text = slack.reply_text()
    assert "Roll back cgraph-api to v42" in text and "Confirm" in text
    [execution] = executions(slack.container)
    assert execution.playbook == "rollback" and execution.status == "proposed" and execution.incident_id == 1
    assert slack.fake.changes() == []


def test_a_clean_deploy_is_healthy_without_a_rollback_button(deploy_slack, clock, fake_sentry):
    slack = deploy_slack
    fake_sentry.counts = {NEW: 20.0, OLD: 20.0}
    slack.command("watch v43", command="/deploy")
    run_window(slack, clock)
    final = slack.recorder.of("chat.update")[-1]
    assert "*Healthy* (finished)" in final.text() and "1.0x" in final.text()  # every source judged: no "only"
    assert "Roll back" not in [label for label, _, _ in buttons_in(final.data)]
    count = len(slack.recorder.of("chat.update"))
    run_window(slack, clock, 3)  # the window is over: no more edits
    assert len(slack.recorder.of("chat.update")) == count


@pytest.mark.parametrize("deploy_slack", [{"sentry_api_url": "http://127.0.0.1:9"}], indirect=True)
def test_sentry_unreachable_is_could_not_read_sentry_not_healthy(deploy_slack, clock):
    slack = deploy_slack
    slack.command("watch", command="/deploy")
    run_window(slack, clock)
    final = slack.recorder.of("chat.update")[-1].text()
    assert "could not read Sentry" in final and "Verdict: *Healthy" not in final
    assert "Verdict: *Suspicious*" in final


def test_watch_refuses_an_unknown_release_and_a_second_watch(deploy_slack):
    slack = deploy_slack
    slack.command("watch v99", command="/deploy")
    assert "v99" in slack.reply_text() and "/deploy watch" in slack.reply_text()
    slack.command("watch", command="/deploy")
    slack.command("watch v43", command="/deploy")
    assert "already watching v43" in slack.reply_text().lower()


@pytest.mark.parametrize("deploy_slack", [{"deploy_watch": True}], indirect=True)
def test_deploy_watch_true_watches_each_new_release_by_polling(deploy_slack, clock, fake_sentry):
    from bot.features.deploy_watch.feature import start_polling

    slack = deploy_slack
    fake_sentry.counts = {NEW: 20.0, OLD: 20.0}
    start_polling(None, slack.container)
    slack.run_jobs()
    assert len(verdict_messages(slack)) == 1 and "v43" in verdict_messages(slack)[0].text()
    slack.fake.releases.insert(0, {"id": "r44", "version": 44, "status": "complete",
                                   "imageRef": "registry.fly.io/cgraph-api:deployment-v44",
                                   "createdAt": (clock() + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    run_window(slack, clock, 2)
    posted = [c.text() for c in slack.recorder.of("chat.postMessage") if "Deploy watch" in c.text()]
    assert len(posted) == 2 and "v44" in posted[1]


@pytest.mark.prism
def test_every_sentry_request_of_a_watch_is_accepted_by_the_official_spec(deploy_slack, clock, fake_sentry, prism):
    import httpx

    from tests.support.fake_sentry import TOKEN

    slack = deploy_slack
    fake_sentry.counts = {NEW: 20.0, OLD: 20.0}
    slack.command("watch", command="/deploy")
    run_window(slack, clock, 2)
    assert fake_sentry.requests
    with httpx.Client(base_url=prism("sentry"), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client:
        for path, query in fake_sentry.requests:
            response = client.get(path, params=query)
            assert response.status_code == 200, (path, query, response.text[:300])


@pytest.mark.parametrize("deploy_slack", [{"sentry_api_token": None, "health_url": "",
                                           "deploy_thresholds": "error_ratio_bad=4"}], indirect=True)
def test_sources_not_configured_are_said_so_never_ok_and_the_thresholds_are_inline(deploy_slack, clock):
    slack = deploy_slack
    slack.command("watch", command="/deploy")
    run_window(slack, clock)
    final = slack.recorder.of("chat.update")[-1].text()
    assert "Sentry (not configured): error rates were not judged: set SENTRY_API_TOKEN, SENTRY_ORG and " \
           "SENTRY_PROJECT" in final
    assert "Health (not configured): what users see was not judged: set HEALTH_URL" in final
    assert "Sentry (ok)" not in final and "Health (ok)" not in final
    # Fly was the only source judged, and the verdict itself says so, in the headline and above the reasons
    assert "*Deploy watch* of cgraph-api v43 (deployment-v43): *Healthy on Fly's checks only (Sentry and health " \
           "not configured)* (finished)" in final
    assert "Verdict: *Healthy on Fly's checks only (Sentry and health not configured)*, the worst of:" in final
    # the thresholds in force are in the message itself, the team's override named; no pointer to a manual
    assert "Thresholds (DEPLOY_THRESHOLDS sets error_ratio_bad=4; DEPLOY_THRESHOLDS changes them): errors/min 2x " \
           "the previous release's suspicious, 4x bad" in final
    assert "README" not in final and "docs/" not in final
