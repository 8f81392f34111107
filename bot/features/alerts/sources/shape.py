"""What every sender's reader shares: the shape error, clean text, keys and times (the package re-exports them)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.features.alerts.payloads import MAX_KEY, MAX_TEXT, MAX_TITLE, IncomingAlert, PayloadError, _clean, safe_link

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
    return safe_link(value)


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
