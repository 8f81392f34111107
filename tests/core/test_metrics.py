"""GET /metrics: Prometheus text, open incidents by SEV from the database, latency, rejections, playbooks."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Route
from starlette.testclient import TestClient

from bot.core import metrics
from bot.adapters.http.server import build_http_app
from bot.adapters.slack.bolt import build_bolt_app
from tests.support.factories import make_container


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def open_by_sev(samples) -> dict[str, float]:
    return {dict(labels)["severity"]: value for (name, labels), value in samples.items()
            if name == "fireline_open_incidents"}


def test_open_incidents_by_severity_come_from_the_database(slack):
    assert open_by_sev(scrape(slack.client)) == {"1": 0, "2": 0, "3": 0, "4": 0}
    slack.command("declare Site down sev1")
    slack.command("declare Login broken sev2")
    slack.command("declare Typo on pricing page sev4")
    slack.command("declare Checkout slow sev2")
    slack.command("resolve fixed", channel_id="CINC0002")
    samples = scrape(slack.client)
    assert open_by_sev(samples) == {"1": 1, "2": 1, "3": 0, "4": 1}
    assert samples[("fireline_database_up", ())] == 1
    assert samples[("fireline_jobs_due", ())] == 0


def test_request_latency_is_observed_for_slack_events(slack):
    key = ("fireline_http_request_duration_seconds_count", (("endpoint", "/slack/events"),))
    before = scrape(slack.client).get(key, 0)
    slack.command("help")
    slack.command("list")
    samples = scrape(slack.client)
    assert samples[key] == before + 2
    assert samples[("fireline_http_request_duration_seconds_sum", (("endpoint", "/slack/events"),))] > 0
    # probes are not timed: they would drown the figures that matter
    assert not [k for k in samples if k[0].startswith("fireline_http_request") and ("endpoint", "/metrics") in k[1]]


def test_bad_signatures_count_as_rejections(slack):
    labels = {"endpoint": "/slack/events", "reason": "bad_signature"}
    before = metrics.sample_value("fireline_webhook_rejections_total", labels)
    response = slack.command("declare Sneaky sev1", run=False, headers={"X-Slack-Signature": "v0=forged"})
    assert response.status_code == 401
    assert metrics.sample_value("fireline_webhook_rejections_total", labels) == before + 1
    key = ("fireline_webhook_rejections_total", tuple(sorted(labels.items())))
    assert scrape(slack.client)[key] == before + 1


def test_webhook_handlers_give_the_reason_and_are_counted_once(container):
    """A feature's webhook calls `webhook_rejected`; the HTTP layer then does not count it again."""
    from starlette.responses import Response

    @container.registry.on("http.routes")
    def routes(container, worker=None):
        async def hook(request):
            if request.headers.get("x-signature") != "good":
                metrics.webhook_rejected("/webhooks/test", "bad_hmac")
                return Response("no", status_code=401)
            if not (await request.body()):
                return Response("empty", status_code=400)  # not counted by the handler: the layer does
            return Response("ok")

        return [Route("/webhooks/test", hook, methods=["POST"])]

    client = TestClient(build_http_app(container, build_bolt_app(container)))

    def value(reason):
        return metrics.sample_value("fireline_webhook_rejections_total", {"endpoint": "/webhooks/test",
                                                                           "reason": reason})

    hmac_before, bad_before, auth_before = value("bad_hmac"), value("bad_request"), value("bad_signature")
    assert client.post("/webhooks/test", content=b"{}", headers={"x-signature": "bad"}).status_code == 401
    assert client.post("/webhooks/test", content=b"", headers={"x-signature": "good"}).status_code == 400
    assert client.post("/webhooks/test", content=b"{}", headers={"x-signature": "good"}).status_code == 200
    assert (value("bad_hmac"), value("bad_request"), value("bad_signature")) == (
        hmac_before + 1, bad_before + 1, auth_before)
    latency = metrics.sample_value("fireline_http_request_duration_seconds_count", {"endpoint": "/webhooks/test"})
    assert latency >= 3


def test_playbook_runs_and_failures(slack):
    runs = ("fireline_playbook_runs_total", (("playbook", "restart"),))
    failures = ("fireline_playbook_failures_total", (("playbook", "restart"),))
    before = scrape(slack.client)
    metrics.playbook_run("restart", ok=True)
    metrics.playbook_run("restart", ok=False)
    metrics.playbook_run("restart", ok=True)
    after = scrape(slack.client)
    assert after[runs] == before.get(runs, 0) + 3
    assert after[failures] == before.get(failures, 0) + 1


def test_metrics_token_guards_the_endpoint(sqlite_url, recorder, clock):
    container = make_container(sqlite_url, recorder, metrics_token="scrape-me-123", clock=clock)
    client = TestClient(build_http_app(container, build_bolt_app(container)))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert "fireline_open_incidents" in client.get("/metrics", headers={"Authorization":
                                                                        "Bearer scrape-me-123"}).text
    container.engine.dispose()


def test_many_apps_in_one_process_each_report_their_own_database(tmp_path, recorder, clock):
    """No global registry: a second app neither fails with duplicate metrics nor sees the first's incidents."""
    apps = []
    for n in range(2):
        container = make_container(f"sqlite:///{tmp_path}/app{n}.db", recorder, clock=clock)
        apps.append((container, TestClient(build_http_app(container, build_bolt_app(container)))))
    from bot.adapters.console import Console

    Console(apps[0][0], __import__("io").StringIO()).run_line("/incident declare Only in the first sev1")
    assert open_by_sev(scrape(apps[0][1]))["1"] == 1
    assert open_by_sev(scrape(apps[1][1]))["1"] == 0
    for container, _ in apps:
        container.engine.dispose()


def test_unreachable_database_is_a_metric_not_an_error(slack, tmp_path):
    from bot.store.db import make_engine

    good = slack.container.engine
    slack.container.engine = make_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
    try:
        samples = scrape(slack.client)
    finally:
        slack.container.engine = good
    assert samples[("fireline_database_up", ())] == 0
    assert open_by_sev(samples) == {}


def test_paths_no_route_serves_share_one_label(slack):
    """Anyone can choose the path: each unserved `/webhooks/<random>/<8 KB>` must not become a new series."""
    import secrets

    def endpoints() -> set[str]:
        return {dict(labels).get("endpoint") for (name, labels) in scrape(slack.client)
                if name == "fireline_webhook_rejections_total"}

    known = endpoints()
    size_before = len(slack.client.get("/metrics").content)
    before = metrics.sample_value("fireline_webhook_rejections_total", {"endpoint": "other",
                                                                         "reason": "not_found"})
    for _ in range(30):
        path = f"/webhooks/{secrets.token_hex(8)}/{secrets.token_hex(4096)}"
        assert slack.client.get(path).status_code == 404
    assert endpoints() - known <= {"other"}
    assert metrics.sample_value("fireline_webhook_rejections_total", {"endpoint": "other",
                                                                       "reason": "not_found"}) == before + 30
    assert len(slack.client.get("/metrics").content) < size_before + 1_000
