"""Times people type for events they remember later: `14:05`, `14:05 UTC`, `2026-11-25 14:05`, `-20m`.

Everything Fireline stores is UTC, so a bare clock time is UTC too; another zone's name is refused
with a hint rather than guessed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.core.errors import UserError
from bot.core.text import ascii_digits

# ASCII digits only, after ascii_digits (bot.core.text: full-width digits read as 0-9, no other script's digits)
_AGO = re.compile(r"^-(?:([0-9]{1,3})d)?(?:([0-9]{1,4})h)?(?:([0-9]{1,5})m)?(?:([0-9]{1,6})s)?$")
_CLOCK = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?(z|utc)?$", re.IGNORECASE)
_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_DATETIME = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})t(.+)$", re.IGNORECASE)
_UTC_WORDS = {"utc", "z", "gmt"}
_OTHER_ZONES = {"pst", "pdt", "est", "edt", "cst", "cdt", "mst", "mdt", "cet", "cest", "bst", "ist", "jst",
                "aest", "aedt", "eet", "eest", "wet", "west", "hst", "akst", "akdt"}

EXAMPLES = ("Times are UTC: `14:05` (today), `14:05 UTC`, `2026-11-25 14:05`, or `-20m` / `-1h30m` "
            "(that long ago).")
# How far a remembered event may lie from the incident. Before: the deploy or config change that caused it is
# usually hours, at most days, earlier; `0001-01-01 00:00` was accepted and became the postmortem's first event.
# After: a clock a little ahead of ours (a phone's) must not refuse "just now".
MAX_BEFORE_DECLARATION = timedelta(days=7)
CLOCK_SKEW = timedelta(minutes=1)

EXAMPLE = "Put the time first, then what happened: `/incident timeline 14:05 Deploy v42 finished`."


def bad_time(word: str, why: str = "is not a time Fireline understands") -> UserError:
    return UserError(f"`{word[:40]}` {why}.", EXAMPLES, EXAMPLE)


def _clock(match: re.Match[str], day: datetime) -> datetime:
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    return day.replace(hour=hour, minute=minute, second=second, microsecond=0)


def parse_when(words: list[str], now: datetime) -> tuple[datetime, list[str]]:
    """The time at the start of `words` (UTC) and the words after it. Raises UserError with examples."""
    if not words:
        raise bad_time("", "is missing: say when it happened")
    now = now.astimezone(UTC)
    first, rest = ascii_digits(words[0]), list(words[1:])
    ago = _AGO.match(first)
    if ago and any(ago.groups()):
        days, hours, minutes, seconds = (int(g or 0) for g in ago.groups())
        return now - timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds), rest
    day_part = None
    date_match = _DATE.match(first)
    combined = _DATETIME.match(first)
    if combined:
        day_part, first = combined.group(1), combined.group(2)
    elif date_match:
        if not rest:
            raise bad_time(first, "needs a time of day after the date (for example `2026-11-25 14:05`)")
        day_part, first, rest = first, ascii_digits(rest[0]), rest[1:]
    clock = _CLOCK.match(first)
    if clock is None:
        raise bad_time(" ".join(w for w in (day_part, first) if w))
    if rest and rest[0].lower() in _UTC_WORDS:
        rest = rest[1:]
    elif rest and rest[0].lower() in _OTHER_ZONES:
        raise UserError(f"Fireline keeps the timeline in UTC and does not convert `{rest[0][:10]}`.",
                        "Convert it to UTC first, or say how long ago it was (`-20m`).", EXAMPLE)
    if day_part:
        try:
            day = datetime.strptime(day_part, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise bad_time(day_part, "is not a date (expected YYYY-MM-DD)") from None
        when = _clock(clock, day)
    else:
        when = _clock(clock, now)
        if when > now:  # a clock time later than now means yesterday (just after midnight UTC)
            when -= timedelta(days=1)
    if when > now + CLOCK_SKEW:
        raise bad_time(" ".join(w for w in (day_part, first) if w), "is in the future")
    return when, rest


def check_bounds(when: datetime, typed: str, incident_id: int, declared_at: datetime) -> None:
    """Refuse a time more than MAX_BEFORE_DECLARATION before the incident was declared (the future is refused
    by `parse_when`), saying the range and an example inside it."""
    earliest = declared_at.astimezone(UTC) - MAX_BEFORE_DECLARATION
    if when < earliest:
        days = MAX_BEFORE_DECLARATION.days
        raise UserError(f"`{typed[:40]}` is more than {days} days before #{incident_id} was declared "
                        f"({declared_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC).",
                        f"The timeline takes times from {earliest:%Y-%m-%d %H:%M} UTC up to now, for example "
                        f"`/incident timeline {earliest + timedelta(days=days):%Y-%m-%d %H:%M} Deploy v42 "
                        "finished` or `-20m`.")
