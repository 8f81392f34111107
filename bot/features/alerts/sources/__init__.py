"""Alert sources: pure functions from a sender's own payload to a list of normalized alerts.

Each module here knows one sender's documented webhook shape (Alertmanager v4, Grafana unified and
legacy, Datadog with the template in docs/alerts.md, UptimeRobot, Honeycomb triggers, Better Stack
incidents) and returns `IncomingAlert`s: no database, no Slack, no network. One delivery can carry
several alerts (Alertmanager groups them), each with the sender's own key (fingerprint, monitor
id), which wins over a key derived from the title. `resolved=True` marks "it is over" deliveries.

A body of the wrong shape raises `ShapeError` (422) naming the fields that source sends, so the
person configuring the sender sees what Fireline expected. A sender's test notification (Grafana's
"Test" button on a contact point) raises `Ignored`: the sender is wired up, and nobody is paged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.features.alerts.payloads import MAX_KEY, MAX_TEXT, MAX_TITLE, Ignored, IncomingAlert, PayloadError, _clean, _safe_link

Parser = Callable[..., list[IncomingAlert]]  # (data, headers, **options) -> alerts


def a(source: str) -> str:
    """`an alertmanager`, `a datadog`: the article the source's name takes."""
    return f"{'an' if source[:1] in 'aeiou' else 'a'} {source}"


class ShapeError(PayloadError):
    """The body is JSON but not this source's shape: 422 saying which fields were expected."""

    def __init__(self, source: str, expected: str, problem: str = "") -> None:
        detail = f" ({problem})" if problem else ""
        super().__init__(f"this does not look like {a(source)} webhook{detail}: expected {expected}", 422)


def text(value: Any, limit: int = MAX_TITLE) -> str:
    """A sender's field as clean text ('' for missing or non-scalar values)."""
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return _clean(str(value), limit)


def first(*values: Any, limit: int = MAX_TITLE) -> str:
    for value in values:
        cleaned = text(value, limit)
        if cleaned:
            return cleaned
    return ""


def link(value: Any) -> str | None:
    return _safe_link(value)


# What senders put before the alert's own name: Grafana's "[FIRING:2]", "[Alerting]", "[OK]", "[No Data]";
# Datadog's "[Triggered on {host:web-1}]", "[P1] [Recovered]"; Honeycomb's "Triggered: "; Sentry's
# "Critical: ". The thread shows the name; the state is the thread's status, not part of the title.
_STATE_PREFIX = re.compile(
    r"^\s*(?:\[(?:P[1-5]|firing(?::\d+)?|resolved(?::\d+)?|alerting|ok|no ?data|pending|paused|triggered|recovered|"
    r"warn(?:ing)?|re-?triggered|re-?warn|renotify|recovered from (?:warn|no data))(?: on [^\]]*)?\]\s*"
    r"|(?:triggered|resolved|ok|critical|warning|firing|recovered):\s+)+", re.IGNORECASE)


def strip_state(title: str) -> str:
    """`[FIRING:1] Disk full` -> `Disk full`; the title itself when nothing else is left."""
    stripped = _STATE_PREFIX.sub("", title).strip()
    return stripped or title.strip()


def casefold_keys(value: Any) -> dict[str, Any]:
    """A mapping with lower-case keys, the first spelling winning: rule files write `SUMMARY` as often as `summary`."""
    out: dict[str, Any] = {}
    if isinstance(value, Mapping):
        for name, item in value.items():
            out.setdefault(str(name).lower(), item)
    return out


def key(source: str, *parts: Any) -> str:
    return ":".join([source, *(text(p, 120) for p in parts)])[:MAX_KEY]


def lines(*pairs: tuple[str, Any]) -> str:
    """`label: value` lines for what the thread shows below the title (empty values skipped)."""
    out = [f"{label}: {text(value, 1000)}" if label else text(value, 2000) for label, value in pairs
           if text(value, 2000)]
    return "\n".join(out)[:MAX_TEXT]


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 / ISO 8601 (Alertmanager, Grafana, Better Stack); None for Go's zero time and junk."""
    raw = text(value, 60)
    if not raw or raw.startswith("0001-"):
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _registry() -> dict[str, Parser]:
    from bot.features.alerts.sources import alertmanager, betterstack, datadog, grafana, honeycomb, uptimerobot

    return {"alertmanager": alertmanager.parse, "prometheus": alertmanager.parse, "grafana": grafana.parse,
            "datadog": datadog.parse, "uptimerobot": uptimerobot.parse, "honeycomb": honeycomb.parse,
            "betterstack": betterstack.parse}


def names() -> tuple[str, ...]:
    return tuple(sorted(_registry()))


def parser(source: str) -> Parser | None:
    return _registry().get(source.lower())


def parse(source: str, data: Mapping[str, Any], headers: Mapping[str, str], **options: Any) -> list[IncomingAlert]:
    """The alerts in one delivery; `ShapeError` for a body of the wrong shape, `Ignored` for a test notification."""
    found = parser(source)
    if found is None:
        raise PayloadError(f"unknown alert source `{source}`; Fireline takes {', '.join(names())} at "
                           "/webhooks/alerts/<source>, and its own shape at /webhooks/alerts", 404)
    if not isinstance(data, Mapping):
        raise ShapeError(source, "a JSON object")
    return found(data, {k.lower(): v for k, v in headers.items()}, **options)


# Fields only Fireline's own shape has: a body carrying one of them is the generic alert, whatever else it holds.
GENERIC_FIELDS = ("dedup_key", "signals", "source", "severity", "severity_hint")


def detect(data: Mapping[str, Any]) -> str | None:
    """The source a payload most likely came from, by its distinctive fields (`/alert {json}`, the generic route)."""
    if any(name in data for name in GENERIC_FIELDS):
        return None
    if isinstance(data.get("alerts"), list) and ("groupKey" in data or "receiver" in data):
        return "grafana" if ("orgId" in data or "state" in data) else "alertmanager"
    if "evalMatches" in data or "ruleName" in data or ("ruleId" in data and "state" in data):
        return "grafana"
    if any(name in data for name in ("monitorID", "alertTypeFriendlyName", "monitor_id", "alert_type_friendly_name")):
        return "uptimerobot"
    if "result_groups" in data or "trigger_url" in data or "result_groups_triggered" in data \
            or ("status" in data and "threshold" in data):
        return "honeycomb"
    if isinstance(data.get("data"), Mapping) and isinstance(data["data"].get("attributes"), Mapping):
        return "betterstack"
    if any(name in data for name in ("alert_transition", "transition", "aggregate", "alert_priority")) \
            or ("event_type" in data and isinstance(data.get("org"), Mapping)):
        return "datadog"
    return None


def route_hint(body: bytes) -> str:
    """For the generic route: " (this looks like an Alertmanager payload: POST it to ...)", or ""."""
    try:
        import json

        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    source = detect(data) if isinstance(data, Mapping) else None
    if not source:
        return ""
    return f" (this looks like {a(source)} payload: POST it to /webhooks/alerts/{source})"


__all__ = ["MAX_TEXT", "Ignored", "IncomingAlert", "Parser", "ShapeError", "casefold_keys", "detect", "first", "key",
           "link", "lines", "names", "parse", "parse_time", "parser", "route_hint", "strip_state", "text"]
