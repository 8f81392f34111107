"""Public status: pure decisions about what the public page says (no database, no Slack, no bot imports).

- `draft()` writes a customer-facing update from components, a stage and a severity only: never from the
  incident's title, notes or people, because those are written for the team (hostnames, names, guesses).
- `page()` folds published updates and maintenance into what the page shows now, its indicator and
  90 days of history per component, in Statuspage's vocabulary so its widgets and monitors read ours.
- `uptime()` turns the published updates' impact windows into the share of the window a component was up,
  weighted as Statuspage weighs them (DOWNTIME_WEIGHT), so the figure reads as on the status pages people know.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
# Worse is larger: the page shows the worst status any open incident gives a component.
RANK = {status: rank for rank, status in enumerate(COMPONENT_STATUSES)}
STAGES = ("investigating", "identified", "monitoring", "resolved")
HISTORY_DAYS = 90
# How much of a minute in each status counts as down, as Atlassian Statuspage counts it by default: a major
# outage is down, a partial outage 30% down; slower-than-usual and announced maintenance are up.
DOWNTIME_WEIGHT = {"major_outage": 1.0, "partial_outage": 0.3}

STATUS_WORDS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
}
STATUS_ALIASES = {"degraded": "degraded_performance", "partial": "partial_outage", "major": "major_outage",
                  "outage": "major_outage", "maintenance": "under_maintenance", "ok": "operational"}
STAGE_WORDS = {"investigating": "Investigating", "identified": "Identified", "monitoring": "Monitoring",
               "resolved": "Resolved"}
# The page's indicator (Statuspage's `status.indicator` and its descriptions).
INDICATORS = {
    "major_outage": ("critical", "Major System Outage"),
    "partial_outage": ("major", "Partial System Outage"),
    "degraded_performance": ("minor", "Minor Service Outage"),
    "under_maintenance": ("maintenance", "Service Under Maintenance"),
    "operational": ("none", "All Systems Operational"),
}
IMPACT = {"major_outage": "critical", "partial_outage": "major", "degraded_performance": "minor",
          "under_maintenance": "maintenance", "operational": "none"}
# The status a SEV suggests for the components it touches (a person changes it before publishing).
SEVERITY_STATUS = {1: "major_outage", 2: "partial_outage", 3: "degraded_performance", 4: "degraded_performance"}
# Incident states (the team's) -> the public stage they suggest.
STATE_STAGE = {"declared": "investigating", "investigating": "investigating", "mitigating": "identified",
               "monitoring": "monitoring", "resolved": "resolved"}


class StatusProblem(ValueError):
    """Input that names no component or status; the message says which are known."""


def parse_components(text: str, known: Sequence[str]) -> list[str]:
    """`API, Web app` or `api payments` -> configured names, in the configured order."""
    by_key = {name.lower(): name for name in known}
    found: list[str] = []
    for piece in [p.strip() for p in text.split(",") if p.strip()]:
        if piece.lower() in by_key:
            found.append(by_key[piece.lower()])
            continue
        words = piece.split()
        unknown = [w for w in words if w.lower() not in by_key]
        if unknown:
            guess = closest(unknown[0], known)
            maybe = f" Did you mean `{guess}`?" if guess else ""
            raise StatusProblem(f"`{piece[:60]}` is not a component.{maybe} Components: {', '.join(known)}.")
        found += [by_key[w.lower()] for w in words]
    return [name for name in known if name in found]


def closest(word: str, known: Sequence[str]) -> str | None:
    """The component, status or stage a mistyped word was probably meant to be (`partial_outag`), or None."""
    names = {name.lower(): name for name in [*known, *RANK, *STATUS_ALIASES, *STAGE_WORDS]}
    found = difflib.get_close_matches(word.lower(), list(names), n=1, cutoff=0.75)
    return names[found[0]] if found else None


def parse_status(word: str) -> str | None:
    word = word.lower().replace("-", "_")
    if word in RANK:
        return word
    return STATUS_ALIASES.get(word)


def worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=lambda s: RANK.get(s, 0), default="operational")


def join_names(names: Sequence[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def draft_title(components: Sequence[str], status: str) -> str:
    what = {"major_outage": "Outage", "partial_outage": "Partial outage",
            "under_maintenance": "Maintenance"}.get(status, "Degraded performance")
    return f"{what}: {join_names(components)}" if components else what


def draft_body(components: Sequence[str], stage: str, status: str) -> str:
    """Plain words for customers: what is affected and what we are doing, nothing about why or who."""
    names = join_names(components) or "some services"
    affected = {"major_outage": "unavailable", "partial_outage": "partly unavailable",
                "degraded_performance": "slower than usual or failing for some requests"}.get(status, "affected")
    verb = "is" if len(components) == 1 else "are"
    return {
        "investigating": f"{names} {verb} {affected}. We are investigating and will post an update soon.",
        "identified": f"We have found the cause of the problem with {names} and are working on a fix.",
        "monitoring": f"A fix is in place for {names}. We are watching closely to make sure it holds.",
        "resolved": f"This incident is resolved: {names} {verb} working normally again. "
                    "Thank you for your patience.",
    }[stage]


# -- the page ---------------------------------------------------------------------------------------------
class UpdateLike(Protocol):
    public_id: str
    update_key: str
    stage: str
    title: str
    body: str
    components: dict[str, str]
    published_at: datetime | None


class MaintenanceLike(Protocol):
    public_id: str
    title: str
    body: str
    components: list[str]
    starts_at: datetime
    ends_at: datetime


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class PublicUpdate:
    key: str
    stage: str
    body: str
    at: datetime
    components: dict[str, str]


@dataclass
class PublicIncident:
    public_id: str
    title: str
    stage: str
    impact: str
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    monitoring_at: datetime | None
    updates: list[PublicUpdate]  # newest first, as status pages show them
    components: dict[str, str]  # the latest update's statuses

    @property
    def is_open(self) -> bool:
        return self.stage != "resolved"


@dataclass(frozen=True)
class Day:
    day: date
    status: str
    titles: tuple[str, ...] = ()


@dataclass
class Component:
    name: str
    status: str
    updated_at: datetime | None
    history: list[Day] = field(default_factory=list)  # oldest first, HISTORY_DAYS of them
    uptime: float = 1.0  # share of the history window up, weighted by DOWNTIME_WEIGHT (`uptime()`)

    @property
    def uptime_text(self) -> str:
        return uptime_text(self.uptime)

    @property
    def bad_days(self) -> list[Day]:
        return [d for d in self.history if d.status != "operational"]


@dataclass
class Page:
    components: list[Component]
    indicator: str
    description: str
    open_incidents: list[PublicIncident]
    recent_incidents: list[PublicIncident]  # every incident of the history window, newest first
    maintenance_active: list[Any]
    maintenance_upcoming: list[Any]
    updated_at: datetime | None
    now: datetime


def incidents_from(updates: Iterable[UpdateLike]) -> list[PublicIncident]:
    """Group published updates by public incident, newest incident first."""
    grouped: dict[str, list[UpdateLike]] = {}
    for update in updates:
        if update.published_at is not None:
            grouped.setdefault(update.public_id, []).append(update)
    result = []
    for public_id, rows in grouped.items():
        rows.sort(key=lambda u: _utc(u.published_at))  # type: ignore[arg-type]
        latest = rows[-1]
        public = [PublicUpdate(u.update_key, u.stage, u.body, _utc(u.published_at), dict(u.components))  # type: ignore
                  for u in reversed(rows)]
        statuses = [s for u in rows for s in u.components.values()]
        result.append(PublicIncident(
            public_id=public_id, title=latest.title, stage=latest.stage, impact=IMPACT[worst(statuses)],
            started_at=public[-1].at, updated_at=public[0].at,
            resolved_at=public[0].at if latest.stage == "resolved" else None,
            monitoring_at=next((u.at for u in public if u.stage == "monitoring"), None),
            updates=public, components=dict(latest.components)))
    result.sort(key=lambda i: i.started_at, reverse=True)
    return result


def _intervals(incident: PublicIncident, now: datetime) -> list[tuple[datetime, datetime, dict[str, str], str]]:
    """(from, to, statuses, title) while each update was the latest; a resolved update ends the incident."""
    ordered = list(reversed(incident.updates))
    spans = []
    for i, update in enumerate(ordered):
        if update.stage == "resolved":
            break
        end = ordered[i + 1].at if i + 1 < len(ordered) else now
        spans.append((update.at, end, update.components, incident.title))
    return spans


Span = tuple[datetime, datetime, dict[str, str], str]  # (from, to, statuses while it held, incident title)


def uptime(spans: Iterable[Span], name: str, start: datetime, end: datetime) -> float:
    """The share of [start, end) that `name` was up: 1 - weighted downtime / window, in 0..1.

    Overlapping incidents are not counted twice: at each moment the worst status any published update
    gave the component counts, once. Spans are clipped to the window; an empty window is all up.
    """
    start, end = _utc(start), _utc(end)
    window = (end - start).total_seconds()
    if window <= 0:
        return 1.0
    pieces = [(max(_utc(a), start), min(_utc(b), end), statuses[name]) for a, b, statuses, _ in spans
              if name in statuses and DOWNTIME_WEIGHT.get(statuses[name], 0.0) > 0]
    pieces = [p for p in pieces if p[0] < p[1]]
    cuts = sorted({t for a, b, _ in pieces for t in (a, b)})
    down = 0.0
    for left, right in zip(cuts, cuts[1:]):
        weights = [DOWNTIME_WEIGHT[s] for a, b, s in pieces if a < right and b > left]
        down += max(weights, default=0.0) * (right - left).total_seconds()
    return max(0.0, 1.0 - down / window)


def uptime_text(share: float) -> str:
    """99.95% with two decimals, rounded down: a component that was down at all never reads 100.00%."""
    hundredths = math.floor(share * 10_000 + 1e-9)
    if hundredths >= 10_000 and share < 1.0:
        hundredths = 9_999
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def page(components: Sequence[str], updates: Iterable[UpdateLike], maintenance: Iterable[MaintenanceLike],
         now: datetime, days: int = HISTORY_DAYS) -> Page:
    now = _utc(now)
    incidents = incidents_from(updates)
    open_incidents = [i for i in incidents if i.is_open]
    active = [m for m in maintenance if _utc(m.starts_at) <= now < _utc(m.ends_at)]
    upcoming = sorted((m for m in maintenance if _utc(m.starts_at) > now), key=lambda m: _utc(m.starts_at))
    first_day = now.date() - timedelta(days=days - 1)
    spans = [span for incident in incidents for span in _intervals(incident, now)]
    shown = []
    for name in components:
        current = worst(i.components.get(name, "operational") for i in open_incidents)
        if current == "operational" and any(name in m.components for m in active):
            current = "under_maintenance"
        touched = [u.at for i in incidents for u in i.updates if name in u.components]
        history = []
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            end = start + timedelta(days=1)
            hits = [(s[2][name], s[3]) for s in spans if name in s[2] and s[0] < end and s[1] > start]
            status = worst(h[0] for h in hits)
            history.append(Day(day, status, tuple(dict.fromkeys(h[1] for h in hits if h[0] != "operational"))))
        up = uptime(spans, name, datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC), now)
        shown.append(Component(name, current, max(touched, default=None), history, up))
    overall = worst(c.status for c in shown)
    indicator, description = INDICATORS[overall]
    window_start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    recent = [i for i in incidents if i.is_open or (i.resolved_at and i.resolved_at >= window_start)]
    stamps = [i.updated_at for i in incidents] + [_utc(m.starts_at) for m in active]
    # With nothing to report the page changes once a day (its history moves on), so its ETag does too.
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    return Page(shown, indicator, description, open_incidents, recent, active, upcoming,
                max(stamps, default=today), now)
