"""Who is on call: a database cache of PagerDuty's `/oncalls`, refreshed by a durable recurring timer.

`/oncall` reads the cache only, so it answers at once even when PagerDuty is slow or down; a stale
cache queues a refresh. The recurring timer's key is the start of its refresh slot, so every
replica (and every restart) arms the same rows and the refresh runs once per slot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.core.clock import as_utc, fmt_duration, fmt_utc
from bot.core.container import Container
from bot.store.db import session_scope
from bot.store.models.pagerduty import OnCallSnapshot
from bot.clients.pagerduty import PagerDutyError
from bot.features.pagerduty.config import config, rest_client
from bot.core.reply import Reply, escape
from bot.service import timers

log = logging.getLogger(__name__)

REFRESH_JOB = "pagerduty.oncall_refresh"
KEY_PREFIX = "pd-oncall:"
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def interval(container: Container) -> timedelta:
    return timedelta(minutes=container.settings.pagerduty_oncall_refresh_minutes)


def slot_start(container: Container, at: datetime) -> datetime:
    """The start of the refresh slot holding `at`: the same for every replica."""
    step = interval(container)
    return EPOCH + ((as_utc(at) - EPOCH) // step) * step


def arm_next(container: Container, session: Session, after: datetime) -> bool:
    """Arm the refresh of the slot after `after` (the recurring chain); one row whoever arms it."""
    run_at = slot_start(container, after) + interval(container)
    return timers.arm(session, REFRESH_JOB, timers.timer_key(KEY_PREFIX + "slot", run_at), run_at,
                      {"policy_id": container.settings.pagerduty_escalation_policy_id}, now=container.clock())


def start_chain(container: Container) -> None:
    """At start-up: refresh in this slot (due now) and keep the chain going from there."""
    if not config(container).oncall_ready:
        return
    now = container.clock()
    with session_scope(container.engine) as session:
        run_at = slot_start(container, now)
        timers.arm(session, REFRESH_JOB, timers.timer_key(KEY_PREFIX + "slot", run_at), now,
                   {"policy_id": container.settings.pagerduty_escalation_policy_id}, now=now)


def request_refresh(container: Container, session: Session, notify: dict[str, str] | None = None) -> bool:
    """Queue one refresh now (at most one per minute, whoever asks); `notify` gets the fresh list."""
    now = container.clock()
    key = timers.timer_key(KEY_PREFIX + "now", now.replace(second=0, microsecond=0))
    return timers.arm(session, REFRESH_JOB, key, now, {"policy_id": container.settings.pagerduty_escalation_policy_id,
                                                       "notify": notify or {}, "on_demand": True}, now=now)


# -- the data ------------------------------------------------------------------------------------------------
def _name(ref: Any) -> str:
    if not isinstance(ref, dict):
        return ""
    return str(ref.get("name") or ref.get("summary") or ref.get("id") or "")[:80]


def normalise(oncalls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PagerDuty's entries as small rows: level, person, schedule, shift start/end (None: always on call)."""
    rows = []
    for entry in oncalls:
        user = entry.get("user") or {}
        level = entry.get("escalation_level")
        rows.append({"level": level if isinstance(level, int) else 0, "user": _name(user) or "unknown",
                     "user_id": str(user.get("id") or "") if isinstance(user, dict) else "",
                     "email": str(user.get("email") or "") if isinstance(user, dict) else "",
                     "schedule": _name(entry.get("schedule")) or None,
                     "start": entry.get("start") or None, "end": entry.get("end") or None})
    rows.sort(key=lambda row: (row["level"], row["user"]))
    return rows


def snapshot(session: Session, policy_id: str) -> OnCallSnapshot | None:
    return session.get(OnCallSnapshot, policy_id) if policy_id else None


def refresh(container: Container, policy_id: str | None = None) -> OnCallSnapshot:
    """Ask PagerDuty now and store the answer; a failure is stored too (the old entries are kept)."""
    policy_id = policy_id or container.settings.pagerduty_escalation_policy_id
    now = container.clock()
    entries: list[dict[str, Any]] | None = None
    error = None
    try:
        entries = normalise(rest_client(container).list_oncalls(policy_id))
    except PagerDutyError as exc:
        error = str(exc)
        log.warning("on-call refresh failed: %s", error)
    with session_scope(container.engine) as session:
        row = session.get(OnCallSnapshot, policy_id) or OnCallSnapshot(policy_id=policy_id)
        row.attempted_at, row.error = now, error
        if entries is not None:
            row.entries, row.fetched_at = entries, now
        session.add(row)
        session.flush()
        session.expunge(row)
    return row


# -- what people see ---------------------------------------------------------------------------------------------
def parse_time(value: str | None) -> datetime | None:
    """PagerDuty's ISO time (`...Z`) as an aware UTC datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _handover(entry: dict[str, Any], now: datetime) -> str:
    end = parse_time(entry.get("end"))
    if end is None:
        return "always on call at this level"
    left = (end - now).total_seconds()
    return f"hands over {fmt_utc(end)}" + (f" (in {fmt_duration(left)})" if left > 0 else " (due now)")


@dataclass
class OnCallView:
    reply: Reply
    stale: bool


def render(container: Container, row: OnCallSnapshot | None, now: datetime) -> OnCallView:
    """The on-call answer from the cache, saying how old it is."""
    settings = container.settings
    policy = settings.pagerduty_escalation_policy_id
    if row is None or row.fetched_at is None:
        text = f"No on-call data yet for escalation policy {escape(policy)}."
        lines = ["Fireline is asking PagerDuty now; the answer follows here in a moment."]
        if row is not None and row.error:
            lines.insert(0, f":warning: The last attempt ({fmt_utc(row.attempted_at)}) failed: {escape(row.error)}")
        return OnCallView(Reply(text, lines=lines), True)
    age = (now - as_utc(row.fetched_at)).total_seconds()
    stale = age >= interval(container).total_seconds()
    levels: dict[int, list[dict[str, Any]]] = {}
    for entry in row.entries or []:
        levels.setdefault(int(entry.get("level") or 0), []).append(entry)
    lines = []
    for level in sorted(levels):
        for entry in levels[level]:
            schedule = f" ({escape(entry['schedule'])})" if entry.get("schedule") else ""
            lines.append(f"Level {level}: *{escape(entry['user'])}*{schedule}, {_handover(entry, now)}")
    if not lines:
        lines.append("Nobody is on call for this policy right now: check its schedules in PagerDuty.")
    note = f"As of {fmt_utc(row.fetched_at)} ({fmt_duration(age)} ago)"
    if stale:
        note += "; refreshing now"
    if row.error and row.attempted_at and as_utc(row.attempted_at) > as_utc(row.fetched_at):
        lines.append(f":warning: The latest refresh ({fmt_utc(row.attempted_at)}) failed: {escape(row.error)}")
    return OnCallView(Reply(f":pager: *On call now* (escalation policy {escape(policy)})", lines=lines,
                            footer=note), stale)


def not_configured(container: Container) -> Reply:
    pd = config(container)
    missing = [name for name, ok in (("PAGERDUTY_API_TOKEN", pd.has_token),
                                     ("PAGERDUTY_ESCALATION_POLICY_ID",
                                      bool(container.settings.pagerduty_escalation_policy_id))) if not ok]
    return Reply("Dry-run: PagerDuty is not configured, so Fireline cannot say who is on call.",
                 lines=[f"Set {' and '.join(missing)} (see docs/pagerduty.md).",
                        "The deployment guide's rotation is weekly: @chen, @marcus, @aisha; PagerDuty has the "
                        "current one."])


def level_one(container: Container) -> list[str]:
    """Names on call at level 1 from the cache (for the page announcement); empty when unknown."""
    with session_scope(container.engine) as session:
        row = snapshot(session, container.settings.pagerduty_escalation_policy_id)
        if row is None:
            return []
        return [e["user"] for e in row.entries or [] if e.get("level") == 1]


__all__ = ["REFRESH_JOB", "OnCallView", "arm_next", "level_one", "not_configured", "normalise", "refresh",
           "render", "request_refresh", "snapshot", "start_chain"]
