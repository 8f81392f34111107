"""Operational metrics on GET /metrics, in Prometheus text format (prometheus-client).

- `fireline_open_incidents{severity}`: computed from the database on each scrape, so every replica
  reports the same truth (use `max` across instances, not `sum`). Private incidents count only when
  METRICS_TOKEN protects the endpoint: an open /metrics is readable by anyone who can reach it, and a
  private incident does not exist for non-members, not even as a SEV1 that appeared at 14:02.
- `fireline_playbook_runs_total{playbook}` / `fireline_playbook_failures_total{playbook}`: the playbook
  framework calls `playbook_run(name, ok)` once per execution.
- `fireline_http_request_duration_seconds{endpoint}`: latency of /slack/events and the webhooks.
- `fireline_webhook_rejections_total{endpoint, reason}`: bad signatures, bad bodies, oversized requests.
- `fireline_http_server_errors_total{endpoint}`: answers of 500 and exceptions nobody handled, of any
  cause (bot/adapters/http/guard.py counts them; `other` for a path no route serves), and the faults answered
  otherwise on purpose (Slack's "something went wrong" in a 200, a webhook's 503 for a non-database fault).
- `fireline_jobs_due` and `fireline_database_up`: a stuck queue or an unreachable database at a glance.

Counters are per process (as Prometheus expects). They live in no global registry: each app builds its
own CollectorRegistry (`registry_for`) holding the shared counters plus its database-backed collector,
so tests can build many apps without "Duplicated timeseries" errors.

Under `serve`/`socket` with WORKER_PROCESS (the default) every job, so every playbook run, happens in
the worker child. The child counts into prometheus-client's multiprocess files (bot/app/worker.py
gives it a fresh PROMETHEUS_MULTIPROC_DIR per start) and a scrape adds them to the serving process's
own figures (`_WithChild`), one series per name and labels. Only counters and histograms cross: the
gauges here are computed from the database at scrape time, so multiprocess mode's gauge modes (which
would need choosing per gauge) never come into it.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from bot.core.container import Part
from bot.core.hooks import Hooks
from bot.store.models import OPEN_STATES, Incident, Job

if TYPE_CHECKING:
    from bot.core.registry import Registry
    from bot.core.container import Container

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class _ProcessMetrics:
    playbook_runs: Counter
    playbook_failures: Counter
    request_latency: Histogram
    webhook_rejections: Counter
    server_errors: Counter


@cache
def _process() -> _ProcessMetrics:
    """Created on first use, registered nowhere until an app's registry picks them up."""
    return _ProcessMetrics(
        playbook_runs=Counter("fireline_playbook_runs", "Playbook executions started, by playbook.",
                              ["playbook"], registry=None),
        playbook_failures=Counter("fireline_playbook_failures", "Playbook executions that failed, by playbook.",
                                  ["playbook"], registry=None),
        request_latency=Histogram("fireline_http_request_duration_seconds",
                                  "Time to answer Slack and webhook requests, by endpoint.", ["endpoint"],
                                  buckets=LATENCY_BUCKETS, registry=None),
        webhook_rejections=Counter("fireline_webhook_rejections", "Requests refused by /slack/events and "
                                   "the webhooks, by endpoint and reason.", ["endpoint", "reason"], registry=None),
        server_errors=Counter("fireline_http_server_errors", "HTTP answers of 500 and unhandled exceptions, "
                              "by endpoint.", ["endpoint"], registry=None),
    )


# -- the API features call ----------------------------------------------------------------------------
def playbook_run(name: str, ok: bool) -> None:
    """Count one finished playbook execution (`ok=False` also counts a failure)."""
    metrics = _process()
    metrics.playbook_runs.labels(playbook=name).inc()
    if not ok:
        metrics.playbook_failures.labels(playbook=name).inc()


def webhook_rejected(endpoint: str, reason: str) -> None:
    """Count a refused request, e.g. `webhook_rejected("/webhooks/alerts", "bad_signature")`.

    The HTTP layer counts any 4xx from /slack/events and /webhooks/* by itself (reason from the status);
    a handler that calls this first gives the precise reason and the request is not counted twice.
    """
    _process().webhook_rejections.labels(endpoint=endpoint, reason=reason).inc()
    note = _request_note.get()
    if note is not None:
        note["rejection_counted"] = True


def server_error(endpoint: str) -> None:
    """Count a 500 (or an exception nobody handled) on `endpoint` (a declared route path, or UNROUTED)."""
    _process().server_errors.labels(endpoint=endpoint).inc()


def observe_request(endpoint: str, seconds: float) -> None:
    _latency_for(endpoint).observe(seconds)


@cache
def _latency_for(endpoint: str):
    """The histogram's child for one endpoint (looked up once: this runs on every request)."""
    return _process().request_latency.labels(endpoint=endpoint)


def sample_value(name: str, labels: dict[str, str] | None = None) -> float:
    """The current value of one process metric (0 when never touched); for tests and `fireline check`."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in _collectors():
        registry.register(collector)
    return registry.get_sample_value(name, labels or {}) or 0.0


# Per HTTP request: a dict the handler (even in the thread pool, which copies the context) can mark.
_request_note: ContextVar[dict[str, bool] | None] = ContextVar("fireline_request_note", default=None)


@contextmanager
def request_note() -> Iterator[dict[str, bool]]:
    """Opened by the HTTP layer around each request; says whether the handler counted its rejection."""
    note: dict[str, bool] = {}
    token = _request_note.set(note)
    try:
        yield note
    finally:
        _request_note.reset(token)


UNROUTED = "other"  # the `endpoint` label of a request no route serves: labels stay bounded by the routes


STATUS_REASONS = {400: "bad_request", 401: "bad_signature", 403: "forbidden", 404: "not_found",
                  405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
                  422: "invalid", 429: "rate_limited"}


def reason_for_status(status: int) -> str:
    return STATUS_REASONS.get(status, f"http_{status}")


# -- what a scrape sees ------------------------------------------------------------------------------
class DatabaseCollector(Collector):
    """Open incidents by SEV and due jobs, read from the database at scrape time."""

    def __init__(self, container: Container) -> None:
        self.container = container

    def collect(self):
        from sqlalchemy import func
        from sqlmodel import Session, col, select

        open_incidents = GaugeMetricFamily("fireline_open_incidents", "Incidents not yet resolved, by severity.",
                                           labels=["severity"])
        due = GaugeMetricFamily("fireline_jobs_due", "Background jobs due now and not yet run (a growing number "
                                "means no worker is running them).")
        up = GaugeMetricFamily("fireline_database_up", "1 if the last scrape could read the database.")
        try:
            with Session(self.container.engine) as session:
                counted = select(Incident.severity, func.count()).where(col(Incident.status).in_(OPEN_STATES))
                if self.container.settings.metrics_token is None:  # anyone may scrape: no private incident
                    counted = counted.where(col(Incident.private).is_(False))
                counts = dict(session.exec(counted.group_by(Incident.severity)).all())
                due_count = session.exec(select(func.count()).select_from(Job).where(
                    col(Job.status) == "pending", col(Job.run_at) <= self.container.clock())).one()
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        for level in sorted({1, 2, 3, 4} | set(counts)):
            open_incidents.add_metric([str(level)], counts.get(level, 0))
        due.add_metric([], due_count)
        up.add_metric([], 1)
        yield from (open_incidents, due, up)


def _collectors() -> list[Collector]:
    metrics = _process()
    return [metrics.playbook_runs, metrics.playbook_failures, metrics.request_latency, metrics.webhook_rejections,
            metrics.server_errors]


class _WithChild(Collector):
    """This process's counters plus those the worker child wrote to `path`, summed per series.

    `_created` samples are left out: creation times of two processes cannot be added (and the
    multiprocess files keep none), while Prometheus needs none to compute rates.
    """

    def __init__(self, own: list[Collector], path: str) -> None:
        self.own, self.child = own, MultiProcessCollector(None, path=path)

    def collect(self):
        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple, float]] = {}
        for collector in [*self.own, self.child]:
            for family in collector.collect():
                merged = families.setdefault(family.name, Metric(family.name, family.documentation, family.type))
                series = values.setdefault(family.name, {})
                for sample in family.samples:
                    if sample.name.endswith("_created"):
                        continue
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    series[key] = series.get(key, 0.0) + sample.value
        for name, merged in families.items():
            for (sample_name, labels), value in values[name].items():
                merged.add_sample(sample_name, dict(labels), value)
            yield merged


def registry_for(container: Container, child_metrics: str | None = None) -> CollectorRegistry:
    """This app's registry: the process counters plus its own database collector (built once per app).

    `child_metrics`: the worker child's multiprocess directory, whose counters are added in.
    """
    if child_metrics is not None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_WithChild(_collectors(), child_metrics))
        registry.register(DatabaseCollector(container))
        return registry
    return container.parts.get(METRICS_REGISTRY)


def _app_registry(container: Container) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    for collector in [*_collectors(), DatabaseCollector(container)]:
        registry.register(collector)
    return registry


# This app's /metrics registry, built once per app (registry_for).
METRICS_REGISTRY: Part[CollectorRegistry] = Part("metrics.registry", _app_registry)


def render(container: Container, child_metrics: str | None = None) -> bytes:
    return generate_latest(registry_for(container, child_metrics))


def register(registry: Registry) -> None:
    @registry.on(Hooks.HTTP_ROUTES)
    def routes(container: Container, worker=None) -> list:
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def metrics_endpoint(request: Request) -> Response:
            token = container.settings.metrics_token
            if token is not None:  # set but empty lets nobody in (`Bearer ` matched it; `serve` refuses it too)
                given = request.headers.get("authorization", "")
                expected = f"Bearer {token.get_secret_value()}"
                if not token.get_secret_value().strip() or not hmac.compare_digest(given.encode(), expected.encode()):
                    return Response("metrics need Authorization: Bearer <METRICS_TOKEN>\n", status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})
            child_metrics = getattr(worker, "metrics_dir", None)  # set when jobs run in the worker child
            body = await run_in_threadpool(render, container, child_metrics)
            return Response(body, media_type=CONTENT_TYPE_LATEST)

        return [Route("/metrics", metrics_endpoint, methods=["GET"])]
