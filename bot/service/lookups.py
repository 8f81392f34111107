"""Which incident a command, a button, a modal or the console means (members only for a private one), and the one
refusal for a resolved incident.

Plain values in (a number, a channel id), not the grammar's parsed words: buttons, modals and the console
have a number and no words, so the one visibility rule takes what all of them have; a feature's handler
reads `#N` and `<#C...>` off what was typed (tests/service/test_plain_values.py keeps the grammar out).
The registry resolves a handler's declared `incident=` precondition with `find_incident` and
`incident_by_number`, which `register` hands it at assembly: the core imports no service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import false, or_, true, update
from sqlmodel import Session, col, select

from bot.core import log_context
from bot.core.errors import UserError
from bot.core.registry import IncidentResolver, Registry
from bot.store.models import Incident, IncidentMember

if TYPE_CHECKING:
    from bot.core.context import Context


def _row(session: Session, number: int, lock: bool) -> Incident | None:
    """The row `#number`. With `lock`, read only once this transaction holds the row's write lock, so a
    check-then-change on it is applied one after the other, never both on the same old state.

    PostgreSQL: `SELECT ... FOR UPDATE`. SQLite has no row locks and ignores FOR UPDATE, and its driver starts
    the transaction at the first write, so a no-op `UPDATE` of the row comes first: it takes the database's
    write lock (waiting in the busy timeout like any writer) and the read after it sees the latest commit.
    """
    if lock and session.get_bind().dialect.name == "sqlite":
        session.execute(update(Incident).where(col(Incident.id) == number).values(id=col(Incident.id))
                        .execution_options(synchronize_session=False))
    return session.get(Incident, number, with_for_update=True, populate_existing=True) if lock \
        else session.get(Incident, number)


def no_such_incident(number: int) -> UserError:
    """What a number that names nothing gets, and so what a private incident gets from a non-member."""
    return UserError(f"There is no incident #{number}.", "Type `/incident list` to see open incidents.")


def get_incident(session: Session, number: int, *, lock: bool = False) -> Incident:
    """The incident `#number` for Fireline's own work (jobs, hooks, timers), which sees every incident.

    A number that came from a person (typed, on a button, in a modal, from the console) goes through
    `incident_for` instead, which applies the visibility rule.
    """
    incident = _row(session, number, lock)
    if incident is None:
        raise no_such_incident(number)
    log_context.bind_incident(incident.id)
    return incident


def incident_for(ctx: Context, session: Session, number: int, *, missing: UserError | None = None) -> Incident:
    """THE way a number from a person becomes an incident: commands, buttons, modals and the console all come here.

    A private incident `ctx`'s person may not see (`may_see`) raises exactly what a number that does not
    exist raises, checked before anything else (open or resolved, who may do what), so no answer, post or
    timeline line can tell a non-member that it exists. `missing`: the error when the number came inside
    something else (a draft, an alert, a deploy watch) whose own "no such ..." answer is the one to give.
    """
    incident = session.get(Incident, number)
    if incident is None or not may_see(ctx, session, incident):
        raise missing or no_such_incident(number)
    log_context.bind_incident(incident.id)
    return incident


def incident_for_channel(session: Session, channel_id: str) -> Incident | None:
    if not channel_id:
        return None
    incident = session.exec(select(Incident).where(Incident.channel_id == channel_id)).first()
    if incident is not None:
        log_context.bind_incident(incident.id)
    return incident


def visible_to(user_id: str | None):
    """A WHERE clause for incident lists: public incidents, and the private ones `user_id` is a member of."""
    if user_id is None:
        return true()
    members = select(IncidentMember.incident_id).where(IncidentMember.user_id == user_id)
    return or_(col(Incident.private) == false(), col(Incident.id).in_(members))


def shown_title(incident: Incident) -> str:
    """The title for places outside a private incident's members (PagerDuty, exports, digests): never its own."""
    return "private incident" if incident.private else incident.title


def may_see(ctx: Context, session: Session, incident: Incident) -> bool:
    """THE rule for private incidents (bot/features/private/feature.py): members only; the console's operator and
    Fireline's own jobs see everything."""
    return ctx.is_console or person_may_see(session, incident, ctx.user_id)


def sees(ctx: Context, session: Session, number: int | None) -> bool:
    """Whether `incident_for` would give `ctx`'s person incident `number`: for lists and joins that leave out
    what a person may not see rather than refuse (alerts of a private incident, a follow-up on App Home)."""
    if number is None:
        return True
    incident = session.get(Incident, number)
    return incident is not None and may_see(ctx, session, incident)


def named_incident(ctx: Context, session: Session, number: int | None, channel: str | None) -> Incident | None:
    """The incident `number` (`#N`), else the one whose channel is `channel` (`<#C...>`) or the channel `ctx` is
    in, else None.

    Every one is resolved through the visibility rule: `#N` of a private incident is, for a non-member, a number
    that does not exist, and its channel (named as `<#C...>`, or typed in after they left it) a channel that is
    no incident's.
    """
    if number is not None:
        return incident_for(ctx, session, number)
    for channel_id in (channel, ctx.channel_id):
        incident = incident_for_channel(session, channel_id or "")
        if incident is not None and sees(ctx, session, incident.id):
            return incident
    return None


def target_incident(ctx: Context, session: Session, number: int | None, channel: str | None, usage: str,
                    command: str = "incident") -> Incident:
    """`#N` wins; inside an incident channel, that incident; elsewhere ask for `#N`. Private ones: members only."""
    incident = named_incident(ctx, session, number, channel)
    if incident is None:
        typed = " ".join([f"/{command}", *(word for word in usage.split() if word != "[#N]"), "#N"])
        raise UserError("This channel isn't an incident channel, so say which incident you mean.",
                        f"Type `{typed}` (for example `#12`), or run it in the incident's channel.")
    return incident


def resolved_refusal(incident: Incident, *more_hints: str) -> UserError:
    """The one answer when something needs an open incident and this one is resolved: what to type to reopen it."""
    return UserError(f"#{incident.id} is resolved.",
                     f"Reopen it first with `/incident status investigating #{incident.id}`.", *more_hints)


def ensure_open(incident: Incident, *more_hints: str) -> Incident:
    if not incident.is_open:
        raise resolved_refusal(incident, *more_hints)
    return incident


def find_incident(ctx: Context, number: int | None, channel: str | None, usage: str, *, open_only: bool,
                  command: str = "incident") -> Incident:
    """What the registry does for a handler declared with `incident="any"` or `incident="open"`."""
    with ctx.session() as session:
        incident = target_incident(ctx, session, number, channel, usage, command)
    return ensure_open(incident) if open_only else incident


def incident_by_number(ctx: Context, number: int, *, open_only: bool) -> Incident:
    """What the registry does for a button declared with `value="incident"` and an `incident=` precondition."""
    with ctx.session() as session:
        incident = incident_for(ctx, session, number)
    return ensure_open(incident) if open_only else incident


def person_may_see(session: Session, incident: Incident, user_id: str | None) -> bool:
    """`may_see` for a person known only by their Slack id (App Home's reader, a team page's reader): the same
    rule without a context, so the read functions (bot/service/reads.py) apply it and no front end restates it."""
    if not incident.private or user_id == "fireline":
        return True
    return session.get(IncidentMember, (incident.id, user_id)) is not None


def register(registry: Registry) -> None:
    """Give the registry the one way a handler's `incident=` precondition becomes an Incident."""
    registry.incident_resolver = IncidentResolver(by_words=find_incident, by_number=incident_by_number)


__all__ = ["ensure_open", "may_see", "shown_title", "visible_to",
           "find_incident", "get_incident", "incident_by_number", "incident_for", "incident_for_channel",
           "named_incident", "no_such_incident", "person_may_see", "register", "resolved_refusal", "sees",
           "target_incident"]
