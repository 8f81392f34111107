"""Fly's metrics for Fireline's features: what /diagnose, `/scale rightsize` and the deploy watch read, in one place.

The client (bot/clients/fly/metrics.py) knows the API and the PromQL; this module knows the features' questions
(an app's machines and traffic now and an hour ago, 7-day highs per machine) and turns "not configured" and
"could not read" into words on the result instead of an exception, so a report still shows what it could read.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.clients.fly import metrics as q
from bot.clients.fly.metrics import FlyMetrics, FlyMetricsError
from bot.core.check import Status
from bot.core.clock import utcnow
from bot.core.container import Container
from bot.core.settings import Settings
from playbooks.capacity import DAYS, Seen, Traffic, Usage

WINDOW = "5m"
LONG_WINDOW = "30m"  # the 7-day highs are of 30-minute averages: a deploy's minute of 100% is not "used"


def client(container: Container) -> FlyMetrics:
    """The client from FLY_METRICS_*; MetricsNotConfigured (a FlyMetricsError) without a token."""
    return FlyMetrics.from_settings(container.settings, sleep=container.knobs.sleep)


def traffic(metrics: FlyMetrics, app: str, at: datetime, window: str = WINDOW, instance: str | None = None) -> Traffic:
    """p95 and 5xx share of the app (Fly's edge) or of one instance (its proxy) over `window` before `at`."""
    return Traffic(q.single(metrics.query(q.p95_seconds(app, window, instance), at)),
                   q.single(metrics.query(q.error_rate_5xx(app, window, instance), at)))


def usage(container: Container, app: str) -> Usage:
    """CPU and memory per machine and the app's traffic now and an hour ago; `error` says why not."""
    now = container.clock()
    found = Usage(app)
    try:
        with client(container) as metrics:
            found.cpu = q.by_instance(metrics.query(q.cpu_by_instance(app, WINDOW), now))
            found.memory = q.by_instance(metrics.query(q.memory_by_instance(app), now))
            found.now = traffic(metrics, app, now)
            found.hour_ago = traffic(metrics, app, now - timedelta(hours=1))
    except FlyMetricsError as exc:
        found.error = str(exc)
    return found


def seen(container: Container, app: str, kinds: dict[str, str] | None = None,
         labels: dict[str, str] | None = None) -> list[Seen]:
    """Each machine's size (CPUs counted from its series, memory from MemTotal) and 7-day highs.

    `kinds`: machine id -> cpu_kind from Fly's Machines API where it was read (metrics cannot tell a shared
    CPU from a performance one); otherwise "shared", the guide's fleet. Raises FlyMetricsError.
    """
    now = container.clock()
    kinds, labels = kinds or {}, labels or {}
    with client(container) as metrics:
        cpu = q.by_instance(metrics.query(q.highest_over(q.cpu_by_instance(app, LONG_WINDOW), DAYS), now))
        memory = q.by_instance(metrics.query(q.highest_over(q.memory_by_instance(app), DAYS), now))
        total = q.by_instance(metrics.query(q.memory_total_by_instance(app), now))
        cpus = q.by_instance(metrics.query(q.cpu_count_by_instance(app), now))
        days = q.by_instance(metrics.query(q.history_days(app, DAYS), now))
    machines = []
    for instance in sorted(set(total) | set(cpu)):
        memory_mb = int(-(-total.get(instance, 0) // (256 * 1024 * 1024)) * 256) if total.get(instance) else 0
        machines.append(Seen(instance, kinds.get(instance, "shared"), int(cpus.get(instance, 1)), memory_mb,
                             cpu.get(instance), memory.get(instance), days.get(instance, 0.0),
                             labels.get(instance, "")))
    return machines


def check_fly_metrics(settings: Settings) -> Status:
    """`fireline check`'s line: "live" only after Fly's metrics answered for FLY_ORG (and FLY_APP has series)."""
    if not settings.fly_metrics_readable:
        return Status("fly-metrics", "off", "FLY_METRICS_TOKEN not set: /diagnose, `/scale rightsize` and deploy "
                                            "watches read no CPU, memory or response times from Fly")
    try:
        with FlyMetrics.from_settings(settings, sleep=lambda _: None) as metrics:
            apps = metrics.query("count by (app) (fly_instance_memory_mem_total)", utcnow())
    except FlyMetricsError as exc:
        return Status("fly-metrics", "error", str(exc))
    names = sorted(s.labels.get("app", "") for s in apps)
    mine = f"; FLY_APP {settings.fly_app} has none" if settings.fly_app and settings.fly_app not in names else ""
    return Status("fly-metrics", "live" if not mine else "error",
                  f"organisation {settings.fly_org} at {settings.fly_metrics_url}: {len(names)} apps report "
                  f"metrics{mine}")
