"""PagerDuty in Fireline: `/oncall`, `/incident page`, `/incident escalate`, the sync hooks, the clock, the webhook.

Parsing and replies only; the work is in `oncall`, `paging`, `clock` and `webhook`.
"""

from __future__ import annotations

import re
from typing import Any

from bot.core.chat import person
from bot.core.check import Status
from bot.core.grammar import Args, parse_user
from bot.core.registry import Registry
from bot.core.container import Container
from bot.core.context import Context, Source, job_context
from bot.store.db import session_scope
from bot.core.errors import UserError
from bot.core.hooks import Hooks
from bot.store.models import Incident
from bot.features.pagerduty import response_clock as clock, handoff, oncall, paging
from bot.features.pagerduty.config import DRY_RUN, EVENTS, PagerDutyConfig, REST, config
from bot.core.reply import Reply, escape, mention
from bot.service import incidents as svc
from bot.core.settings import Settings
from playbooks.contacts import ContactsError, load_contacts
from playbooks.severity import SEVERITIES
from bot.features.pagerduty.webhook import APPLY_JOB, apply_job, routes
from bot.clients.pagerduty import PagerDutyError, RestClient, RetryPolicy

_POLICY_ID = re.compile(r"^P[A-Z0-9]{5,13}$")
PAGE_USAGE = "page [@user | policy-id]"


def _not_from_pagerduty(ctx: Context) -> bool:
    """Changes that came from PagerDuty's webhook are not sent back to it."""
    return ctx is not None and ctx.source != Source.PAGERDUTY


# -- /oncall ----------------------------------------------------------------------------------------------------
def oncall_command(ctx: Context, args: Args) -> Reply:
    if args.words and args.words[0].lower() == "help":
        return ctx.app.registry.commands["oncall"].help_reply()
    if args.words:
        raise UserError("`/oncall` takes no arguments.", "Type `/oncall` to see who is on call now.")
    if not config(ctx.app).oncall_ready:
        return oncall.not_configured(ctx.app)
    with ctx.session() as session:
        row = oncall.snapshot(session, ctx.app.settings.pagerduty_escalation_policy_id)
        if row is not None:
            session.expunge(row)
    view = oncall.render(ctx.app, row, ctx.now())
    if view.stale:
        notify = {"channel": ctx.channel_id, "user": ctx.user_id} if row is None or row.fetched_at is None else {}
        with ctx.session() as session:
            oncall.request_refresh(ctx.app, session, notify)
    return view.reply


def refresh_job(container: Container, payload: dict[str, Any], job=None) -> None:
    if not config(container).oncall_ready:
        return
    row = oncall.refresh(container, payload.get("policy_id") or None)
    handoff.arm_after_refresh(container, row)  # a digest at the end of each level-1 shift it shows
    if not payload.get("on_demand"):
        with session_scope(container.engine) as session:
            oncall.arm_next(container, session, job.run_at if job is not None else container.clock())
    notify = payload.get("notify") or {}
    if notify.get("channel") and notify.get("user"):
        ctx = job_context(container, user_id=notify["user"], channel_id=notify["channel"])
        reply = oncall.render(container, row, container.clock()).reply
        if row.fetched_at is None:
            reply = Reply.error(f"Could not ask PagerDuty who is on call: {escape(row.error or 'no answer')}")
        try:
            ctx.chat.post_ephemeral(notify["channel"], notify["user"], reply)
        except Exception:  # the cache is filled either way; `/oncall` shows it
            pass


def start_oncall_refresh(ctx, container: Container) -> None:
    oncall.start_chain(container)


# -- paging ---------------------------------------------------------------------------------------------------
def page(ctx: Context, args: Args, incident: Incident) -> Reply:
    if len(args.words) > 1:
        raise UserError("Page one person or one escalation policy at a time.",
                        "For example `/incident page`, `/incident page @marcus` or `/incident page PABC123`.")
    targets: list[list[str]] = []
    if args.words:
        word = args.words[0]
        if _POLICY_ID.match(word):
            targets.append(["policy", word, f"escalation policy {word}"])
        else:
            user = parse_user(word)
            if user is None:
                raise UserError(f"`{escape(word[:40])}` is neither a person nor a PagerDuty escalation policy id.",
                                "Type `/incident page @user` or `/incident page PABC123` (the policy's id in "
                                "PagerDuty), or `/incident page` for the on-call.")
            targets.append(["user", user, mention(user) if user[:1] in "UW" else f"@{user}"])
    with ctx.session() as session:
        link = paging.link_for(session, incident.id)
        paged = paging.was_paged(session, incident.id)
    mode = link.mode if link else config(ctx.app).paging_mode
    if paged and not targets:
        return Reply(f"#{incident.id} is already paged: {paging._describe_link(link)}.",
                     lines=["To page one more person: `/incident page @user`."])
    paging.queue_page(ctx, incident, reason=f"asked by {person(ctx.chat, ctx.user_id)}", targets=targets)
    who = targets[0][2] if targets else "the on-call"
    if mode == DRY_RUN:
        return Reply(f"Dry-run: recording a page of {who} for #{incident.id}; nothing is sent.",
                     lines=[config(ctx.app).dry_run_note()])
    return Reply(f"Paging {who} for #{incident.id} in PagerDuty; the result is posted in the incident channel.")


def page_on_raise(ctx: Context, incident: Incident, old: int, new: int) -> None:
    """Pages already out follow the new urgency, and the ack clock restarts for the new severity.

    Paging itself (on declare and on a raise into SEV1/SEV2) is a workflow now: the default file
    (playbooks/data/workflows.default.yaml) pages through bot.features.workflows, so a team can change it.
    """
    if SEVERITIES[new].pages != SEVERITIES[old].pages:
        paging.queue_sync(ctx, incident, "urgency")  # only for pages already out (REST)
    clock.arm_ack(ctx, incident, ctx.now())


# -- Fireline -> PagerDuty ------------------------------------------------------------------------------------
def sync_ack(ctx: Context, incident: Incident, via: str = "fireline", **_: Any) -> None:
    clock.stop_all(ctx, incident, ("ack", "remind"))
    if via != "pagerduty" and _not_from_pagerduty(ctx):
        paging.queue_sync(ctx, incident, "ack")


def sync_resolve(ctx: Context, incident: Incident, **_: Any) -> None:
    clock.stop_all(ctx, incident)
    if _not_from_pagerduty(ctx):
        paging.queue_sync(ctx, incident, "resolve")


def sync_note(ctx: Context, incident: Incident, text: str = "") -> None:
    if _not_from_pagerduty(ctx) and text:
        paging.queue_sync(ctx, incident, "note", text)


def sync_update(ctx: Context, incident: Incident, text: str = "") -> None:
    if _not_from_pagerduty(ctx) and text:
        paging.queue_sync(ctx, incident, "note", f"Status update: {text}")


def rearm_on_reopen(ctx: Context, incident: Incident, old: str, new: str) -> None:
    if old == "resolved" and incident.is_open:  # the nudge re-arms from the workflows' no_update trigger
        if _not_from_pagerduty(ctx):
            paging.queue_sync(ctx, incident, "reopen")


# -- the clock's buttons ----------------------------------------------------------------------------------------
def press_update(ctx: Context, number: int) -> Reply:
    return Reply(f"Post the update for #{number} with `/incident update <what changed, what is next> #{number}`.",
                 lines=["It goes to the incident channel and under the card in #"
                        f"{ctx.app.settings.incidents_channel_name}, and resets the nudge."])


def press_no_change(ctx: Context, incident: Incident) -> Reply:
    incident = svc.post_update(ctx, incident.id, "No change since the last update; still working on it.")
    return Reply(f"Posted a no-change update on #{incident.id}; the next nudge is in "
                 f"{ctx.app.settings.update_nudge_minutes} min if nothing else is posted.")


# -- escalation contacts --------------------------------------------------------------------------------------
def escalate(ctx: Context, args: Args, incident: Incident) -> Reply:
    try:
        contacts = load_contacts(ctx.app.settings.escalation_contacts or None)
    except ContactsError as exc:
        raise UserError(f"The escalation contacts file is broken: {escape(str(exc))}",
                        "Fix ESCALATION_CONTACTS (`fireline check` says what is wrong).") from None
    known = ", ".join(f"`{name}`" for name in contacts.names())
    if not args.words:
        raise UserError("Say which area to escalate to.", f"Areas: {known}. For example `/incident escalate "
                                                          "infrastructure`.")
    area = contacts.find(" ".join(args.words))
    if area is None:
        raise UserError(f"`{escape(' '.join(args.words)[:40])}` is not a known area.",
                        f"Areas: {known}. For example `/incident escalate backend`.")
    with ctx.session() as session:
        svc.record(session, svc.get_incident(session, incident.id), "escalated", ctx.user_id,
                   f"Escalated to {area.name}: {area.how()}",
                   {"area": area.area, "policy": area.pagerduty_policy or None}, at=ctx.now())
    lines = [f"Contact: {escape(area.how())}"]
    if area.pagerduty_policy:
        paging.queue_page(ctx, incident, reason=f"escalated to {area.name} by {person(ctx.chat, ctx.user_id)}",
                          targets=[["policy", area.pagerduty_policy, f"{area.name} ({area.pagerduty_policy})"]])
        lines.append(f"Paging PagerDuty escalation policy {area.pagerduty_policy}"
                     + (" (dry-run: nothing is sent)" if config(ctx.app).paging_mode == DRY_RUN else "") + ".")
    else:
        lines.append("No PagerDuty policy is set for this area; reach them as above.")
    svc.announce(ctx, incident, Reply(f":arrow_up: #{incident.id} escalated to *{escape(area.name)}* by "
                                      f"{mention(ctx.user_id)}", lines=lines), also_incidents_channel=True)
    return Reply(f"Escalated #{incident.id} to {escape(area.name)}.", lines=lines)


def add_routes(container, worker=None):
    return routes(container, worker)


def register(registry: Registry) -> None:
    registry.simple_command("oncall", "", "who is on call now in PagerDuty, each level, and when shifts hand over")(
        oncall_command)
    registry.job(oncall.REFRESH_JOB)(refresh_job)
    registry.on(Hooks.RUNTIME_STARTED)(start_oncall_refresh)

    incident_cmd = registry.command("incident", "declare and run incidents")
    incident_cmd.sub("page", PAGE_USAGE, "page the on-call in PagerDuty, or ask one more person or policy to respond",
                     page, incident="open")
    registry.on(Hooks.INCIDENT_SEVERITY_CHANGED)(page_on_raise)
    registry.on(Hooks.INCIDENT_ACKNOWLEDGED)(sync_ack)
    registry.on(Hooks.INCIDENT_RESOLVED)(sync_resolve)
    registry.on(Hooks.INCIDENT_NOTED)(sync_note)
    registry.on(Hooks.INCIDENT_UPDATED)(sync_update)
    registry.on(Hooks.INCIDENT_STATUS_CHANGED)(rearm_on_reopen)
    registry.job(paging.PAGE_JOB)(paging.page_job)
    registry.job(paging.SYNC_JOB)(paging.sync_job)
    registry.card_field(paging.card_field)

    registry.job(clock.ACK_JOB)(clock.ack_deadline)
    registry.job(clock.REMIND_JOB)(clock.ack_reminder)
    registry.job(clock.NUDGE_JOB)(clock.update_nudge)
    registry.action(clock.UPDATE_ACTION, press_update, value="incident")
    registry.action(clock.NO_CHANGE_ACTION, press_no_change, value="incident", incident="open")

    incident_cmd.sub("escalate", "escalate <area>", "bring in the area's contact from the guide's Emergency "
                                                    "Contacts (and page its PagerDuty policy if set)", escalate,
                     incident="any")
    registry.on(Hooks.HTTP_ROUTES)(add_routes)
    registry.job(APPLY_JOB)(apply_job)


def register_check(registry: Registry) -> None:
    registry.check("pagerduty")(check_pagerduty)


def check_pagerduty(settings: Settings) -> Status:
    """Paging mode, on-call reachability (a live read), webhook and escalation contacts."""
    pd = config_for(settings)
    parts = []
    try:
        contacts = load_contacts(settings.escalation_contacts or None)
        contacts_text = f"{len(contacts.areas)} escalation areas ({contacts.source})"
    except ContactsError as exc:
        return Status("pagerduty", "error", f"ESCALATION_CONTACTS: {exc}")
    mode = pd.paging_mode
    if mode == DRY_RUN:
        missing = pd.missing_for_paging()
        return Status("pagerduty", "dry-run", f"{', '.join(missing)} not set (or PAGERDUTY_ROUTING_KEY): pages and "
                      f"/oncall are dry-runs; {contacts_text}")
    parts.append("paging through the REST API" if mode == REST else
                 "paging through the Events API (no notes, escalation or extra responders: set PAGERDUTY_API_TOKEN, "
                 "PAGERDUTY_FROM_EMAIL and PAGERDUTY_SERVICE_ID for those)")
    state = "live"
    if pd.oncall_ready:
        client = RestClient(settings, retry=RetryPolicy(attempts=1))
        try:
            entries = client.list_oncalls(settings.pagerduty_escalation_policy_id)
            parts.append(f"/oncall: {len(entries)} on call for {settings.pagerduty_escalation_policy_id}")
        except PagerDutyError as exc:
            state = "error"
            parts.append(f"/oncall: {exc}")
        finally:
            client.close()
    else:
        parts.append("/oncall off (needs PAGERDUTY_API_TOKEN and PAGERDUTY_ESCALATION_POLICY_ID)")
    if settings.pagerduty_webhook_secret is None or not settings.pagerduty_webhook_secret.get_secret_value():
        parts.append("webhooks off (PAGERDUTY_WEBHOOK_SECRET not set: PagerDuty-side acks do not reach Fireline)")
    else:
        parts.append("POST /webhooks/pagerduty on")
    if mode == EVENTS and settings.pagerduty_escalation_policy_id and not pd.has_token:
        parts.append("PAGERDUTY_ESCALATION_POLICY_ID is unused without PAGERDUTY_API_TOKEN")
    parts.append(contacts_text)
    return Status("pagerduty", state, "; ".join(parts))


def config_for(settings: Settings):
    return PagerDutyConfig(settings)
