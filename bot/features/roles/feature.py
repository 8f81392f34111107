"""`/incident role <role> @user` and `/incident roles`: incident roles (bot/features/roles/service.py)."""

from __future__ import annotations

from bot.core.chat import person
from bot.core.check import Status
from bot.core.grammar import Args, parse_user
from bot.core.registry import Registry
from bot.core.context import Context
from bot.core.errors import UserError
from bot.store.models import Incident
from bot.core.reply import Reply, escape
from bot.features.roles import service as roles
from playbooks.framework import Refused
from playbooks.roles import COMMANDER, COMMS, SCRIBE, parse_roles


def role(ctx: Context, args: Args, target: Incident) -> Reply:
    if not args.words:
        return roles_(ctx, args, target)
    user = parse_user(args.words[1]) if len(args.words) == 2 else None
    if user is None:
        raise UserError("Say which role and who, as one @mention.",
                        "For example `/incident role comms @chen` (roles: `/incident roles`).")
    chosen = roles.role_named(ctx, args.words[0])
    incident = roles.assign(ctx, target.id, chosen, user)
    return Reply(f"{escape(person(ctx.chat, user))} is now {escape(chosen.label)} of #{incident.id}.")


def roles_(ctx: Context, args: Args, target: Incident) -> Reply:
    with ctx.session() as session:
        held = roles.holders(session, target)
    lines = []
    for r in roles.definitions(ctx.app.settings):
        who = escape(person(ctx.chat, held[r.key])) if held.get(r.key) else "nobody"
        lines.append(f"*{escape(r.label)}* (`{r.word}`): {who}" + (f"  _{escape(r.duty)}_" if r.duty else ""))
    return Reply(f"*Roles of #{target.id}*", lines=lines + ["Assign with `/incident role <role> @user`."])


def check_roles(settings) -> Status:
    """`fireline check`: a malformed INCIDENT_ROLES is said here (at run time the built-in roles stand in)."""
    try:
        defined = parse_roles(settings.incident_roles)
    except Refused as exc:
        return Status("roles", "error", f"{exc.message} {' '.join(exc.hints)}".strip())
    return Status("roles", "live", "incident roles: " + ", ".join(r.word for r in defined))


def register(registry: Registry) -> None:
    registry.check("roles")(check_roles)
    incident = registry.command("incident", "declare and run incidents")
    lead = COMMANDER.word
    incident.sub("role", f"role <{lead}|{COMMS.word}|{SCRIBE.word}|...> @user",
                 f"give someone an incident role (`{lead} @user` is `role {lead} @user`)", role, incident="open")
    incident.sub("roles", "roles", "who holds each incident role", roles_, incident="any")
    roles.register_hooks(registry)
