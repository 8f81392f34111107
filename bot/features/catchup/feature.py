"""`/incident catchup` and the card's "Catch me up" button: the record, summed up for a late joiner.

Why built from the record and not written by a model: the person catching up acts on it (who to ask,
what not to retry), so every line is a row Fireline stored (the incident, its timeline, its playbook
executions, its follow-ups, the providers' cached reports) and nothing is guessed. A section with no
record says so ("nothing tried yet") instead of being left out, so an empty answer is never mistaken
for a missing one. The answer is ephemeral: catching up is not news for the channel.
"""

from __future__ import annotations

from sqlmodel import col, select

from bot.core.clock import as_utc, fmt_duration, fmt_utc
from bot.core.grammar import Args
from bot.core.registry import Registry
from bot.core.context import Context
from bot.store.models import Incident, PlaybookExecution
from bot.core.reply import Reply, escape, mention
from bot.service import incidents as svc
from bot.features.postmortem.service import followups
from bot.features.providers.service import read_all, report_lines

ACTION = "incident_catchup"
MAX_TRIED = 8  # the latest playbook runs; older ones are in `/incident show` and the postmortem
# Timeline kinds a roles feature may write: `role_changed` (data role, to) or `role` (data role, user).
ROLE_KINDS = ("role_changed", "role", "role_assigned")


def roles(events: list) -> dict[str, str]:
    """Who holds each role, the latest event per role winning; the lead is the incident's own field."""
    held: dict[str, str] = {}
    for event in events:
        if event.kind in ROLE_KINDS:
            role = str(event.data.get("role") or "").strip()
            user = event.data.get("to") or event.data.get("user")
            if role and role.lower() not in ("lead", "commander"):
                if user:
                    held[role] = str(user)
                else:
                    held.pop(role, None)
    return held


def severity_line(ctx: Context, incident: Incident, changes: list) -> str:
    """The level now, described once (name, meaning, response time), then how it got there.

    Each fact once: the level's meaning is in `describe()` already, the current level is not named again
    at the end of its own history, and a change on the declaration day shows its time without the date
    (the State line says the day).
    """
    line = f"*Severity*: {ctx.app.settings.describe(incident.severity)}"
    if not changes:
        return line + ", unchanged since declared"
    day = as_utc(incident.declared_at).date()

    def when(at) -> str:
        return as_utc(at).strftime("%H:%M UTC") if as_utc(at).date() == day else fmt_utc(at)

    *earlier, latest = changes
    before = [f"SEV{changes[0].data.get('from')} when declared"] + [f"SEV{e.data.get('to')} at {when(e.at)}"
                                                                    for e in earlier]
    return line + f" since {when(latest.at)}; before: " + ", ".join(before)


def summary(ctx: Context, incident: Incident) -> Reply:
    """The catch-up, as lines; every one from a stored row."""
    now = ctx.now()
    with ctx.session() as session:
        events = svc.timeline(session, incident.id)
        runs = list(session.exec(select(PlaybookExecution).where(PlaybookExecution.incident_id == incident.id)
                                 .order_by(col(PlaybookExecution.id))).all())
        items = followups(session, incident.id)
    lines: list[str] = []
    # severity and its changes
    lines.append(severity_line(ctx, incident, [e for e in events if e.kind == "severity_changed"]))
    age = fmt_duration((as_utc(now) - as_utc(incident.declared_at)).total_seconds())
    lines.append(f"*State*: {incident.status}, declared {fmt_utc(incident.declared_at)} ({age} ago)"
                 + (f", acknowledged by {mention(incident.acknowledged_by)}" if incident.acknowledged_at else
                    ", not acknowledged yet"))
    who = [f"lead {mention(incident.lead_id)}"] + [f"{escape(role)} {mention(user)}"
                                                   for role, user in sorted(roles(events).items())]
    lines.append("*Roles*: " + ", ".join(who))
    # what was tried
    if runs:
        lines.append("*Tried*:")
        for run in runs[-MAX_TRIED:]:
            outcome = f": {escape(run.outcome)}" if run.outcome else ""
            dry = " (dry run)" if run.dry_run else ""
            lines.append(f"    • {escape(run.playbook)} on {escape(run.app)}{dry}: {run.status}{outcome}")
    else:
        lines.append("*Tried*: no playbook run yet")
    # the latest update
    updates = [e for e in events if e.kind == "update"]
    if updates:
        latest = updates[-1]
        ago = fmt_duration((as_utc(now) - as_utc(latest.at)).total_seconds())
        lines.append(f"*Latest update* ({ago} ago, by {mention(latest.actor)}): {escape(latest.text)}")
    else:
        lines.append("*Latest update*: none posted yet (`/incident update <text>` posts one)")
    # open follow-ups
    open_items = [(n, item) for n, item in enumerate(items, start=1) if item.status == "open"]
    if open_items:
        lines.append("*Open follow-ups*: " + "; ".join(
            f"{n}. {escape(item.text)} ({'owner ' + mention(item.owner) if item.owner else 'no owner'})"
            for n, item in open_items))
    else:
        lines.append("*Open follow-ups*: none")
    lines += provider_lines(ctx, incident)
    return Reply(f"*Catch-up on #{incident.id}: {escape(incident.title)}*", lines=lines)


def provider_lines(ctx: Context, incident: Incident) -> list[str]:
    """Providers' status only when it matters: one that is degraded or unreadable, from the cache (no fetch)."""
    if not ctx.app.settings.provider_status_pages:
        return []
    reports = [r for r in read_all(ctx.app, cached_only=True) if r.error or not r.fine]
    if not reports:
        return []
    return ["*Providers*:"] + report_lines(reports, incident.declared_at)


def catchup(ctx: Context, args: Args, incident: Incident) -> Reply:
    return summary(ctx, incident)


def press_catchup(ctx: Context, incident: Incident) -> Reply:
    return summary(ctx, incident)


def register(registry: Registry) -> None:
    registry.commands["incident"].sub("catchup", "catchup [#N]",
                                      "catch up privately: severity, state, roles, what was tried, latest update",
                                      catchup, incident="any")
    registry.action(ACTION, press_catchup, value="incident", incident="any")
    registry.card_button("Catch me up", ACTION)
