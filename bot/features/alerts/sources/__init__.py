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

from collections.abc import Mapping
from typing import Any

from bot.features.alerts.payloads import MAX_TEXT, Ignored, IncomingAlert, PayloadError
from bot.features.alerts.sources import alertmanager, betterstack, datadog, grafana, honeycomb, uptimerobot
from bot.features.alerts.sources.shape import (Parser, ShapeError, a, casefold_keys, first, key, lines, link,
                                              parse_time, strip_state, text)


def _registry() -> dict[str, Parser]:
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


__all__ = ["MAX_TEXT", "Ignored", "IncomingAlert", "Parser", "ShapeError", "a", "casefold_keys", "detect", "first",
           "key", "link", "lines", "names", "parse", "parse_time", "parser", "route_hint", "strip_state", "text"]
