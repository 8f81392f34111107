"""`/alert <text>`, the alert thread's buttons, the alert jobs and hooks: parsing and replies only."""

from __future__ import annotations

from bot.features.alerts import pasted, render, resolution, service as alerts
from bot.features.alerts.payloads import PayloadError, from_console
from bot.core.clock import fmt_utc
from bot.core.grammar import Args
from bot.core.registry import Registry
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.hooks import Hooks
from bot.core.reply import Reply, escape
from bot.service import incidents as svc
from bot.features.alerts.webhook import routes

USAGE = "<alert text> | list"


def alert_command(ctx: Context, args: Args) -> Reply:
    text = args.rest
    if not text or text.lower() == "help":
        raise UserError("Paste the alert's text after `/alert`: Fireline suggests a SEV with its reasons and "
                        "answers in a thread with Declare incident / Diagnose / Dismiss.",
                        "For example `/alert api.cgraph.org returns 502 for every request`, or `/alert list`.")
    if text.lower() == "list":
        return recent_reply(ctx)
    if pasted.looks_like_json(args.raw or text):  # a sender's payload pasted as it is
        return pasted.handle(ctx, args.raw or text)
    try:
        incoming = from_console(text, source="console" if ctx.is_console else "slack")
    except PayloadError as exc:
        raise UserError(str(exc)) from None
    received = alerts.receive(ctx.app, incoming, ctx)
    where = f"#{ctx.app.settings.incidents_channel_name}"
    if received.new:
        note = f"its thread follows in {where}" if not received.incident_id else \
            f"it belongs to open incident #{received.incident_id} and was added to its timeline"
        return Reply(f"Alert #{received.alert_id} stored, suggested SEV{received.level}; {note}.")
    return Reply(f"Alert #{received.alert_id} seen again ({received.count} times); its thread in {where} shows "
                 "the count.")


def visible_alert(ctx: Context, alert_id: int) -> int:
    """An alert of an incident the presser may not see is, to them, an alert that does not exist."""
    with ctx.session() as session:
        alert = alerts.get_alert(session, alert_id)
        if alert.incident_id is not None:
            svc.incident_for(ctx, session, alert.incident_id, missing=alerts.no_such_alert(alert_id))
    return alert_id


def press_declare(ctx: Context, alert_id: int) -> Reply:
    return alerts.declare_from_alert(ctx, visible_alert(ctx, alert_id))


def press_dismiss(ctx: Context, alert_id: int) -> Reply:
    return alerts.dismiss(ctx, visible_alert(ctx, alert_id))


def add_routes(container, worker=None):
    return routes(container, worker)


def register(registry: Registry) -> None:
    registry.simple_command("alert", USAGE, "triage an alert: suggested SEV with reasons, likely cause, "
                            "a thread with Declare / Diagnose / Dismiss; `list` shows recent alerts")(alert_command)
    registry.action(render.DECLARE, press_declare, value="alert")
    registry.action(render.DISMISS, press_dismiss, value="alert")
    registry.placeholder(render.DIAGNOSE, "Diagnose is not available yet: the Fly diagnose playbook is not "
                                          "installed in this Fireline. Try `fly status` and `fly logs`.")
    registry.job(alerts.POST_JOB)(alerts.post_thread)
    registry.job(alerts.REFRESH_JOB)(alerts.refresh_thread)
    registry.job(alerts.DIGEST_JOB)(alerts.post_digest)
    registry.job(alerts.ARRIVED_JOB)(alerts.arrived)
    registry.on(Hooks.HTTP_ROUTES)(add_routes)
    registry.job(resolution.RESOLVED_JOB)(resolution.announce_resolved)


def recent_reply(ctx: Context) -> Reply:
    with ctx.session() as session:  # an alert of a private incident is its members' (bot/service/lookups.py)
        rows = [alert for alert in alerts.recent(session) if svc.sees(ctx, session, alert.incident_id)]
    if not rows:
        return Reply("No alerts yet. Try `/alert api.cgraph.org returns 502 for every request`.")
    lines = [f"*#{a.id}* SEV{a.level} {render.source_name(a.source)}: {escape(a.title[:80])} "
             f"(×{a.count}, last {fmt_utc(a.last_seen_at)}, {state(a)}"
             + (f" #{a.incident_id}" if a.incident_id else "") + ")" for a in rows]
    return Reply(f"*{len(rows)} most recent alerts*", lines=lines)


def state(alert) -> str:
    """The alert's status, but "resolved after 12m" once its source said it is over (the status column keeps
    what people did with it: open, dismissed, declared, linked)."""
    if resolution.is_resolved(alert):
        after = (alert.details or {}).get("resolved_after")
        resolved = f"resolved after {after}" if after else "resolved"
        return resolved if alert.status == "open" else f"{alert.status}, {resolved}"
    return alert.status
