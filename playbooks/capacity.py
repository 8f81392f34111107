"""What Fly's metrics say about capacity: the guide's "When to Scale What" decided on figures, and right-sizing.

Pure: the figures come in (read from Fly's Prometheus API by bot/features/fly_metrics), advice goes out, each
line naming the figures and the threshold that decided it.

- `decide()`: the guide's table on measurements instead of a symptom typed by a person. CPU high across the
  machines (mean busy share at or over CPU_HIGH) -> more machines; memory high on a machine (MEMORY_HIGH) ->
  more RAM (a bigger VM); slow (p95 at or over SLOW_P95_S, diagnose's "slow") while CPU is low (under CPU_LOW)
  -> not the machines: the database (the table's "Slow database queries" row).
- `right_size()`: the guide's Cost Optimization tip 1 ("check actual resource usage, downgrade if
  underutilized") on 7 days of highs: a machine whose CPU and memory both stayed under the LOW_ marks gets the
  smallest size of its CPU kind that holds its 7-day highs with headroom (CPU at most CPU_TARGET, memory at
  most MEMORY_TARGET of the new size), priced from a table kept as data with its date
  (playbooks/data/fly_prices.yaml). Advice only: nothing here changes a machine.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from playbooks.guide import WHEN_TO_SCALE

CPU_HIGH = 0.80  # mean busy share of the app's CPUs
MEMORY_HIGH = 0.85  # share of one machine's memory in use
CPU_LOW = 0.50  # under this, slowness is not the machines' CPU
SLOW_P95_S = 1.5  # diagnose's SLOW_MS
LOW_CPU = 0.30  # 7-day highest CPU under this ...
LOW_MEMORY = 0.50  # ... and 7-day highest memory under this: a candidate for a smaller size
CPU_TARGET = 0.50  # after the change, the 7-day highest CPU is at most this share of the new CPUs
MEMORY_TARGET = 0.60  # ... and the 7-day highest memory at most this share of the new memory
DAYS = 7
PRICES_FILE = Path(__file__).resolve().parent / "data" / "fly_prices.yaml"


def pct(value: float | None) -> str:
    return "no data" if value is None else f"{value * 100:.0f}%"


def ms(seconds: float | None) -> str:
    return "no traffic" if seconds is None else f"{seconds * 1000:.0f} ms"


def share(value: float | None) -> str:
    if value is None:
        return "no traffic"
    return f"{value * 100:.2f}%" if value < 0.1 else f"{value * 100:.1f}%"


@dataclass(frozen=True)
class Traffic:
    """The app's responses over a few minutes: 95th percentile time (s) and share of 5xx (0..1)."""

    p95_s: float | None = None
    errors: float | None = None


@dataclass
class Usage:
    """An app's machines and traffic from Fly's metrics, now and an hour ago; `error` when they could not be read."""

    app: str
    cpu: dict[str, float] = field(default_factory=dict)  # instance (machine id) -> busy share
    memory: dict[str, float] = field(default_factory=dict)  # instance -> share in use
    now: Traffic = field(default_factory=Traffic)
    hour_ago: Traffic = field(default_factory=Traffic)
    error: str = ""

    def lines(self, label=lambda instance: instance) -> list[str]:
        """/diagnose's lines: CPU and memory per machine, p95 and 5xx now against an hour ago."""
        if self.error:
            return [f"*Fly metrics*: {self.error}"]
        machines = sorted(set(self.cpu) | set(self.memory))
        if not machines:
            return [f"*Fly metrics* ({self.app}): no CPU or memory series for this app in the last minutes"]
        per = " · ".join(f"{label(m)} CPU {pct(self.cpu.get(m))}, memory {pct(self.memory.get(m))}"
                         for m in machines)
        return [f"*CPU and memory* (Fly metrics, 5 min): {per}",
                f"*Responses* (Fly's edge, 5 min): p95 {ms(self.now.p95_s)} (an hour ago {ms(self.hour_ago.p95_s)}), "
                f"5xx {share(self.now.errors)} (an hour ago {share(self.hour_ago.errors)})"]


@dataclass(frozen=True)
class Decision:
    """A row of the guide's table chosen on figures."""

    key: str  # WHEN_TO_SCALE's key: "cpu", "memory", "slow-queries"
    symptom: str
    fix: str
    command: str
    figures: str

    def line(self) -> str:
        return f"{self.symptom} ({self.figures}) -> {self.fix}" + (f": `{self.command}`" if self.command else "")


def _row(key: str):
    return next(row for row in WHEN_TO_SCALE if row.key == key)


def decide(usage: Usage, machines: int | None = None, max_machines: int = 20) -> Decision | None:
    """The guide's "When to Scale What" on Fly's figures; None when no row applies (or nothing was read)."""
    if usage.error or not usage.cpu and usage.now.p95_s is None:
        return None
    count = machines if machines is not None else len(usage.cpu)
    mean_cpu = sum(usage.cpu.values()) / len(usage.cpu) if usage.cpu else None
    if mean_cpu is not None and mean_cpu >= CPU_HIGH:
        row = _row("cpu")
        target = min(max_machines, max(count + 1, math.ceil(round(count * mean_cpu / 0.6, 6))))
        return Decision("cpu", row.symptom, row.fix, f"/scale count {target}",
                        f"CPU {pct(mean_cpu)} on average over {len(usage.cpu)} machines, at or over "
                        f"{pct(CPU_HIGH)}; {target} machines bring it near 60%")
    high = {m: v for m, v in usage.memory.items() if v >= MEMORY_HIGH}
    if high:
        row = _row("memory")
        worst = max(high, key=high.get)
        return Decision("memory", row.symptom, "Increase RAM (a bigger VM)", "/scale memory <MB>",
                        f"memory {pct(high[worst])} on {worst}, at or over {pct(MEMORY_HIGH)}"
                        + (f", {len(high)} machines" if len(high) > 1 else ""))
    slow = usage.now.p95_s is not None and usage.now.p95_s >= SLOW_P95_S
    if slow and (mean_cpu is None or mean_cpu < CPU_LOW):
        row = _row("slow-queries")
        return Decision("slow-queries", row.symptom, row.fix, "",
                        f"p95 {ms(usage.now.p95_s)} (an hour ago {ms(usage.hour_ago.p95_s)}), at or over "
                        f"{ms(SLOW_P95_S)}, while CPU is {pct(mean_cpu)}, under {pct(CPU_LOW)}: the machines are "
                        "waiting, not working")
    return None


# -- right-sizing ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Size:
    name: str
    kind: str  # shared | performance
    cpus: int
    memory_mb: int  # included
    month: float


@dataclass(frozen=True)
class Prices:
    as_of: str
    source: str
    currency: str
    memory_gb_month: float
    sizes: tuple[Size, ...]

    def size(self, kind: str, cpus: int) -> Size | None:
        return next((s for s in self.sizes if s.kind == kind and s.cpus == cpus), None)

    def monthly(self, kind: str, cpus: int, memory_mb: int) -> float | None:
        size = self.size(kind, cpus)
        if size is None:
            return None
        return size.month + max(0, memory_mb - size.memory_mb) / 1024 * self.memory_gb_month

    def dated(self) -> str:
        return f"prices as of {self.as_of} ({self.source})"


class PricesError(ValueError):
    """The price file is unreadable; the message says which line to fix."""


def load_prices(path: str | None = None) -> Prices:
    """The price table: FLY_PRICES's file when given, else the guide's (playbooks/data/fly_prices.yaml).

    Each refusal names the file and the key or size to fix: a team's table read as a list, or a row of three
    values, came out as Python's own words ("string indices must be integers", "not enough values to unpack")
    without saying which size was wrong."""
    source = Path(path) if path else PRICES_FILE
    try:
        text = source.read_text()
        data = json.loads(text) if source.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise PricesError(f"cannot read the price table {source}: {exc}") from None
    if not isinstance(data, dict):
        raise PricesError(f"the price table {source} is not a mapping of as_of, memory_gb_month and sizes (see "
                          f"{PRICES_FILE.name})")
    missing = [key for key in ("as_of", "memory_gb_month", "sizes") if data.get(key) in (None, "")]
    if missing:
        raise PricesError(f"the price table {source} has no {' and no '.join(missing)}")
    if not isinstance(data["sizes"], dict) or not data["sizes"]:
        raise PricesError(f"the price table {source} has no sizes: it needs `name: [cpu_kind, cpus, memory_mb, "
                          "monthly price]` under sizes")
    sizes = []
    for name, row in data["sizes"].items():
        try:
            kind, cpus, memory, month = row
            sizes.append(Size(str(name), str(kind), int(cpus), int(memory), float(month)))
        except (TypeError, ValueError):
            shown = "[" + ", ".join(str(v) for v in row) + "]" if isinstance(row, list) else repr(row)
            raise PricesError(f"the price table {source}: size {name} is {shown}, not [cpu_kind, cpus, memory_mb, "
                              "monthly price]") from None
    try:
        memory_gb_month = float(data["memory_gb_month"])
    except (TypeError, ValueError):
        raise PricesError(f"the price table {source}: memory_gb_month is {data['memory_gb_month']!r}, not a price "
                          "per GB per month") from None
    return Prices(str(data["as_of"]), str(data.get("source") or source.name), str(data.get("currency") or "USD"),
                  memory_gb_month, tuple(sizes))


def memory_range(kind: str, cpus: int) -> tuple[int, int]:
    """What Fly allows: shared CPUs 256 MB to 2 GB each, performance CPUs 2 GB to 8 GB each."""
    return (2048 * cpus, 8192 * cpus) if kind == "performance" else (256 * cpus, 2048 * cpus)


@dataclass(frozen=True)
class Seen:
    """A machine over the last days: its size and its highest CPU and memory shares."""

    instance: str
    kind: str
    cpus: int
    memory_mb: int
    cpu_max: float | None
    memory_max: float | None
    days: float  # how far back its series go
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.instance[:8]

    @property
    def size(self) -> str:
        return f"{'performance' if self.kind == 'performance' else 'shared-cpu'}-{self.cpus}x, {self.memory_mb} MB"


@dataclass(frozen=True)
class Advice:
    seen: Seen
    why: str
    size: str = ""  # the smaller size, when there is one
    cpus: int = 0
    memory_mb: int = 0
    now_month: float | None = None
    new_month: float | None = None

    @property
    def saving(self) -> float:
        if self.now_month is None or self.new_month is None:
            return 0.0
        return max(0.0, self.now_month - self.new_month)


def right_size(machines: list[Seen], prices: Prices) -> list[Advice]:
    """For each machine, the smaller size that fits its 7-day highs with headroom, or why it stays."""
    advice = []
    for seen in machines:
        figures = f"7-day highs: CPU {pct(seen.cpu_max)}, memory {pct(seen.memory_max)} of {seen.size}"
        if seen.cpu_max is None or seen.memory_max is None:
            advice.append(Advice(seen, "no CPU or memory series over the last days"))
            continue
        if seen.days < DAYS - 0.5:
            advice.append(Advice(seen, f"only {seen.days:.1f} days of metrics, {DAYS} needed"))
            continue
        if seen.cpu_max >= LOW_CPU or seen.memory_max >= LOW_MEMORY:
            advice.append(Advice(seen, f"{figures}: not under CPU {pct(LOW_CPU)} and memory {pct(LOW_MEMORY)}, "
                                       "so it is used"))
            continue
        used_cpus = seen.cpu_max * seen.cpus
        used_mb = seen.memory_max * seen.memory_mb
        choices = sorted((s for s in prices.sizes if s.kind == seen.kind and used_cpus / s.cpus <= CPU_TARGET),
                         key=lambda s: s.cpus)
        best = None
        for size in choices:
            low, high = memory_range(size.kind, size.cpus)
            memory = max(low, math.ceil(used_mb / MEMORY_TARGET / 256) * 256)
            if memory > high:
                continue
            cost = prices.monthly(size.kind, size.cpus, memory)
            if cost is not None and (best is None or cost < best[2]):
                best = (size, memory, cost)
        now = prices.monthly(seen.kind, seen.cpus, seen.memory_mb)
        if best is None or now is None or best[2] >= now - 0.005:
            advice.append(Advice(seen, f"{figures}: already the smallest size that keeps CPU under "
                                       f"{pct(CPU_TARGET)} and memory under {pct(MEMORY_TARGET)}",
                                 now_month=now))
            continue
        size, memory, cost = best
        advice.append(Advice(seen, f"{figures}: {size.name} with {memory} MB keeps them under {pct(CPU_TARGET)} "
                                   f"CPU and {pct(MEMORY_TARGET)} memory", size.name, size.cpus, memory, now, cost))
    return advice


def advice_lines(app: str, advice: list[Advice], prices: Prices) -> tuple[str, list[str]]:
    """(headline, lines) for `/scale rightsize`: the savings, each machine's figures, the price table's date."""
    smaller = [a for a in advice if a.size]
    money = prices.currency + " " if prices.currency != "USD" else "$"
    total = sum(a.saving for a in smaller)
    if smaller:
        head = (f"Right-sizing {app}: {len(smaller)} of {len(advice)} machines stayed low for {DAYS} days; "
                f"smaller sizes would save about {money}{total:.2f}/month")
    else:
        head = f"Right-sizing {app}: no machine to downsize ({len(advice)} read)"
    lines = []
    for a in advice:
        if a.size:
            lines.append(f"{a.seen.name}: {a.why}. Saves {money}{a.saving:.2f}/month "
                         f"({money}{a.now_month:.2f} -> {money}{a.new_month:.2f}).")
        else:
            lines.append(f"{a.seen.name}: keep: {a.why}.")
    for (kind, cpus, memory), group in _groups(smaller).items():
        name = f"{'performance' if kind == 'performance' else 'shared-cpu'}-{cpus}x"
        lines.append(f"To do it (after a look at the figures): `/scale vm {name}` then `/scale memory {memory}`"
                     + (f" (these {len(group)} machines)" if len(group) < len(advice) else "")
                     + ": each shows a plan and waits for a Confirm. Fireline changes nothing on its own.")
    lines.append(f"Priced from {prices.dated()}; check fly.io/docs/about/pricing before quoting it.")
    return head, lines


def _groups(advice: list[Advice]) -> dict[tuple[str, int, int], list[Advice]]:
    groups: dict[tuple[str, int, int], list[Advice]] = {}
    for a in advice:
        groups.setdefault((a.seen.kind, a.cpus, a.memory_mb), []).append(a)
    return groups


__all__ = ["Advice", "Decision", "Prices", "Seen", "Traffic", "Usage", "advice_lines", "decide", "load_prices",
           "right_size"]
