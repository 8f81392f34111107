"""`/incident timeline`, `/incident followup(s)`: completing the record for the postmortem."""

from __future__ import annotations

from bot.core.clock import as_utc, fmt_duration
from bot.core.grammar import Args, parse_user, text_of
from bot.core.registry import Registry
from bot.features.timeline.when import EXAMPLE, EXAMPLES, check_bounds, parse_when
from bot.core.context import Context
from bot.core.errors import UserError
from bot.store.models import Incident
from bot.core.reply import Reply, escape, mention
from bot.features.postmortem import followups as followup_svc
from bot.service import incidents as svc
from bot.core.text import whole_number
from playbooks.postmortem import fmt_offset


def split_owner(words: list[str]) -> tuple[list[str], str | None]:
    """`fix the alert <@U123|chen>` -> (text words, "U123"); only a trailing @mention is an owner."""
    if words and words[-1].startswith(("<@", "@")):
        owner = parse_user(words[-1])
        if owner:
            return words[:-1], owner
    return words, None


def timeline(ctx: Context, args: Args, target: Incident) -> Reply:
    if not args.words:
        raise UserError("Say when it happened and what happened.", EXAMPLES, EXAMPLE)
    when, rest = parse_when(args.words, ctx.now())
    text = text_of(rest)
    if not text:
        raise UserError("Say what happened after the time.", "For example `/incident timeline "
                        f"{args.words[0][:20]} Deploy v42 finished`.")
    check_bounds(when, " ".join(args.words[:len(args.words) - len(rest)]), target.id, as_utc(target.declared_at))
    incident = svc.add_note(ctx, target.id, text, kind="timeline", at=when, data={"recorded_at": ctx.now().isoformat()})
    offset = fmt_offset(when.timestamp() - as_utc(incident.declared_at).timestamp())
    ago = fmt_duration((ctx.now() - when).total_seconds())
    return Reply(f"Added to the timeline of #{incident.id} at {when.strftime('%Y-%m-%d %H:%M:%S')} UTC "
                 f"({offset} from the declaration, {ago} ago): {escape(text)}")


def followup(ctx: Context, args: Args, target: Incident) -> Reply:
    words, owner = split_owner(list(args.words))
    text = text_of(words)
    if not text:
        raise UserError("Say what should be done.", "For example `/incident followup Add a canary stage "
                        "before full rollout @chen`.")
    incident, item, number = followup_svc.add(ctx, target.id, text, owner)
    reply = Reply(f"Follow-up {number} for #{incident.id}: {escape(item.text)}, owner "
                  f"{mention(owner) if owner else 'nobody yet'}.").public()
    if not owner:
        reply.lines.append("No owner yet: it shows as _TODO_ in the postmortem. Name one with a trailing "
                           "@mention, e.g. `/incident followup Add a canary stage @chen`.")
    return reply


def followups(ctx: Context, args: Args, target: Incident) -> Reply:
    if args.words:
        action = args.words[0].lower()
        number = whole_number(args.words[1], 6) if len(args.words) == 2 else None
        if action not in ("done", "open") or number is None:
            raise UserError("Say which follow-up, by number.",
                            "For example `/incident followups done 2` (or `open 2` to reopen it).")
        incident, item = followup_svc.set_status(ctx, target.id, number, action)
        return Reply(f"Follow-up {number} of #{incident.id} is {action}: {escape(item.text)}").public()
    incident, rows = followup_svc.items(ctx, target.id)
    if not rows:
        return Reply(f"#{incident.id} has no follow-ups yet.",
                     lines=["Add one with `/incident followup <text> @owner`."])
    return Reply(f"*Follow-ups of #{incident.id}* ({sum(r.status == 'open' for r in rows)} open)", lines=[
        f"{n}. [{row.status}] {escape(row.text)}: {mention(row.owner) if row.owner else 'no owner'}"
        for n, row in enumerate(rows, start=1)])


def register(registry: Registry) -> None:
    incident = registry.command("incident", "declare and run incidents")
    incident.sub("timeline", "timeline <time> <text>",
                 "add something that happened earlier (time in UTC: 14:05, 2026-11-25 14:05, -20m)", timeline,
                 incident="any")
    incident.sub("followup", "followup <text> [@owner]", "record an action item (for the postmortem)", followup,
                 incident="any")
    incident.sub("followups", "followups [done|open <n>]", "list the action items, or mark one done", followups,
                 incident="any")
