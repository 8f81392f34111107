"""Is the new release healthy? A pure decision from what the deploy watch read, every reason in words.

The guide's Blue-Green section validates a deploy by hand: "check logs for errors, hit the health
endpoint, check error rates in Sentry, monitor response times", then complete or roll back. This is
that judgement as data: three sources (Sentry's error counts of the new release against the one
before, Fireline's own probes of HEALTH_URL over the window, Fly's machines per region), each giving
reasons at `healthy`, `suspicious` or `bad`, and the verdict is the worst of them. Thresholds are a
dataclass with defaults a team overrides (`DEPLOY_THRESHOLDS=error_ratio_bad=4`), and every reason
names the figure, the threshold and its name, like the classifier's reasons do.

Two rules keep it honest: error counts are compared per minute (ten minutes of the new release
against an hour of the old one is not a drop), and a source that could not be read gives "could not
read X", which is at least `suspicious`: a verdict is never `healthy` on data it did not see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import TypeVar

from playbooks.fleet import by_region, recent_crashes
from playbooks.timefmt import as_utc

T = TypeVar("T")

LEVELS = ("healthy", "suspicious", "bad")


@dataclass(frozen=True)
class Thresholds:
    """At or over a threshold is that level. Names are what DEPLOY_THRESHOLDS writes."""

    error_ratio_suspicious: float = 2.0  # new release's errors/min against the previous release's
    error_ratio_bad: float = 5.0
    min_errors: float = 10.0  # fewer errors than this in the window: too few for a ratio to mean anything
    health_fail_suspicious: float = 0.1  # share of HEALTH_URL probes that failed
    health_fail_bad: float = 0.5
    p95_suspicious_ms: float = 1500.0  # diagnose's "slow"
    p95_bad_ms: float = 5000.0
    restarts_suspicious: float = 2.0  # restarts in one region during the window
    crash_loops_bad: float = 1.0  # machines crash-looping in one region
    fly_5xx_suspicious: float = 0.01  # share of the app's responses that were 5xx since the deploy (Fly's metrics)
    fly_5xx_bad: float = 0.05

    def summary(self) -> str:
        """The thresholds in force, in one line a person can check a verdict against (names as DEPLOY_THRESHOLDS
        writes them), so the message needs no pointer to a manual page Slack cannot open."""
        return (f"errors/min {_fmt(self.error_ratio_suspicious)}x the previous release's suspicious, "
                f"{_fmt(self.error_ratio_bad)}x bad (from {_fmt(self.min_errors)} errors: min_errors); "
                f"failed probes {self.health_fail_suspicious:.0%} suspicious, {self.health_fail_bad:.0%} bad; "
                f"p95 {_fmt(self.p95_suspicious_ms)} ms suspicious, {_fmt(self.p95_bad_ms)} ms bad; "
                f"{_fmt(self.restarts_suspicious)} restarts in a region suspicious; "
                f"{_fmt(self.crash_loops_bad)} crash-looping machine bad; "
                f"Fly's 5xx share {self.fly_5xx_suspicious:.0%} suspicious, {self.fly_5xx_bad:.0%} bad")

    def changed(self) -> list[str]:
        """`name=value` of each threshold that differs from the default."""
        default = Thresholds()
        return [f"{f.name}={_fmt(getattr(self, f.name))}" for f in fields(self)
                if getattr(self, f.name) != getattr(default, f.name)]


def parse_thresholds(text: str) -> Thresholds:
    """`error_ratio_bad=4,p95_bad_ms=3000` -> Thresholds; raises ValueError saying what to write."""
    return parse_number_pairs(Thresholds, text, "error_ratio_bad=5,p95_bad_ms=5000")


def parse_number_pairs(kind: type[T], text: str, example_pairs: str) -> T:
    """`NAME=NUMBER,...` over a frozen dataclass of numbers (the deploy watch's and the canary's thresholds,
    each a setting): the defaults with the named ones changed; a ValueError names what to write."""
    names = [f.name for f in fields(kind)]  # type: ignore[arg-type]
    example = f"expected NAME=NUMBER pairs such as {example_pairs} (names: " + ", ".join(names) + ")"
    changes: dict[str, float] = {}
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        name, sep, number = (piece.strip() for piece in item.partition("="))
        if not sep or name not in names:
            raise ValueError(f"{example}; not {item[:30]!r}")
        try:
            value = float(number)
        except ValueError:
            raise ValueError(f"{example}; {name} is not a number ({number[:20]!r})") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{example}; {name} must be zero or more")
        changes[name] = value
    return replace(kind(), **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class ErrorCounts:
    """Sentry's error counts: the new release over its window, the previous one over a window before it."""

    new: float | None = None
    previous: float | None = None
    new_minutes: float = 0.0
    previous_minutes: float = 0.0
    error: str = ""  # why Sentry could not be read


@dataclass(frozen=True)
class TrafficChange:
    """Fly's metrics of the app: p95 (s) and 5xx share before the deploy and since it."""

    p95_before_s: float | None = None
    p95_after_s: float | None = None
    errors_before: float | None = None
    errors_after: float | None = None
    error: str = ""  # why Fly's metrics could not be read


@dataclass(frozen=True)
class Probe:
    ok: bool
    status: int | None
    latency_ms: float | None


@dataclass(frozen=True)
class RegionState:
    region: str
    machines: int
    started: int
    crash_looping: int = 0
    restarts: int = 0


@dataclass
class Observations:
    release: str
    previous: str
    minutes: float  # how long the new release has been watched
    errors: ErrorCounts | None = None  # None: Sentry not configured
    probes: list[Probe] | None = None  # None: HEALTH_URL not set
    regions: list[RegionState] | None = None  # None: Fly not read (see fly_error)
    fly_error: str = ""
    health_url: str = ""
    traffic: TrafficChange | None = None  # None: Fly's metrics not configured


# A source as the verdict names it: (what was judged, the source when it said nothing).
SOURCE_WORDS = {"Sentry": ("Sentry's error counts", "Sentry"), "Health": ("the health probes", "health"),
                "Fly": ("Fly's checks", "Fly")}


@dataclass(frozen=True)
class Reason:
    source: str  # "Sentry", "Health", "Fly"
    level: str  # healthy | suspicious | bad
    text: str
    unjudged: str = ""  # "not configured" | "not checked": the source said nothing, so it is not labelled ok


@dataclass
class Verdict:
    level: str
    reasons: list[Reason] = field(default_factory=list)

    def summary(self) -> str:
        """The verdict in words, naming the sources it rests on when some said nothing.

        "Healthy" alone read as if Sentry, the health probes and Fly had all been judged; with only Fly
        configured it was Fly's machine checks alone, so it says "Healthy on Fly's checks only (Sentry and
        health not configured)".
        """
        word = self.level.capitalize()
        judged = list(dict.fromkeys(r.source for r in self.reasons if not r.unjudged and r.source in SOURCE_WORDS))
        silent: dict[str, list[str]] = {}
        for r in self.reasons:
            if r.unjudged and r.source in SOURCE_WORDS and r.source not in silent.get(r.unjudged, []):
                silent.setdefault(r.unjudged, []).append(r.source)
        if not silent or not judged:
            return word
        why = "; ".join(" and ".join(SOURCE_WORDS[s][1] for s in sources) + f" {state}"
                        for state, sources in silent.items())
        return f"{word} on {' and '.join(SOURCE_WORDS[s][0] for s in judged)} only ({why})"

    def lines(self) -> list[str]:
        marks = {"healthy": "ok", "suspicious": "suspicious", "bad": "BAD"}
        return [f"{r.source} ({r.unjudged or marks[r.level]}): {r.text}" for r in self.reasons]


def _worst(levels: list[str]) -> str:
    return max(levels, key=LEVELS.index) if levels else "healthy"


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: p95 of 10 probes is the slowest one, not an interpolation between two."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def judge_errors(observed: Observations, limits: Thresholds) -> Reason:
    counts = observed.errors
    if counts is None:
        return Reason("Sentry", "healthy", "error rates were not judged: set SENTRY_API_TOKEN, SENTRY_ORG and "
                      "SENTRY_PROJECT", unjudged="not configured")
    if counts.error or counts.new is None or counts.previous is None:
        return Reason("Sentry", "suspicious", f"could not read Sentry: {counts.error or 'no answer'}")
    new_rate = counts.new / max(counts.new_minutes, 1e-9)
    old_rate = counts.previous / max(counts.previous_minutes, 1e-9)
    figures = (f"{_fmt(counts.new)} errors in {_fmt(counts.new_minutes)} min on {observed.release} "
               f"({new_rate:.1f}/min) against {_fmt(counts.previous)} in {_fmt(counts.previous_minutes)} min on "
               f"{observed.previous} ({old_rate:.1f}/min)")
    if counts.new < limits.min_errors:
        return Reason("Sentry", "healthy", f"{figures}: under min_errors {_fmt(limits.min_errors)}, too few "
                      "for a ratio")
    if old_rate == 0:
        return Reason("Sentry", "bad", f"{figures}: errors where there were none (error_ratio_bad "
                      f"{_fmt(limits.error_ratio_bad)}x)")
    ratio = new_rate / old_rate
    if ratio >= limits.error_ratio_bad:
        return Reason("Sentry", "bad", f"{figures}: {ratio:.1f}x, at or over error_ratio_bad "
                      f"{_fmt(limits.error_ratio_bad)}x")
    if ratio >= limits.error_ratio_suspicious:
        return Reason("Sentry", "suspicious", f"{figures}: {ratio:.1f}x, at or over error_ratio_suspicious "
                      f"{_fmt(limits.error_ratio_suspicious)}x")
    return Reason("Sentry", "healthy", f"{figures}: {ratio:.1f}x, under error_ratio_suspicious "
                  f"{_fmt(limits.error_ratio_suspicious)}x")


def judge_health(observed: Observations, limits: Thresholds) -> list[Reason]:
    probes = observed.probes
    if probes is None:
        return [Reason("Health", "healthy", "what users see was not judged: set HEALTH_URL to a page Fireline "
                       "can probe each minute", unjudged="not configured")]
    if not probes:
        return [Reason("Health", "suspicious", f"could not read HEALTH_URL: no probe of {observed.health_url or 'it'} "
                       "in the window yet")]
    failed = [p for p in probes if not p.ok]
    share = len(failed) / len(probes)
    statuses = sorted({str(p.status) if p.status else "no answer" for p in failed})
    fail_text = (f"{len(failed)} of {len(probes)} probes failed ({', '.join(statuses)})" if failed
                 else f"{len(probes)} of {len(probes)} probes answered 2xx")
    if share >= limits.health_fail_bad:
        level, rule = "bad", f"at or over health_fail_bad {limits.health_fail_bad:.0%}"
    elif share >= limits.health_fail_suspicious and failed:
        level, rule = "suspicious", f"at or over health_fail_suspicious {limits.health_fail_suspicious:.0%}"
    else:
        level, rule = "healthy", f"under health_fail_suspicious {limits.health_fail_suspicious:.0%}"
    reasons = [Reason("Health", level, f"{fail_text}: {rule}")]
    latencies = [p.latency_ms for p in probes if p.ok and p.latency_ms is not None]
    if latencies:
        p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
        figures = f"p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(latencies)} probes"
        reasons.append(_p95_reason("Latency", figures, p95, limits))
    return reasons


def _p95_reason(source: str, figures: str, p95_ms: float, limits: Thresholds) -> Reason:
    """A p95 against p95_suspicious_ms and p95_bad_ms: the health probes' and Fly's response times alike."""
    if p95_ms >= limits.p95_bad_ms:
        return Reason(source, "bad", f"{figures}: at or over p95_bad_ms {_fmt(limits.p95_bad_ms)}")
    if p95_ms >= limits.p95_suspicious_ms:
        return Reason(source, "suspicious", f"{figures}: at or over p95_suspicious_ms "
                      f"{_fmt(limits.p95_suspicious_ms)}")
    return Reason(source, "healthy", f"{figures}: under p95_suspicious_ms {_fmt(limits.p95_suspicious_ms)}")


def judge_fly(observed: Observations, limits: Thresholds) -> list[Reason]:
    if observed.regions is None:
        return [Reason("Fly", "suspicious", f"could not read Fly: {observed.fly_error or 'no answer'}")]
    reasons = []
    if observed.fly_error:  # read, but not the app's own machines (a dry run's example fleet)
        reasons.append(Reason("Fly", "healthy", f"DRY RUN: {observed.fly_error}, so the machines below are the "
                              "example fleet's, not your app's", unjudged="not checked"))
    for region in observed.regions:
        figures = (f"{region.region}: {region.started} of {region.machines} started, {region.restarts} restarts, "
                   f"{region.crash_looping} crash-looping")
        if region.crash_looping >= limits.crash_loops_bad:
            reasons.append(Reason("Fly", "bad", f"{figures}: at or over crash_loops_bad "
                                  f"{_fmt(limits.crash_loops_bad)}"))
        elif region.restarts >= limits.restarts_suspicious or region.started < region.machines:
            why = (f"at or over restarts_suspicious {_fmt(limits.restarts_suspicious)}"
                   if region.restarts >= limits.restarts_suspicious else "not every machine started")
            reasons.append(Reason("Fly", "suspicious", f"{figures}: {why}"))
        else:
            reasons.append(Reason("Fly", "healthy", figures))
    return reasons or [Reason("Fly", "suspicious", "could not read Fly: no machines in the app")]


def _ms(seconds: float | None) -> str:
    return "no traffic" if seconds is None else f"{seconds * 1000:.0f} ms"


def _share(value: float | None) -> str:
    return "no traffic" if value is None else f"{value * 100:.2f}%"


def judge_traffic(observed: Observations, limits: Thresholds) -> list[Reason]:
    """Fly's own view of the app's responses (its proxy's 5xx share and p95), after the deploy against before."""
    change = observed.traffic
    if change is None:
        return [Reason("Fly metrics", "healthy", "response times and 5xx from Fly were not judged: set "
                       "FLY_METRICS_TOKEN and FLY_ORG", unjudged="not configured")]
    if change.error:
        return [Reason("Fly metrics", "suspicious", f"could not read Fly's metrics: {change.error}")]
    if change.p95_after_s is None and change.errors_after is None:
        return [Reason("Fly metrics", "suspicious", "no responses through Fly's proxy since the deploy")]
    reasons = []
    errors = f"5xx {_share(change.errors_after)} since the deploy against {_share(change.errors_before)} before"
    after = change.errors_after or 0.0
    if after >= limits.fly_5xx_bad:
        reasons.append(Reason("Fly metrics", "bad", f"{errors}: at or over fly_5xx_bad {limits.fly_5xx_bad:.0%}"))
    elif after >= limits.fly_5xx_suspicious:
        reasons.append(Reason("Fly metrics", "suspicious", f"{errors}: at or over fly_5xx_suspicious "
                              f"{limits.fly_5xx_suspicious:.0%}"))
    else:
        reasons.append(Reason("Fly metrics", "healthy", f"{errors}: under fly_5xx_suspicious "
                              f"{limits.fly_5xx_suspicious:.0%}"))
    if change.p95_after_s is not None:
        times = f"p95 {_ms(change.p95_after_s)} since the deploy against {_ms(change.p95_before_s)} before"
        reasons.append(_p95_reason("Fly metrics", times, change.p95_after_s * 1000, limits))
    return reasons


def regions_from(machines: list, since: datetime, now: datetime) -> list[RegionState]:
    """Fly's machines per region: started, crash-looping (diagnose's rule: 2 crashes in 30 min, or one with 3
    restarts) and restarts since the release went out (crashes Fly restarted it from)."""
    states = []
    for region, members in by_region(machines).items():
        looping = restarts = 0
        for machine in members:
            crashes = recent_crashes(machine, now)
            counts = max((e.restart_count for e in machine.events), default=0)
            if len(crashes) >= 2 or (crashes and counts >= 3):
                looping += 1
            restarts += sum(1 for e in crashes if e.at is not None and as_utc(e.at) >= as_utc(since))
        states.append(RegionState(region, len(members), sum(1 for m in members if m.state == "started"),
                                  looping, restarts))
    return states


def judge(observed: Observations, limits: Thresholds) -> Verdict:
    reasons = [judge_errors(observed, limits), *judge_health(observed, limits), *judge_fly(observed, limits),
               *judge_traffic(observed, limits)]
    level = _worst([r.level for r in reasons])
    read_any = (observed.errors is not None and not observed.errors.error) or bool(observed.probes) or bool(
        observed.regions) or (observed.traffic is not None and not observed.traffic.error)
    if not read_any and level == "healthy":
        level = "suspicious"
        reasons.append(Reason("Watch", "suspicious", "nothing could be read, so nothing says the release is healthy"))
    return Verdict(level, reasons)


__all__ = ["ErrorCounts", "Observations", "Probe", "Reason", "RegionState", "Thresholds", "TrafficChange", "Verdict",
           "judge",
           "parse_thresholds", "percentile", "regions_from"]
