"""`/incident`: declare and run an incident. Parsing and replies only; the lifecycle is in the service."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.chat import person
from bot.core.clock import fmt_utc
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.grammar import Args, parse_severity, parse_user, text_of
from bot.core.registry import Registry
from bot.core.reply import Reply, escape, mention
from bot.features.incident import checklist
from bot.service import incidents as svc
from bot.service.incidents import Actions
from bot.service.pins import SlackMessage, record_pin
from bot.store.models import STATES, Incident
from playbooks.severity import SEVERITIES, classify_title, rules_for

MAX_DESCRIPTION = 3000  # a declare's description, kept as its first timeline note
LIST_LIMIT = 25  # a Slack message stays readable; the most severe come first
SEVERITY_HINT = "Severity is `sev1`, `sev2`, `sev3` or `sev4` (SEV1 = complete outage, SEV4 = cosmetic)."


# -- subcommands: `(ctx, args)`, or `(ctx, args, incident)` when registered with `incident=` -----------------
def declare(ctx: Context, args: Args) -> Reply:
    words = args.all_words()
    private = "--private" in [w.lower() for w in words]
    words = [w for w in words if w.lower() != "--private"]
    components = _components_flag(words)
    level = None
    for i in (len(words) - 1, 0):
        if words and 0 <= i < len(words) and words[i].lower().startswith(("sev", "p")) \
                and parse_severity(words[i]):
            level = parse_severity(words.pop(i))
            break
    bad_sev = [w for w in words if w.lower().startswith("sev") and w.lower()[3:].lstrip("-").isdigit()]
    if bad_sev:
        raise UserError(f"`{escape(bad_sev[0][:20])}` is not a severity.", SEVERITY_HINT,
                        "For example `/incident declare Checkout returns 502 sev1`.")
    title = text_of(words)
    if not title:
        raise UserError("A title is needed to declare an incident.",
                        "Type `/incident declare <what is broken> [sev1-4]`, for example "
                        "`/incident declare Login broken for EU users sev2`.")
    return declare_form(ctx, DeclareForm(title=title, level=level, private=private, components=components))


def _components_flag(words: list[str]) -> list[str]:
    """`--components Payments,API` (taken out of `words`): the modal's Affected components, typed. Workflows
    read them (a `components` condition under `declared`); the console has no modal to give them."""
    for i, word in enumerate(words):
        name, _, value = word.partition("=")
        if name.lower() == "--components":
            if not value:
                value = words[i + 1] if i + 1 < len(words) else ""
                del words[i + 1:i + 2]
            del words[i]
            names = [n.strip() for n in value.split(",") if n.strip()]
            if not names or any(n.startswith("-") for n in names):
                raise UserError("`--components` needs the component names, comma-separated.",
                                "For example `/incident declare Card payments failing sev1 --components Payments`.")
            return names[:20]
    return []


@dataclass
class DeclareForm:
    """What a declare says, however it was asked: typed words, the Slack modal, the console's prompts.

    `private` is passed through untouched (stored in the `declared` event's data and the hook's
    `private=`): what a private incident means is the private-incidents feature's decision.
    `message`: the Slack message a "Declare incident" shortcut started from (channel, ts, author, text).
    """

    title: str
    level: int | None = None
    components: list[str] = field(default_factory=list)
    description: str = ""
    private: bool = False
    message: dict[str, str] | None = None


def suggest(ctx: Context, title: str) -> tuple[int, str]:
    """The classifier's SEV for a title and why (the modal pre-selects it; a form without a SEV uses it)."""
    picked = classify_title(title, rules_for(ctx.app.settings.severity_rules or None)[0])
    return picked.level, picked.reason


def declare_form(ctx: Context, form: DeclareForm) -> Reply:
    """Declare from a form: the one path for typed, modal and console declares."""
    if form.level is None:
        level, reason = suggest(ctx, form.title)
        why = f"Picked {ctx.app.settings.describe(level)} because it {reason}. Change it with `/incident sev <1-4>`."
    else:
        level, reason, why = form.level, f"given by {person(ctx.chat, ctx.user_id)} when declaring", None
    source: dict = {}
    if form.components:
        source["components"] = list(form.components)
    if form.private:
        source["private"] = True
    if form.message:
        source["message"] = {k: form.message.get(k, "") for k in ("channel", "ts")}
    incident, problems = svc.declare(ctx, form.title, level, reason, source=source or None, private=form.private)
    private = " (private)" if form.private else ""
    reply = Reply(f"Declared *#{incident.id}* {ctx.app.settings.describe(level)}{private}: {escape(incident.title)}",
                  lines=[line for line in [why] if line])
    if form.description:
        svc.add_note(ctx, incident.id, form.description, kind="description")
    if form.message:
        link = pin_message(ctx, incident, form.message)
        if link:
            reply.lines.append(f"Declared from <{link}|this message>, pinned as the first timeline event.")
    if incident.channel_name:
        channel = f"#{incident.channel_name}" if ctx.is_console else \
            f"<#{incident.channel_id}|{incident.channel_name}>"
        reply.lines.append(f"Incident channel: {channel}. Commands there apply to #{incident.id}.")
    reply.lines += [f":warning: {escape(p)}" for p in problems]
    return reply


def pin_message(ctx: Context, incident: Incident, message: dict[str, str]) -> str | None:
    """The shortcut's message as the incident's first timeline event (at its own time), with a permalink."""
    channel, ts = message.get("channel", ""), message.get("ts", "")
    if not channel or not ts:
        return None
    link = ctx.chat.permalink(channel, ts) if hasattr(ctx.chat, "permalink") else None
    pinned = SlackMessage(channel, ts, message.get("author") or "unknown", message.get("text") or "")
    record_pin(ctx.app, incident.id, pinned, ctx.user_id, link=link)
    return link


def sev(ctx: Context, args: Args, target: Incident) -> Reply:
    level = parse_severity(args.words[0]) if len(args.words) == 1 else None
    if level is None:
        raise UserError("Say which severity, 1 to 4.", SEVERITY_HINT, "For example `/incident sev 2`.")
    incident, old = svc.change_severity(ctx, target.id, level)
    return Reply(f"#{incident.id} is now {ctx.app.settings.describe(level)} (was SEV{old}).")


def ack(ctx: Context, args: Args, target: Incident) -> Reply:
    incident = svc.acknowledge(ctx, target.id)
    return Reply(f"You acknowledged #{incident.id}; it is now {incident.status}.")


def lead(ctx: Context, args: Args, target: Incident) -> Reply:
    user = parse_user(args.words[0]) if len(args.words) == 1 else None
    if user is None:
        raise UserError("Say who leads, as one @mention.", "For example `/incident lead @chen`.")
    incident = svc.set_lead(ctx, target.id, user)
    return Reply(f"{mention(user)} now leads #{incident.id}.")


def status(ctx: Context, args: Args, target: Incident) -> Reply:
    if len(args.words) != 1:
        raise UserError("Say which state.", "States: " + " -> ".join(STATES) +
                        ". For example `/incident status mitigating`.")
    incident = svc.set_status(ctx, target.id, svc.valid_state(args.words[0]))
    return Reply(f"#{incident.id} is now {incident.status}.")


def update(ctx: Context, args: Args, target: Incident) -> Reply:
    incident = svc.post_update(ctx, target.id, need_text(args, "update", "Rolled back to v41; error rate is falling"))
    return Reply(f"Update posted to #{incident.id}.")


def note(ctx: Context, args: Args, target: Incident) -> Reply:
    incident = svc.add_note(ctx, target.id, need_text(args, "note", "Saw connection resets from iad at 14:02"))
    return Reply(f"Noted in the timeline of #{incident.id}.")


def show(ctx: Context, args: Args, incident: Incident) -> Reply:
    with ctx.session() as session:
        events = svc.timeline(session, incident.id, limit=15)
    reply = svc.card(ctx, incident)
    reply.visibility = reply.visibility.EPHEMERAL
    reply.lines = ["*Timeline* (latest 15):"] + [
        f"{fmt_utc(e.at)}  {e.kind}  {mention(e.actor)}: {escape(e.text)}" for e in events]
    return reply


def list_(ctx: Context, args: Args) -> Reply:
    with ctx.session() as session:
        viewer = None if ctx.is_console else ctx.user_id  # private incidents: their members only
        shown = svc.open_incidents(session, limit=LIST_LIMIT, viewer=viewer)
        total = svc.count_open(session, viewer=viewer) if len(shown) == LIST_LIMIT else len(shown)
    if not shown:
        return Reply("No open incidents. :white_check_mark:")
    reply = Reply(f"*{total} open incident{'s' if total != 1 else ''}*",
                  lines=[svc.summary_line(row) for row in shown])
    if total > LIST_LIMIT:
        reply.lines.append(f"...and {total - LIST_LIMIT} more, less severe or older. "
                           "`/incident show #N` shows one.")
    return reply


def resolve(ctx: Context, args: Args, target: Incident) -> Reply:
    incident = svc.resolve(ctx, target.id, args.rest or None)
    return Reply(f"#{incident.id} is resolved.")


def help_(ctx: Context, args: Args) -> Reply:
    return ctx.app.registry.commands["incident"].help_reply()


# -- buttons: `(ctx, value)`, the value as declared on registration -----------------------------------------
def press_ack(ctx: Context, incident: Incident) -> Reply:
    incident = svc.acknowledge(ctx, incident.id)
    return Reply(f"You acknowledged #{incident.id}; it is now {incident.status}.")


def press_lead(ctx: Context, incident: Incident) -> Reply:
    incident = svc.set_lead(ctx, incident.id, ctx.user_id)
    return Reply(f"You now lead #{incident.id}.")


def register(registry: Registry) -> None:
    incident = registry.command("incident", "declare and run incidents")
    incident.sub("declare", "declare <title> [sev1|sev2|sev3|sev4] [--private] [--components A,B]",
                 "declare an incident; without a severity Fireline picks one and says why; --private: members only; "
                 "--components Payments,API: what customers see affected",
                 declare)
    incident.sub("sev", "sev <1-4>", "change the severity", sev, incident="open")
    incident.sub("ack", "ack", "acknowledge: you are on it (starts investigating)", ack, incident="open")
    incident.sub("lead", "lead @user", "make someone the incident lead", lead, incident="open")
    incident.sub("status", "status <state>", "move to " + ", ".join(STATES), status, incident="any")
    incident.sub("update", "update <text>", "post a status update to the channel (kept in the timeline)", update,
                 incident="any")
    incident.sub("note", "note <text>", "add a note to the timeline only", note, incident="any")
    incident.sub("show", "show [#N]", "the incident and its latest timeline", show, incident="any")
    incident.sub("list", "list", "open incidents, most severe first", list_)
    incident.sub("resolve", "resolve [summary]", "resolve the incident (a postmortem draft follows)", resolve,
                 incident="any")
    incident.sub("help", "help", "this list", help_)

    registry.action(Actions.ACK, press_ack, value="incident", incident="open")
    registry.action(Actions.LEAD, press_lead, value="incident", incident="open")
    checklist.register(registry)  # Show playbook, the SEV1 checklist's boxes, and Acknowledge ticking step 1


def need_text(args: Args, sub: str, example: str) -> str:
    text = args.rest
    if not text:
        raise UserError(f"`{sub}` needs some text.", f"For example `/incident {sub} {example}`.")
    return text


__all__ = ["SEVERITIES", "register"]
