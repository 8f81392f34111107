"""Alert sources: pure functions from a sender's own payload to a list of normalized alerts.

Each module here knows one sender's documented webhook shape (Alertmanager v4, Grafana unified and
legacy, Datadog with the template in the README, UptimeRobot, Honeycomb triggers, Better Stack
incidents) and returns `IncomingAlert`s: no database, no Slack, no network. One delivery can carry
several alerts (Alertmanager groups them), each with the sender's own key (fingerprint, monitor
id), which wins over a key derived from the title. `resolved=True` marks "it is over" deliveries.

A body of the wrong shape raises `ShapeError` (422) naming the fields that source sends, so the
person configuring the sender sees what Fireline expected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.alerts.payloads import MAX_KEY, MAX_TEXT, MAX_TITLE, IncomingAlert, PayloadError, _clean, _safe_link

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
    from bot.alerts.sources import alertmanager, betterstack, datadog, grafana, honeycomb, uptimerobot

    return {"alertmanager": alertmanager.parse, "prometheus": alertmanager.parse, "grafana": grafana.parse,
            "datadog": datadog.parse, "uptimerobot": uptimerobot.parse, "honeycomb": honeycomb.parse,
            "betterstack": betterstack.parse}


def names() -> tuple[str, ...]:
    return tuple(sorted(_registry()))


def parser(source: str) -> Parser | None:
    return _registry().get(source.lower())


def parse(source: str, data: Mapping[str, Any], headers: Mapping[str, str], **options: Any) -> list[IncomingAlert]:
    found = parser(source)
    if found is None:
        raise PayloadError(f"unknown alert source `{source}`; Fireline takes {', '.join(names())} at "
                           "/webhooks/alerts/<source>, and its own shape at /webhooks/alerts", 404)
    if not isinstance(data, Mapping):
        raise ShapeError(source, "a JSON object")
    return found(data, {k.lower(): v for k, v in headers.items()}, **options)


def detect(data: Mapping[str, Any]) -> str | None:
    """The source a pasted payload (`/alert {json}`) most likely came from, by its distinctive fields."""
    if "alerts" in data and ("groupKey" in data or "receiver" in data):
        return "grafana" if ("orgId" in data or "state" in data) else "alertmanager"
    if "evalMatches" in data or "ruleName" in data:
        return "grafana"
    if "monitorID" in data or "alertTypeFriendlyName" in data:
        return "uptimerobot"
    if "result_groups" in data or "trigger_url" in data or ("status" in data and "threshold" in data):
        return "honeycomb"
    if isinstance(data.get("data"), Mapping) and isinstance(data["data"].get("attributes"), Mapping):
        return "betterstack"
    if "alert_transition" in data or "transition" in data and "alert_id" in data:
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


__all__ = ["MAX_TEXT", "IncomingAlert", "Parser", "ShapeError", "detect", "first", "key", "link", "lines", "names",
           "parse", "parse_time", "parser", "route_hint", "text"]
