"""Fly's metrics, read through its Prometheus-compatible query API (one organisation per token).

Fly keeps Prometheus series for every app (https://fly.io/docs/metrics-and-logs/metrics/): the API is
`https://api.fly.io/prometheus/<org-slug>/api/v1/query` and `/query_range`, a Fly access token sent as
`Authorization: Bearer <token>` (a `FlyV1 ...` org token goes as it is, like the Machines client's), served
by VictoriaMetrics, whose MetricsQL accepts the PromQL written here. Tests point `FLY_METRICS_URL` at a
real Prometheus on loopback started with `--web.route-prefix=/prometheus/<org>` so the paths are Fly's.

The rules are the other clients' (bot/clients/sentry.py, bot/clients/fly/http.py): a timeout on every call,
429 and 5xx retried (a query is harmless to repeat) waiting Retry-After or a doubling back-off, every failure
a `FlyMetricsError` in words that name the setting to fix, and the token never in a message. Requests go
through the process's kept-alive pool (bot/core/http_pool.py).

Which series (verified in Fly's metrics docs): `fly_instance_cpu{cpu_id,mode}` (a counter of centiseconds
per mode), `fly_instance_memory_mem_total` / `mem_available` (bytes), and the proxy's HTTP series
`fly_edge_http_responses_count{status}` and `fly_edge_http_response_time_seconds` (histogram). Every
series carries `app`, `region`, `host` and `instance`, EXCEPT the `fly_edge_` ones, which have no
`instance`: per-instance response figures come from the app-side proxy series `fly_app_http_responses_count`
and `fly_app_http_response_time_seconds`, which do.
"""

from __future__ import annotations

import logging
import math
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from bot.clients.fly.http import USER_AGENT, read_with_retries
from bot.core.errors import IntegrationError
from bot.core.http_pool import shared_transport

if TYPE_CHECKING:
    from bot.core.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_URL = "https://api.fly.io/prometheus"
NOT_CONFIGURED = ("Fly metrics not configured: set FLY_METRICS_TOKEN (a Fly access token, `fly tokens create "
                  "readonly` or `fly auth token`) and FLY_ORG (your organisation's slug, `fly orgs list`).")
TIMEOUT = 10.0


class FlyMetricsError(IntegrationError):
    """Reading Fly's metrics failed; the message is safe to show a person."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MetricsNotConfigured(FlyMetricsError):
    """No FLY_METRICS_TOKEN: everything that would read metrics says so instead."""

    def __init__(self) -> None:
        super().__init__(NOT_CONFIGURED)


@dataclass(frozen=True)
class Sample:
    """One value of an instant vector: its labels, the value and when it was taken."""

    labels: dict[str, str]
    value: float
    at: datetime


@dataclass(frozen=True)
class Series:
    """One series of a range query: its labels and (time, value) points in time order."""

    labels: dict[str, str]
    points: list[tuple[datetime, float]] = field(default_factory=list)


def _unix(when: datetime) -> str:
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return f"{when.timestamp():.3f}"


def _when(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


def _number(value: Any) -> float:
    """Prometheus sends values as strings: "1.5", "NaN", "+Inf"."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _seconds(step: timedelta | float | int) -> str:
    seconds = step.total_seconds() if isinstance(step, timedelta) else float(step)
    if seconds <= 0:
        raise ValueError("step must be positive")
    return f"{seconds:g}"


def label_value(value: str) -> str:
    """A PromQL string literal: app and instance names come from settings and people."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class FlyMetrics:
    """`query` and `query_range` against one organisation's Prometheus API."""

    def __init__(self, base_url: str, token: str, org: str, *, timeout: float = TIMEOUT, retries: int = 2,
                 sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None) -> None:
        token = (token or "").strip()
        if not token:
            raise MetricsNotConfigured()
        self.org = org.strip() or "personal"
        self.retries, self.sleep = retries, sleep
        value = token if token.startswith("FlyV1 ") else f"Bearer {token}"
        self._secrets = sorted({token, token.removeprefix("FlyV1 "), urllib.parse.quote(token, safe="")} - {""},
                               key=len, reverse=True)
        root = base_url.rstrip("/") + "/" + urllib.parse.quote(self.org, safe="")
        self.http = httpx.Client(base_url=root, transport=shared_transport(transport),
                                 timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
                                 headers={"Authorization": value, "Accept": "application/json",
                                          "User-Agent": USER_AGENT})

    @classmethod
    def from_settings(cls, settings: Settings, *, transport: httpx.BaseTransport | None = None,
                      sleep: Callable[[float], None] = time.sleep) -> FlyMetrics:
        """The client for FLY_METRICS_URL / FLY_ORG; `MetricsNotConfigured` without FLY_METRICS_TOKEN."""
        token = settings.fly_metrics_token.get_secret_value() if settings.fly_metrics_token else ""
        return cls(settings.fly_metrics_url, token, settings.fly_org, transport=transport, sleep=sleep)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> FlyMetrics:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the two calls ----------------------------------------------------------------------------
    def query(self, promql: str, at: datetime | None = None) -> list[Sample]:
        """An instant query at `at` (now when None); a scalar answer comes back as one unlabelled Sample."""
        form = {"query": promql}
        if at is not None:
            form["time"] = _unix(at)
        data = self._post("/api/v1/query", form, "read Fly's metrics")
        kind, result = data.get("resultType"), data.get("result")
        if kind in ("scalar", "string") and isinstance(result, list) and len(result) == 2:
            return [Sample({}, _number(result[1]), _when(result[0]))]
        if kind == "matrix":
            raise FlyMetricsError("Fly's metrics answered a range to an instant query; ask with query_range.")
        samples = []
        for item in result if isinstance(result, list) else []:
            value = item.get("value") if isinstance(item, dict) else None
            if isinstance(value, list) and len(value) == 2:
                samples.append(Sample(dict(item.get("metric") or {}), _number(value[1]), _when(value[0])))
        return samples

    def query_range(self, promql: str, start: datetime, end: datetime,
                    step: timedelta | float | int) -> list[Series]:
        """A range query from `start` to `end`, one point per `step` (a timedelta or seconds)."""
        form = {"query": promql, "start": _unix(start), "end": _unix(end), "step": _seconds(step)}
        data = self._post("/api/v1/query_range", form, "read Fly's metrics over time")
        series = []
        for item in data.get("result") if isinstance(data.get("result"), list) else []:
            if not isinstance(item, dict):
                continue
            points = [(_when(p[0]), _number(p[1])) for p in item.get("values") or []
                      if isinstance(p, list) and len(p) == 2]
            series.append(Series(dict(item.get("metric") or {}), points))
        return series

    # -- the loop ---------------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def _post(self, path: str, form: dict[str, str], what: str) -> dict[str, Any]:
        response, attempt = read_with_retries(lambda: self.http.post(path, data=form), retries=self.retries,
                                              sleep=self.sleep, error=FlyMetricsError, service="Fly's metrics",
                                              setting="FLY_METRICS_URL", what=what)
        return self._body(response, what, attempt)

    def _body(self, response: httpx.Response, what: str, attempt: int) -> dict[str, Any]:
        status = response.status_code
        said = ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("error"):
            said = self._redact(str(body.get("error")))[:200]
        if status == 429:
            raise FlyMetricsError(f"Fly's metrics kept rate limiting Fireline while trying to {what}; try again "
                                  "in a minute.", status)
        if status >= 500:
            raise FlyMetricsError(f"Fly's metrics failed (HTTP {status}) while trying to {what}, {attempt + 1} "
                                  "tries" + (f": {said}" if said else "") + ".", status)
        if status in (401, 403):
            raise FlyMetricsError(f"Fly's metrics refused FLY_METRICS_TOKEN (HTTP {status}): use a token of the "
                                  "organisation FLY_ORG names (`fly tokens create readonly`).", status)
        if status == 404:
            raise FlyMetricsError(f"Fly's metrics do not know the organisation {self.org!r} (HTTP 404): check FLY_ORG "
                                  "(`fly orgs list` shows the slugs) and FLY_METRICS_URL.", status)
        if status >= 400:
            raise FlyMetricsError(f"Fly's metrics refused the query (HTTP {status})" + (f": {said}" if said else "")
                                  + ".", status)
        if not isinstance(body, dict):
            raise FlyMetricsError(f"Fly's metrics' answer to {what} was not JSON.", status)
        if body.get("status") != "success" or not isinstance(body.get("data"), dict):
            raise FlyMetricsError(f"Fly's metrics could not {what}" + (f": {said}" if said else "") + ".", status)
        return body["data"]


# -- named queries: what the features ask, in Fly's series ------------------------------------------
# Each returns PromQL; `window` is a PromQL duration. Kept here so /diagnose, the scale advice, right-sizing,
# the deploy watch and the canary judge ask the same question the same way.

def _app(app: str, extra: str = "") -> str:
    return "{app=" + label_value(app) + (("," + extra) if extra else "") + "}"


def cpu_by_instance(app: str, window: str = "5m") -> str:
    """Busy share of each instance's CPUs (0..1): 1 - idle / all modes, from `fly_instance_cpu` (centiseconds).

    `guest`/`guest_nice` are left out of the total: Linux already counts them inside `user`/`nice`.
    """
    idle = f'sum by (instance) (rate(fly_instance_cpu{_app(app, "mode=" + label_value("idle"))}[{window}]))'
    total = (f'sum by (instance) (rate(fly_instance_cpu{_app(app, "mode!~" + label_value("guest|guest_nice"))}'
             f'[{window}]))')
    return f"1 - {idle} / {total}"


def memory_by_instance(app: str) -> str:
    """Share of each instance's memory in use (0..1): 1 - MemAvailable / MemTotal."""
    return (f"1 - max by (instance) (fly_instance_memory_mem_available{_app(app)}) / "
            f"max by (instance) (fly_instance_memory_mem_total{_app(app)})")


def memory_total_by_instance(app: str) -> str:
    """Each instance's memory in bytes (MemTotal: a little under the VM's size, the kernel keeps some)."""
    return f"max by (instance) (fly_instance_memory_mem_total{_app(app)})"


def _responses(app: str, instance: str | None) -> tuple[str, str]:
    """(series name prefix, selector): the edge for the whole app, the app-side proxy per instance."""
    if instance is None:
        return "fly_edge_http_", _app(app)
    return "fly_app_http_", _app(app, "instance=" + label_value(instance))


def p95_seconds(app: str, window: str = "5m", instance: str | None = None, by_instance: bool = False) -> str:
    """95th percentile response time in seconds, of the app (edge) or one/each instance (app proxy)."""
    prefix, selector = _responses(app, instance)
    if by_instance:
        prefix = "fly_app_http_"
    by = "le, instance" if by_instance else "le"
    return (f"histogram_quantile(0.95, sum by ({by}) "
            f"(rate({prefix}response_time_seconds_bucket{selector}[{window}])))")


def error_rate_5xx(app: str, window: str = "5m", instance: str | None = None, by_instance: bool = False) -> str:
    """Share of responses (0..1) with a 5xx status, of the app (edge) or one/each instance (app proxy)."""
    prefix, selector = _responses(app, instance)
    if by_instance:
        prefix = "fly_app_http_"
    by = " by (instance)" if by_instance else ""
    bad = selector[:-1] + ",status=~" + label_value("5..") + "}"
    return (f"sum{by} (rate({prefix}responses_count{bad}[{window}])) / "
            f"sum{by} (rate({prefix}responses_count{selector}[{window}]))")


def responses_by_instance(app: str, window: str = "5m") -> str:
    """How many responses each instance gave over `window` (the app-side proxy series, per instance): what a
    per-instance 5xx share or p95 stands on, so a machine that served a handful is not judged on them."""
    return f"sum by (instance) (increase(fly_app_http_responses_count{_app(app)}[{window}]))"


def highest_over(promql: str, days: int = 7, resolution: str = "10m") -> str:
    """The highest value of `promql` over the last `days` (a subquery; MetricsQL and Prometheus both take it)."""
    return f"max_over_time(({promql})[{days}d:{resolution}])"


# -- reading the named queries -------------------------------------------------------------------------

def by_instance(samples: Iterable[Sample]) -> dict[str, float]:
    """{instance: value} of samples labelled by instance, NaN (no traffic, no data) left out."""
    return {s.labels.get("instance", ""): s.value for s in samples if not math.isnan(s.value)}


def single(samples: list[Sample]) -> float | None:
    """The one value of an aggregate, None when there was none (no series, or NaN: no traffic)."""
    values = [s.value for s in samples if not math.isnan(s.value)]
    return values[0] if values else None


def cpu_count_by_instance(app: str) -> str:
    """How many CPUs each instance has (distinct `cpu_id` of its series)."""
    return f"count by (instance) (count by (instance, cpu_id) (fly_instance_cpu{_app(app)}))"


def history_days(app: str, days: int = 7) -> str:
    """How many days back each instance's series go, at most `days` (a machine younger than that has less)."""
    return (f"(time() - min_over_time(timestamp(max by (instance) (fly_instance_memory_mem_total{_app(app)}))"
            f"[{days}d:1h])) / 86400")
