"""A real Prometheus loaded with Fly-shaped series, so the metrics client and its features are tested against
the query engine itself, not against answers we wrote.

`series()` writes OpenMetrics in Fly's built-in series (fly_instance_cpu, fly_instance_memory_*, fly_edge_http_*
without `instance`, fly_app_http_* with it; https://fly.io/docs/metrics-and-logs/metrics/) for the fleets below,
`promtool tsdb create-blocks-from openmetrics` turns them into blocks, and `prometheus` serves them on 127.0.0.1
with `--web.route-prefix=/prometheus/<org>`, so the client's paths are Fly's. Debian's `prometheus` package may
also start a system service: it is not used. Without the binaries the tests skip saying so; with
FIRELINE_REQUIRE_PROMETHEUS=1 (CI) they fail instead.

Every fleet ends at END, the tests' clock (tests/conftest.py `clock`), so a feature asking "now" with the test
clock reads the generated "now".
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port

END = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
ORG = "cgraph-org"
GIB = 1024 ** 3
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Cumulative share of requests answered within each bucket's bound (BUCKETS), +Inf being 1.
FAST = (0.5, 0.8, 0.97, 0.99, 0.998, 1.0, 1.0, 1.0)  # p95 ~0.23 s by histogram_quantile's interpolation
SLOW = (0.05, 0.1, 0.2, 0.4, 0.6, 0.9, 0.98, 1.0)  # p95 ~4.1 s


@dataclass(frozen=True)
class Phase:
    """How an instance behaves from `since` (seconds before END) on, until a later phase starts."""

    since: float
    cpu: float = 0.3  # busy share of its CPUs
    memory: float = 0.5  # share of memory in use
    rps: float = 10.0  # requests per second through it
    errors: float = 0.002  # share of 5xx
    latency: tuple[float, ...] = FAST


@dataclass(frozen=True)
class Instance:
    id: str
    region: str = "iad"
    cpus: int = 1
    memory_bytes: int = 2 * GIB
    phases: tuple[Phase, ...] = (Phase(since=3 * 3600),)


@dataclass(frozen=True)
class Fleet:
    app: str
    instances: tuple[Instance, ...]
    hours: float = 3.0  # how far back the series go
    step: float = 60.0  # seconds between samples
    wobble: float = 0.0  # +- share of each figure, a slow sine, so the highest is not the mean
    ahead: float = 0.0  # seconds of series after END (a deploy watch's ticks move the test clock past it)
    http: bool = True  # with the proxy's HTTP series (the 7-day fleet leaves them out: promtool's time is per day)
    host: str = "a1b2"
    extra: dict = field(default_factory=dict)


def _machine(n: int, prefix: str) -> str:
    return f"{prefix}{n:02x}".ljust(14, "0")[:14]


def _steady(app: str, prefix: str, n: int, **phase) -> tuple[Instance, ...]:
    return tuple(Instance(_machine(i, prefix), phases=(Phase(since=3 * 3600, **phase),)) for i in range(n))


# The canary fleets: stable machines and one canary each (its id ends the tuple), the canary deployed 30 min ago.
CANARY_SINCE = 30 * 60
GOOD_CANARY = "c0ffee00000001"
BAD_CANARY = "c0ffee00000002"
FLEETS = (
    # Healthy: the fake Fly's guide fleet (tests/support/fake_fly.py) at 30% CPU and half their memory, p95
    # ~0.23 s, 0.2% 5xx, the same an hour ago.
    Fleet("cgraph-api", tuple(Instance(mid, region, phases=(Phase(since=3 * 3600),)) for mid, region in (
        ("m1aaaaaaaaaaaa", "iad"), ("m2bbbbbbbbbbbb", "iad"), ("m3cccccccccccc", "lhr"), ("m4dddddddddddd", "lhr"))),
        ahead=20 * 60),
    # CPU high on every machine (88%), memory fine, latency up: more machines.
    Fleet("cgraph-busy", _steady("cgraph-busy", "2a8e", 2, cpu=0.88, memory=0.45, latency=SLOW)),
    # Memory high (93%), CPU fine: a bigger VM.
    Fleet("cgraph-memory", _steady("cgraph-memory", "3b8e", 2, cpu=0.25, memory=0.93)),
    # Slow with low CPU for the last 40 minutes (fast before): the database.
    Fleet("cgraph-slow", tuple(Instance(_machine(i, "4c8e"), phases=(
        Phase(since=3 * 3600, cpu=0.2), Phase(since=40 * 60, cpu=0.15, latency=SLOW, errors=0.01)))
        for i in range(2))),
    # Idle for 7 days: 4 shared-cpu-2x machines with 4 GB, CPU at most ~6%, memory at most ~22%.
    Fleet("cgraph-idle", tuple(Instance(_machine(i, "5d8e"), cpus=2, memory_bytes=4 * GIB,
                                        phases=(Phase(since=7 * 86400, cpu=0.05, memory=0.2, rps=2),))
                               for i in range(4)), hours=7 * 24, step=600.0, wobble=0.2, http=False),
    # Canaries: two stable machines each, and a canary for the last 30 minutes.
    Fleet("cgraph-canary-good", _steady("x", "6e8e", 2) + (Instance(GOOD_CANARY, phases=(
        Phase(since=CANARY_SINCE, cpu=0.3, errors=0.002),)),)),
    Fleet("cgraph-canary-bad", _steady("x", "7f8e", 2) + (Instance(BAD_CANARY, phases=(
        Phase(since=CANARY_SINCE, cpu=0.35, errors=0.15, latency=SLOW),)),)),
)


def fleet(app: str) -> Fleet:
    return next(f for f in FLEETS if f.app == app)


def _phase(instance: Instance, ago: float) -> Phase | None:
    current = None
    for phase in sorted(instance.phases, key=lambda p: -p.since):
        if ago <= phase.since:
            current = phase
    return current


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _fmt(value: float) -> str:
    return repr(round(value, 6))


def series(fleets: tuple[Fleet, ...] = FLEETS, end: datetime = END) -> Iterator[str]:
    """OpenMetrics lines for every fleet: families grouped as the format requires, ending with `# EOF`."""
    stamp = end.timestamp()
    families: dict[str, list[str]] = {}

    def add(name: str, labels: str, points: list[tuple[float, float]]) -> None:
        lines = families.setdefault(name, [])
        lines.extend(f"{name}{labels} {_fmt(v)} {t:.0f}" for t, v in points)

    for f in fleets:
        steps, extra = int(f.hours * 3600 // f.step), int(f.ahead // f.step)
        times = [stamp - (steps - k) * f.step for k in range(steps + extra + 1)]
        for number, inst in enumerate(f.instances):
            base = dict(app=f.app, region=inst.region, host=f.host, instance=inst.id)
            alive = [(t, _phase(inst, stamp - t)) for t in times]
            alive = [(t, p) for t, p in alive if p is not None]
            if not alive:
                continue

            def wob(t: float, value: float, period: float = 86400.0, f=f) -> float:
                return value * (1 + f.wobble * math.sin(2 * math.pi * t / period))

            # CPU: centiseconds per mode per CPU, counting up (a counter, as Fly's).
            for cpu in range(inst.cpus):
                for mode in ("user", "system", "idle"):
                    total, points, last = 0.0, [], None
                    for t, p in alive:
                        if last is not None:
                            busy = min(1.0, wob(t, p.cpu))
                            share = {"user": busy * 0.8, "system": busy * 0.2, "idle": 1 - busy}[mode]
                            total += share * (t - last) * 100
                        points.append((t, total))
                        last = t
                    add("fly_instance_cpu", _labels(**base, cpu_id=str(cpu), mode=mode), points)
            add("fly_instance_memory_mem_total", _labels(**base), [(t, inst.memory_bytes) for t, _ in alive])
            add("fly_instance_memory_mem_available", _labels(**base),
                [(t, inst.memory_bytes * (1 - min(0.99, wob(t, p.memory)))) for t, p in alive])
            # HTTP: the app-side proxy per instance; the edge per app (no instance label, as on Fly: each
            # instance's traffic stands for an edge host's here).
            if not f.http:
                continue
            edge = {k: v for k, v in base.items() if k != "instance"} | {"host": f"e{number:03x}"}
            for prefix, labels in (("fly_app_http_", base), ("fly_edge_http_", edge)):
                for status in ("200", "503"):
                    total, points, last = 0.0, [], None
                    for t, p in alive:
                        if last is not None:
                            share = p.errors if status == "503" else 1 - p.errors
                            total += p.rps * share * (t - last)
                        points.append((t, total))
                        last = t
                    add(f"{prefix}responses_count", _labels(**labels, status=status), points)
                for i, le in enumerate((*BUCKETS, math.inf)):
                    total, points, last = 0.0, [], None
                    for t, p in alive:
                        if last is not None:
                            total += p.rps * (t - last) * (p.latency[i] if i < len(BUCKETS) else 1.0)
                        points.append((t, total))
                        last = t
                    bound = "+Inf" if le == math.inf else repr(le)
                    add(f"{prefix}response_time_seconds_bucket", _labels(**labels, le=bound), points)
    for lines in families.values():
        yield from lines
    yield "# EOF"


# -- the server ------------------------------------------------------------------------------------------

MISSING = ("Prometheus is not installed (Debian's `prometheus` package gives `prometheus` and `promtool`; "
           "`bash .ci/run` installs it)")


def _unavailable(reason: str) -> None:
    if os.environ.get("FIRELINE_REQUIRE_PROMETHEUS"):
        pytest.fail(reason)
    pytest.skip(reason)



@dataclass
class Running:
    """A Prometheus serving the generated fleets: `url` is FLY_METRICS_URL's value, `org` FLY_ORG's."""

    url: str
    org: str
    process: subprocess.Popen
    storage: Path

    @property
    def api(self) -> str:
        return f"{self.url}/{self.org}/api/v1"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start(workdir: Path, fleets: tuple[Fleet, ...] = FLEETS, org: str = ORG) -> Running:
    """Generate, convert and serve; skips (or fails in CI) when Prometheus is absent or will not start."""
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        _unavailable(MISSING)
    storage = workdir / "data"
    storage.mkdir(parents=True, exist_ok=True)
    # promtool reads its whole input once per 2-hour block: the long fleets go in a file of their own, so the
    # short ones' (larger) file is read twice instead of 84 times (94 s against a few).
    short = tuple(f for f in fleets if f.hours <= 4)
    for name, part in (("short", short), ("long", tuple(f for f in fleets if f not in short))):
        if not part:
            continue
        source = workdir / f"fly-{name}.om"
        with source.open("w") as out:
            for line in series(part):
                out.write(line + "\n")
        made = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(source),
                               str(storage)], capture_output=True, text=True, timeout=300)
        if made.returncode != 0:
            _unavailable(f"promtool could not make blocks: {made.stderr.strip()[:300]}")
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = free_port()
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={storage}",
         "--storage.tsdb.retention.time=3650d", f"--web.listen-address=127.0.0.1:{port}",
         f"--web.route-prefix=/prometheus/{org}", "--web.enable-lifecycle"],
        stdout=log, stderr=subprocess.STDOUT)
    running = Running(f"http://127.0.0.1:{port}/prometheus", org, process, storage)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _unavailable(f"prometheus exited at start: {(workdir / 'prometheus.log').read_text()[-300:]}")
        try:
            if httpx.get(f"{running.url}/{org}/-/ready", timeout=1).status_code == 200:
                return running
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    running.stop()
    _unavailable("prometheus did not become ready within 60 s")
    raise AssertionError("unreachable")  # pragma: no cover


def settings_for(running: Running) -> dict[str, str]:
    """The settings that point Fireline at it."""
    return {"fly_metrics_url": running.url, "fly_metrics_token": "fm2_test-metrics-token", "fly_org": running.org}


def at(ago: timedelta = timedelta(0)) -> datetime:
    return END - ago
