"""`/incident statuspage` and its buttons: public words are drafted by Fireline and published by a person.

The draft is a plan (what the public will read, with Publish / Edit / Discard); publishing needs the
same RESPONDERS rule as destructive playbooks and happens once however often Publish is pressed.
Resolving an incident that has public updates offers the closing update.
"""

from __future__ import annotations

from bot.core.clock import fmt_utc
from bot.core.grammar import Args
from bot.core.registry import Registry
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.hooks import Hooks
from bot.store.models import Incident
from bot.core.reply import Button, Reply, escape, mention
from bot.service import incidents as svc
from bot.features.status import service
from bot.features.status.service import Outcome
from bot.features.postmortem import service as postmortem
from bot.service.responders import may_confirm


class StatusActions:
    DRAFT = "status_draft"  # the card's button: value is the incident number
    PUBLISH = "status_publish"  # value: the draft's row id and the revision shown, `12.3`
    EDIT = "status_edit"
    DISCARD = "status_discard"


USAGE = "statuspage [components] [status] [stage] [--text \"...\"] [--title \"...\"]"


def plan_reply(update, incident_id: int, note: str = "") -> Reply:
    value = str(update.id)
    lines = [*service.describe_update(update),
             "Nothing is public until someone in RESPONDERS presses *Publish*.",
             f"Change it with `/incident statuspage --text \"...\" #{incident_id}` (or components, a status such as "
             "`partial_outage`, a stage such as `monitoring`)."]
    if note:
        lines.insert(0, note)
    return Reply(f"*Public status update for #{incident_id}* (draft, not published)", lines=lines,
                 buttons=[Button("Publish", StatusActions.PUBLISH, service.publish_value(update), "primary"),
                          Button("Edit", StatusActions.EDIT, value),
                          Button("Discard", StatusActions.DISCARD, value, "danger")])


def statuspage(ctx: Context, args: Args, incident: Incident) -> Reply:
    text, title = args.flag("text"), args.flag("title")
    request = service.parse_request(ctx.app.settings, list(args.words), text, title)
    update = service.draft(ctx, incident, request)
    return plan_reply(update, incident.id)


def press_draft(ctx: Context, incident: Incident) -> Reply:
    return plan_reply(service.draft(ctx, incident, service.Request()), incident.id)


def visible_update(ctx: Context, update_id: int):
    """The draft a button (or the edit modal) names, if its incident is one the presser may see; else the same
    answer as a draft that does not exist (bot/service/lookups.py: a private incident's drafts are its members')."""
    update = service.get_update(ctx, update_id)
    with ctx.session() as session:
        svc.incident_for(ctx, session, update.incident_id, missing=UserError(
            "That draft no longer exists.", "Draft a new one with `/incident statuspage`."))
    return update


def press_publish(ctx: Context, value: str) -> Reply:
    update_id, revision = service.parse_publish_value(value)
    visible_update(ctx, update_id)
    outcome, update = service.publish(ctx, update_id, revision)
    if outcome == Outcome.CHANGED:
        return plan_reply(update, update.incident_id, f":warning: Nothing was published: the draft was changed by "
                          f"{mention(update.drafted_by)} at {fmt_utc(update.drafted_at)} after the message you "
                          "pressed. Read this version and press *Publish* on it if it is right.")
    if outcome == Outcome.ALREADY:
        return Reply(f"Already on the status page: {service.published_line(update)}")
    if outcome == Outcome.DISCARDED:
        raise UserError("That draft was discarded.", "Draft a new one with `/incident statuspage`.")
    with ctx.session() as session:
        incident = svc.get_incident(session, update.incident_id)
    reply = Reply(f":globe_with_meridians: Published on the status page for #{incident.id} by "
                  f"{mention(ctx.user_id)}", lines=service.describe_update(update))
    svc.announce(ctx, incident, Reply(reply.text, lines=list(reply.lines)))
    return reply


def press_edit(ctx: Context, update_id: int) -> Reply:
    update = visible_update(ctx, update_id)  # a private incident's draft: as if it did not exist, before any other rule
    service.check_may_edit(ctx)
    if update.state != "draft":
        raise UserError("That draft is no longer waiting.", "Draft a new one with `/incident statuspage`.")
    return Reply(f"*Edit the draft for #{update.incident_id}*", lines=[
        *service.describe_update(update),
        f"Type `/incident statuspage --text \"{escape(update.body)}\" #{update.incident_id}` with your words; "
        f"components and status the same way, for example `/incident statuspage "
        f"{', '.join(update.components)} partial_outage #{update.incident_id}`."])


def press_discard(ctx: Context, update_id: int) -> Reply:
    visible_update(ctx, update_id)
    if service.discard(ctx, update_id):
        return Reply("Draft discarded; nothing was published.")
    return Reply("That draft is no longer waiting (already published or discarded).")


def offer_closing_update(ctx: Context, incident: Incident, request: service.Request | None = None,
                         **_: object) -> None:
    """Resolving an incident the public heard about drafts the closing update and shows it to the resolver.

    Called by the workflow runner (bot.features.workflows) when a workflow drafts the closing update on resolve:
    the default file's "Draft the closing status page update" does, so a team file can turn it off."""
    with ctx.session() as session:
        done = service.published(session, incident.id)
    if not done or done[-1].stage == "resolved":
        return
    update = service.draft(ctx, incident, request or service.Request(stage="resolved"), suggested=True)
    ctx.respond(plan_reply(update, incident.id, "The public page still shows this incident as "
                           f"{done[-1].stage}: publish the closing update?"))


def refresh_postmortem(ctx: Context, incident: Incident, **_: object) -> None:
    """A public update published after resolution (the closing one) belongs in the postmortem draft already made."""
    if incident.is_open:
        return
    with ctx.session() as session:
        row = postmortem.stored(session, incident.id)
    if row is not None and row.done_at is None:
        postmortem.generate(ctx.app, incident.id)


MAINTENANCE_USAGE = 'maintenance <components> --start <UTC time> --end <UTC time> --title "..." [--text "..."]'
MAINTENANCE_EXAMPLE = ('`/incident maintenance API, Realtime --start 2026-12-06T02:00 --end 2026-12-06T03:00 '
                       '--title "Database upgrade"`')


def parse_utc(value: str | None, what: str):
    from datetime import UTC, datetime

    if not value:
        raise UserError(f"Maintenance needs --{what}.", f"Times are UTC, for example {MAINTENANCE_EXAMPLE}.")
    text = value.strip().upper().replace(" ", "T").removesuffix("UTC").removesuffix("Z").rstrip("T")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"`{escape(value[:40])}` is not a time for --{what}.",
                        f"Write it as `2026-12-06T02:00` (UTC), for example {MAINTENANCE_EXAMPLE}.") from None
    if moment.tzinfo is not None:
        raise UserError(f"--{what} is read as UTC; leave out the offset.", f"For example {MAINTENANCE_EXAMPLE}.")
    return moment.replace(tzinfo=UTC)


def maintenance(ctx: Context, args: Args) -> Reply:
    """Scheduled maintenance is public words too: only someone in RESPONDERS may put it on the page."""
    start, end = args.flag("start"), args.flag("end")
    title, text = args.flag("title"), args.flag("text")
    decision = may_confirm(ctx)
    if not decision.allowed:
        raise UserError(f"Only responders may schedule maintenance on the public status page: {decision.why}.")
    request = service.parse_request(ctx.app.settings, list(args.words), text, title)
    if not request.components:
        raise UserError("Say which components the maintenance affects.", f"For example {MAINTENANCE_EXAMPLE}.")
    if request.title is None:
        raise UserError("Maintenance needs a public --title.", f"For example {MAINTENANCE_EXAMPLE}.")
    starts, ends = parse_utc(start, "start"), parse_utc(end, "end")
    if ends <= ctx.now():
        raise UserError("That maintenance would already be over.", f"For example {MAINTENANCE_EXAMPLE}.")
    row = service.schedule_maintenance(ctx, request.title, starts, ends, request.components, request.text or "")
    return Reply(f":calendar: Scheduled maintenance on the status page: {escape(row.title)}",
                 lines=[f"{fmt_utc(row.starts_at)} to {fmt_utc(row.ends_at)}; {', '.join(row.components)} show "
                        "as under maintenance meanwhile."])


def register(registry: Registry) -> None:
    incident = registry.command("incident", "declare and run incidents")
    incident.sub("statuspage", USAGE, "draft a public status page update (published after a responder confirms)",
                 statuspage, incident="any")
    incident.sub("maintenance", MAINTENANCE_USAGE, "schedule maintenance on the public status page")(maintenance)
    registry.action(StatusActions.DRAFT, press_draft, value="incident", incident="any")
    registry.action(StatusActions.PUBLISH, press_publish)
    registry.action(StatusActions.EDIT, press_edit, value=int)
    registry.action(StatusActions.DISCARD, press_discard, value=int)
    registry.card_button("Status page", StatusActions.DRAFT)
    registry.on(Hooks.STATUS_PUBLISHED)(refresh_postmortem)
