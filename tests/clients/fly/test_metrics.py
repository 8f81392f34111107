"""Fly's metrics client: the real query engine (Prometheus with Fly-shaped series), failure paths with respx."""

from __future__ import annotations

import math
from datetime import timedelta

import httpx
import pytest
import respx

from bot.clients.fly import metrics as m
from bot.clients.fly.metrics import FlyMetrics, FlyMetricsError, MetricsNotConfigured, Sample, Series
from bot.core.settings import Settings
from tests.support import prometheus as prom

TOKEN = "fm2_SECRET-metrics-token-1234"
BASE = "http://metrics.test/prometheus"
QUERY = "/prometheus/cgraph-org/api/v1/query"


def client(**kwargs) -> tuple[FlyMetrics, list[float]]:
    sleeps: list[float] = []
    kwargs.setdefault("sleep", sleeps.append)
    return FlyMetrics(BASE, TOKEN, "cgraph-org", **kwargs), sleeps


# -- against a real Prometheus -------------------------------------------------------------------------

def test_named_queries_read_each_fleet_as_generated(fly_prometheus):
    with FlyMetrics(fly_prometheus.url, "any-token", fly_prometheus.org) as metrics:
        cpu = m.by_instance(metrics.query(m.cpu_by_instance("cgraph-busy"), prom.END))
        memory = m.by_instance(metrics.query(m.memory_by_instance("cgraph-memory"), prom.END))
        p95 = m.single(metrics.query(m.p95_seconds("cgraph-api"), prom.END))
        errors = m.by_instance(metrics.query(m.error_rate_5xx("cgraph-canary-bad", by_instance=True), prom.END))
        whole = m.single(metrics.query(m.error_rate_5xx("cgraph-canary-bad"), prom.END))
    assert sorted(cpu) == sorted(i.id for i in prom.fleet("cgraph-busy").instances)
    assert all(abs(v - 0.88) < 0.01 for v in cpu.values())
    assert all(abs(v - 0.93) < 0.01 for v in memory.values())
    assert 0.1 < p95 < 0.25  # FAST: 97% within 0.25 s
    assert errors[prom.BAD_CANARY] == pytest.approx(0.15) and max(
        v for k, v in errors.items() if k != prom.BAD_CANARY) == pytest.approx(0.002)
    assert 0.04 < whole < 0.06  # the edge (no instance label) sums the three


def test_an_hour_ago_differs_from_now_where_the_fleet_changed(fly_prometheus):
    with FlyMetrics(fly_prometheus.url, "t", fly_prometheus.org) as metrics:
        now = m.single(metrics.query(m.p95_seconds("cgraph-slow"), prom.END))
        before = m.single(metrics.query(m.p95_seconds("cgraph-slow"), prom.at(timedelta(hours=1))))
        series = metrics.query_range(m.p95_seconds("cgraph-slow"), prom.at(timedelta(hours=1)), prom.END,
                                     timedelta(minutes=15))
    assert before < 0.25 < 4 < now
    assert isinstance(series[0], Series) and len(series[0].points) == 5
    assert series[0].points[0][0] == prom.at(timedelta(hours=1)) and series[0].points[-1][1] == pytest.approx(now)


def test_seven_days_highest_reads_the_idle_fleet(fly_prometheus):
    with FlyMetrics(fly_prometheus.url, "t", fly_prometheus.org) as metrics:
        cpu = m.by_instance(metrics.query(m.highest_over(m.cpu_by_instance("cgraph-idle", "30m")), prom.END))
        memory = m.by_instance(metrics.query(m.highest_over(m.memory_by_instance("cgraph-idle")), prom.END))
        total = m.by_instance(metrics.query(m.memory_total_by_instance("cgraph-idle"), prom.END))
    assert len(cpu) == 4 and all(0.055 < v < 0.065 for v in cpu.values())  # 5% +- 20% wobble
    assert all(0.235 < v < 0.245 for v in memory.values())
    assert set(total.values()) == {4 * prom.GIB}


def test_an_unknown_app_has_no_samples_and_a_bad_query_is_refused_in_words(fly_prometheus):
    with FlyMetrics(fly_prometheus.url, "t", fly_prometheus.org) as metrics:
        assert metrics.query(m.cpu_by_instance("no-such-app"), prom.END) == []
        assert m.single(metrics.query(m.error_rate_5xx("no-such-app"), prom.END)) is None
        with pytest.raises(FlyMetricsError, match="refused the query"):
            metrics.query("sum(", prom.END)


def test_an_unknown_organisation_path_says_to_check_fly_org(fly_prometheus):
    with FlyMetrics(fly_prometheus.url, "t", "someone-else") as metrics, pytest.raises(FlyMetricsError) as caught:
        metrics.query("up", prom.END)
    assert "FLY_ORG" in str(caught.value) and caught.value.status == 404


# -- the wire, failures ------------------------------------------------------------------------------------

def test_query_posts_the_form_with_the_token_and_parses_vector_and_scalar():
    metrics, _ = client()
    with respx.mock(base_url="http://metrics.test") as mock:
        route = mock.post(QUERY).mock(side_effect=[
            httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"instance": "148e"}, "value": [1795615200, "0.25"]},
                {"metric": {"instance": "149e"}, "value": [1795615200, "NaN"]}]}}),
            httpx.Response(200, json={"status": "success", "data": {"resultType": "scalar",
                                                                    "result": [1795615200.5, "2"]}})])
        samples = metrics.query('up{app="a"}', prom.END)
        scalar = metrics.query("1+1")
    request = route.calls[0].request
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    form = httpx.QueryParams(request.content.decode())
    assert form["query"] == 'up{app="a"}' and form["time"] == f"{prom.END.timestamp():.3f}"
    assert "time" not in httpx.QueryParams(route.calls[1].request.content.decode())
    assert samples[0] == Sample({"instance": "148e"}, 0.25, prom.END) and math.isnan(samples[1].value)
    assert m.by_instance(samples) == {"148e": 0.25} and scalar[0].value == 2


def test_flyv1_tokens_go_as_they_are():
    metrics = FlyMetrics(BASE, "FlyV1 fm2_abc,fm2_def", "o")
    assert metrics.http.headers["authorization"] == "FlyV1 fm2_abc,fm2_def"


def test_5xx_and_429_are_retried_honouring_retry_after_then_answered():
    metrics, sleeps = client()
    ok = {"status": "success", "data": {"resultType": "vector", "result": []}}
    with respx.mock(base_url="http://metrics.test") as mock:
        mock.post(QUERY).side_effect = [httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(502),
                                        httpx.Response(200, json=ok)]
        assert metrics.query("up") == []
    assert sleeps == [3.0, 2.0]


@pytest.mark.parametrize(("status", "words"), [(401, "FLY_METRICS_TOKEN"), (403, "FLY_METRICS_TOKEN"),
                                               (404, "FLY_ORG"), (503, "3 tries"), (429, "rate limiting")])
def test_failures_are_sentences_naming_the_setting_and_never_the_token(status, words):
    metrics, _ = client()
    with respx.mock(base_url="http://metrics.test") as mock:
        mock.post(QUERY).respond(status, json={"status": "error", "error": f"bad token {TOKEN}"})
        with pytest.raises(FlyMetricsError) as caught:
            metrics.query("up")
    assert words in str(caught.value) and TOKEN not in str(caught.value) and caught.value.status == status


def test_a_query_error_quotes_prometheus_redacted():
    metrics, _ = client()
    with respx.mock(base_url="http://metrics.test") as mock:
        mock.post(QUERY).respond(400, json={"status": "error", "errorType": "bad_data",
                                            "error": f"parse error near {TOKEN}"})
        with pytest.raises(FlyMetricsError, match=r"refused the query \(HTTP 400\): parse error near \[redacted\]"):
            metrics.query("sum(")


def test_unreachable_and_timeouts_say_what_to_check():
    metrics, _ = client()
    with respx.mock(base_url="http://metrics.test") as mock:
        mock.post(QUERY).side_effect = httpx.ConnectError("refused")
        with pytest.raises(FlyMetricsError, match="FLY_METRICS_URL"):
            metrics.query("up")
        mock.post(QUERY).side_effect = httpx.ReadTimeout("slow")
        with pytest.raises(FlyMetricsError, match="did not answer in time"):
            metrics.query("up")


def test_no_token_means_metrics_are_off_and_say_so():
    with pytest.raises(MetricsNotConfigured, match="Fly metrics not configured"):
        FlyMetrics.from_settings(Settings(_env_file=None))
    assert not Settings(_env_file=None).fly_metrics_readable
    settings = Settings(_env_file=None, fly_metrics_token="t", fly_org="acme", fly_metrics_url="http://x/prometheus/")
    assert settings.fly_metrics_readable
    assert str(FlyMetrics.from_settings(settings).http.base_url) == "http://x/prometheus/acme/"


def test_range_step_is_seconds_and_label_values_are_quoted():
    assert m._seconds(timedelta(minutes=5)) == "300" and m._seconds(15) == "15"
    assert m.label_value('a"b\\c') == '"a\\"b\\\\c"'
    assert 'app="we\\"ird"' in m.cpu_by_instance('we"ird')


def test_responses_by_instance_counts_each_machine_of_the_canary_fleet(fly_prometheus):
    with FlyMetrics(fly_prometheus.url, "any-token", fly_prometheus.org) as metrics:
        counts = m.by_instance(metrics.query(m.responses_by_instance("cgraph-canary-bad", "10m"), prom.END))
        shares = m.by_instance(metrics.query(m.error_rate_5xx("cgraph-canary-bad", "10m", by_instance=True), prom.END))
    assert sorted(counts) == sorted(i.id for i in prom.fleet("cgraph-canary-bad").instances)
    assert all(v > 10 for v in counts.values()), counts  # enough to judge on: the canary's verdict multiplies by it
    assert set(shares) == set(counts)
    expected = 'sum by (instance) (increase(fly_app_http_responses_count{app="a\\"b"}[5m]))'
    assert m.responses_by_instance("a\"b") == expected
