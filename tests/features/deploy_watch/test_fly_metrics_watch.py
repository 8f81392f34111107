"""The deploy watch reads Fly's metrics (a real Prometheus with Fly-shaped series): p95 and 5xx since the deploy
against before, beside Sentry, the health probes and Fly's machines."""

from __future__ import annotations

from datetime import timedelta

from starlette.testclient import TestClient

from bot.adapters.http.server import build_http_app
from bot.adapters.slack.bolt import build_bolt_app
from bot.features.deploy_watch.feature import traffic_change
from tests.support import prometheus as prom
from tests.support.factories import make_container
from tests.support.fly_fixtures import fly_container
from tests.support.harness import SlackHarness

NEW = "deployment-v43"


def test_a_watch_from_slack_shows_fly_figures_after_against_before(db_url, recorder, clock, fake_fly, fly_prometheus):
    fake_fly.releases.insert(0, {"id": "r43", "version": 43, "status": "complete",
                                 "imageRef": f"registry.fly.io/cgraph-api:{NEW}",
                                 "createdAt": (clock() - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                 "user": {"email": "marcus@cgraph.org"}})
    container = fly_container(db_url, recorder, clock, fake_fly, deploy_watch_minutes=5,
                              **prom.settings_for(fly_prometheus))
    with TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False) as client:
        slack = SlackHarness(container, recorder, client)
        slack.command("watch", command="/deploy")
        for _ in range(6):
            clock.advance(minutes=1)
            slack.run_jobs()
    final = slack.recorder.of("chat.update")[-1].text()
    assert "Fly metrics (ok): 5xx 0.20% since the deploy against 0.20% before: under fly_5xx_suspicious 1%" in final
    assert "Fly metrics (ok): p95 232 ms since the deploy against 232 ms before" in final
    assert "Fly's 5xx share 1% suspicious, 5% bad" in final
    container.engine.dispose()


def test_traffic_after_a_change_reads_worse_than_before(db_url, clock, fly_prometheus):
    container = make_container(db_url, clock=clock, **prom.settings_for(fly_prometheus))
    slow = traffic_change(container, "cgraph-slow", prom.at(timedelta(minutes=41)), prom.END, timedelta(minutes=15))
    assert slow.p95_before_s < 0.25 and slow.p95_after_s > 4 and slow.errors_after == 0.01 and not slow.error
    canary = traffic_change(container, "cgraph-canary-bad", prom.at(timedelta(minutes=31)), prom.END,
                            timedelta(minutes=15))
    assert canary.errors_before == 0.002 and 0.04 < canary.errors_after < 0.06
    container.engine.dispose()


def test_without_a_token_the_watch_says_not_configured(db_url, clock):
    container = make_container(db_url, clock=clock, fly_metrics_url="http://127.0.0.1:9/prometheus",
                               fly_metrics_token="t")
    change = traffic_change(container, "cgraph-api", prom.at(timedelta(minutes=5)), prom.END, timedelta(minutes=5))
    assert "FLY_METRICS_URL" in change.error
    container.engine.dispose()
