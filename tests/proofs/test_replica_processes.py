"""Two real `fireline serve` processes (each with its forked worker) on one PostgreSQL, under a mixed burst:
every job ran once, and Slack and PagerDuty saw each message and each page once.

The load and the checks are bench/replicas.py's (tests/support/replicas.py), without the stand-ins' latency and
without timing anything: signed SEV2 declares (channel, cards, a page each), Acknowledge pressed twice per
incident with the second click on the other replica (a double click behind a load balancer), and signed alert
deliveries, all interleaved and sent round-robin to the two processes at once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tests.support import replicas as rep
from tests.support.databases import postgres_problem

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def postgres_url(_postgres_template):
    problem = postgres_problem()
    if problem:
        pytest.skip(f"no PostgreSQL ({problem}); set FIRELINE_TEST_POSTGRES_URL")
    template = _postgres_template()
    url = template.create()
    yield url
    template.drop(url)


def test_a_burst_over_two_serve_processes_runs_every_job_once(postgres_url, recorder):
    pagerduty = rep.PagerDutyEvents()
    cluster = rep.start_cluster(2, rep.cluster_env(postgres_url, recorder.api_url, pagerduty.url))
    try:
        incidents = rep.prepare_incidents(cluster, recorder.response_url, 6)
        requests = rep.mixed_load(cluster.ports, recorder.response_url, incidents, declares=8, alerts=4)
        rep.send(requests, connections_per_port=3)
        rep.drained(postgres_url, timeout=120)
        time.sleep(0.3)  # the last answers of the stand-ins are recorded
        verdict = rep.check_exactly_once(postgres_url, list(recorder.calls), pagerduty, requests, datetime.now(UTC))
        rows = rep.jobs_summary(postgres_url)["rows"]
    finally:
        cluster.stop()
        pagerduty.close()
    assert verdict.problems == []
    assert len(requests) == 8 + 2 * 6 + 4 and verdict.jobs >= len(requests)
    workers = {row.locked_by.split(":")[1] for row in rows if row.locked_by}
    assert len(workers) == 2, "both replicas' workers took jobs"
    assert all(rep.first_effect(request, recorder.calls) is not None for request in requests)
