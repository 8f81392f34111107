"""Time in one place, so tests can inject a clock and timers can be tested without sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from playbooks.timefmt import as_utc, fmt_duration, fmt_elapsed  # pure, so they live with the playbooks that use them

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def fmt_utc(value: datetime | None) -> str:
    value = as_utc(value)
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


__all__ = ["Clock", "as_utc", "fmt_duration", "fmt_elapsed", "fmt_utc", "utcnow"]
