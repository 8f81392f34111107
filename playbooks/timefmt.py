"""Time arithmetic the playbooks and the postmortem need, with no clock and no I/O.

`bot/core/clock.py` re-exports these (bot may import playbooks, never the reverse), so a front end and a
playbook read a duration or a naive database time the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC, so say so."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def fmt_duration(seconds: float) -> str:
    """Human durations for response figures: 45s, 12m, 1h 05m, 2d 3h."""
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def fmt_elapsed(seconds: float) -> str:
    """A running clock to the second: 45s, 1m 40s, 3m 05s, 1h 02m 05s.

    `fmt_duration` rounds to the minute, which suits response figures; a rolling restart of a few machines
    takes a few minutes, and "1m" for 1 min 59 s would hide most of what people watch it for.
    """
    seconds = int(max(0, seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


__all__ = ["as_utc", "fmt_duration", "fmt_elapsed"]
