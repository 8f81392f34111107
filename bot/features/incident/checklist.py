"""The SEV1 checklist: one shared message in the incident's channel whose boxes anyone there ticks.

Why a shared message with Slack's `checkboxes` element, not ten "Check N" buttons answered to whoever
pressed *Show playbook*: everyone on the incident sees the same list and who ticked what, and a tick is
one click on the step itself. Ticks are rows (`checklist_ticks`, bot/store/models/checklist.py): ticking
inserts once, unticking deletes once, so two deliveries of one click change the list once; each change
is one `checklist` timeline event, written in the same transaction. Every posted copy is then edited to
match the database. Acknowledging the incident ticks the guide's first step ("Acknowledge: post in
#incidents"), by whoever acknowledged.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.core.chat import MessageRef, person
from bot.core.clock import as_utc
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.hooks import Hooks
from bot.core.registry import button_number
from bot.core.reply import CheckItem, Checklist, Reply, escape
from bot.features.roles.service import comms_name
from bot.service import incidents as svc
from bot.service.incidents import Actions
from bot.store.models import Incident
from bot.store.models.checklist import ChecklistMessage, ChecklistTick
from playbooks.checklist import SEV1_PLAYBOOK, Step, step_by_number
from playbooks.roles import COMMS

log = logging.getLogger(__name__)

# Longer than the slowest post Fireline's Slack client allows (bot.adapters.slack.slack_chat: 10 s a call, up to 3
# retries after a Retry-After of at most 30 s: 130 s): a claim this old without a message belongs to a post that died.
CLAIM_TIMEOUT = timedelta(minutes=3)
ACKNOWLEDGE_STEP = SEV1_PLAYBOOK[0]  # the guide's SEV1 step 1: "Acknowledge - Post in #incidents Slack channel"


# -- the stored state ---------------------------------------------------------------------------------------
def ticks(session: Session, incident_id: int) -> dict[str, ChecklistTick]:
    rows = session.exec(select(ChecklistTick).where(ChecklistTick.incident_id == incident_id)).all()
    return {row.step: row for row in rows}


def set_tick(ctx: Context, session: Session, incident: Incident, step: Step, on: bool, *, actor: str,
             record: bool = True) -> bool:
    """Tick or untick `step`; True when this call changed it (then, and only then, a timeline event).

    `record=False`: the change that ticked it is in the timeline already (the `acknowledged` event).
    """
    if on:
        try:
            with session.begin_nested():  # a plain INSERT: a row already loaded in this session is no clash
                session.execute(insert(ChecklistTick).values(incident_id=incident.id, step=step.key,
                                                             ticked_by=actor, ticked_at=ctx.now()))
        except IntegrityError:
            return False
    else:
        gone = session.execute(delete(ChecklistTick).where(ChecklistTick.incident_id == incident.id,
                                                           ChecklistTick.step == step.key))
        if not gone.rowcount:
            return False
    if not record:
        return True
    svc.record(session, incident, "checklist", actor, f"{'Ticked' if on else 'Unticked'}: {step.phase}: {step.text}",
               {"step": step.key, "checked": on}, at=ctx.now())
    return True


# -- the message --------------------------------------------------------------------------------------------
def checklist_reply(ctx: Context, incident_id: int) -> Reply:
    with ctx.session() as session:
        incident = svc.get_incident(session, incident_id)
        done = ticks(session, incident_id)
    comms = comms_name(ctx, incident_id)
    items = []
    for number, step in enumerate(SEV1_PLAYBOOK, start=1):
        tick = done.get(step.key)
        if tick is not None:
            note = f"ticked by {person(ctx.chat, tick.ticked_by)} at {as_utc(tick.ticked_at):%H:%M} UTC"
        elif step.key == "communicate":
            note = f"Communications: {comms}" if comms else "nobody holds Communications: /incident role comms @user"
        else:
            note = ""
        items.append(CheckItem(f"*{step.phase}*: {step.text}", f"{incident.id}:{number}", tick is not None, note))
    count = f"{len(done)} of {len(SEV1_PLAYBOOK)} done"
    return Reply(f"SEV1 playbook for #{incident.id}: {count}",
                 header=f":clipboard: SEV1 playbook · Incident #{incident.id}: {escape(incident.title)}",
                 checklist=Checklist(Actions.CHECK, items),
                 footer=f"{count} · the deployment guide's SEV1 playbook · tick a step when it is done; "
                        "everyone in this channel sees the same list").public()


def refresh(ctx: Context, incident_id: int) -> int:
    """Edit every posted copy to match the database; how many copies there are. A Slack failure is logged."""
    with ctx.session() as session:
        posted = [MessageRef(m.channel, m.ts) for m in session.exec(
            select(ChecklistMessage).where(ChecklistMessage.incident_id == incident_id)).all() if m.ts]
    if posted:
        reply = checklist_reply(ctx, incident_id)
        for ref in posted:
            try:
                ctx.chat.update(ref, reply)
            except Exception:
                log.warning("could not update the checklist of #%s in %s", incident_id, ref.channel)
    return len(posted)


# -- buttons and hooks --------------------------------------------------------------------------------------
def press_playbook(ctx: Context, incident: Incident) -> Reply | None:
    """Post the checklist in the incident's channel, once; a second press says where it is.

    A private incident without a channel of its own (Slack could not make one) is never posted where the
    button was pressed: that may be #general, seen by people who are not its members. They get it to
    themselves instead."""
    channel = incident.channel_id or (None if incident.private else ctx.channel_id)
    if not channel:
        reply = checklist_reply(ctx, incident.id)
        reply.visibility = reply.visibility.EPHEMERAL
        return reply
    claim = _claim(ctx, incident.id, channel)
    if claim is None:
        with ctx.session() as session:
            posted = session.get(ChecklistMessage, (incident.id, channel))
            ts = posted.ts if posted else ""
        if ctx.is_console:
            reply = checklist_reply(ctx, incident.id)
            reply.visibility = reply.visibility.EPHEMERAL
            return reply
        link = ctx.chat.permalink(channel, ts) if ts and hasattr(ctx.chat, "permalink") else None
        return Reply(f"The SEV1 checklist of #{incident.id} is already posted in {_where(ctx, incident, channel)}"
                     + (f": <{link}|open it>." if link else ".") + " Tick the steps there.")
    # Both writes below are ours only while the claim is: a post slower than CLAIM_TIMEOUT may have been taken over
    # by another press, whose claim a failed post must not delete (nor a late one overwrite).
    ours = (col(ChecklistMessage.incident_id) == incident.id, col(ChecklistMessage.channel) == channel,
            col(ChecklistMessage.claimed_at) == claim)
    try:
        ref = ctx.chat.post(channel, checklist_reply(ctx, incident.id))
    except Exception:
        with ctx.session() as session:
            session.execute(delete(ChecklistMessage).where(*ours))
        raise
    with ctx.session() as session:
        session.execute(update(ChecklistMessage).where(*ours).values(ts=ref.ts))
    if channel == ctx.channel_id:
        return None  # the checklist is right there
    return Reply(f"Posted the SEV1 checklist of #{incident.id} in {_where(ctx, incident, channel)}.")


def _claim(ctx: Context, incident_id: int, channel: str) -> datetime | None:
    """Claim the post in `channel` (its claim time: ours to post; None: another press has it). A claim still without a message after CLAIM_TIMEOUT is
    taken over by a conditional UPDATE, so one presser of many gets it: a crash between the claim and the post
    used to leave the row empty and every later press answered "already posted" with nothing there."""
    now = ctx.now()
    try:
        with ctx.session() as session:
            session.add(ChecklistMessage(incident_id=incident_id, channel=channel, ts="", claimed_at=now))
        return now
    except IntegrityError:
        pass
    claimed_at = col(ChecklistMessage.claimed_at)
    with ctx.session() as session:
        taken = session.execute(update(ChecklistMessage).where(
            col(ChecklistMessage.incident_id) == incident_id, col(ChecklistMessage.channel) == channel,
            col(ChecklistMessage.ts) == "", or_(claimed_at.is_(None), claimed_at < now - CLAIM_TIMEOUT),
        ).values(claimed_at=now))
        return now if taken.rowcount else None


def _where(ctx: Context, incident: Incident, channel: str) -> str:
    if channel == incident.channel_id and incident.channel_name:
        return f"#{incident.channel_name}" if ctx.is_console else f"<#{channel}|{incident.channel_name}>"
    return "this channel"


def press_check(ctx: Context, value: str) -> Reply | None:
    """`N:step:on` / `N:step:off`, comma-separated (what a checkbox click or `!tick N` sends), or `N:step`
    (a "Check N" button on a checklist shown before the checkboxes: flips the step)."""
    parts = [part.strip().split(":") for part in value.split(",") if part.strip()]
    if not parts:
        return None  # Slack sent the boxes as they already were: nothing was clicked
    numbers = {button_number(part[0]) for part in parts}  # "That button does not name an incident" if not one
    steps = [(_step(part), part[2] if len(part) == 3 else None) for part in parts]
    if len(numbers) != 1 or any(step is None or state not in (None, "on", "off") for step, state in steps):
        raise UserError("That checklist step does not exist; press Show playbook again.")
    incident_id = numbers.pop()
    with ctx.session() as session:
        incident = svc.incident_for(ctx, session, incident_id)  # a private one: members only
        done = ticks(session, incident_id)
        for step, state in steps:
            on = step.key not in done if state is None else state == "on"
            set_tick(ctx, session, incident, step, on, actor=ctx.user_id)
    posted = refresh(ctx, incident_id)
    if posted and not ctx.is_console:
        return None  # the shared message now shows the tick
    reply = checklist_reply(ctx, incident_id)
    reply.visibility = reply.visibility.EPHEMERAL
    return reply


def _step(part: list[str]) -> Step | None:
    if len(part) not in (2, 3) or not re.fullmatch(r"[0-9]{1,3}", part[1]):
        return None
    return step_by_number(int(part[1]))


def on_acknowledged(ctx: Context, incident: Incident, **_: object) -> None:
    """The guide's step 1 is acknowledging: ticked by whoever acknowledged, on every posted copy."""
    actor = incident.acknowledged_by or ctx.user_id
    with ctx.session() as session:  # record=False: set_tick reads only the incident's id
        changed = set_tick(ctx, session, incident, ACKNOWLEDGE_STEP, True, actor=actor, record=False)
    if changed:
        refresh(ctx, incident.id)


def on_role_changed(ctx: Context, incident: Incident, role: object = None, **_: object) -> None:
    """The Communicate step names who holds Communications: a new holder shows on every posted copy. Other
    roles change nothing the checklist shows, so they edit nothing."""
    if role == COMMS.key:
        refresh(ctx, incident.id)


def register(registry) -> None:
    registry.action(Actions.PLAYBOOK, press_playbook, value="incident", incident="any")
    registry.action(Actions.CHECK, press_check)
    registry.on(Hooks.INCIDENT_ACKNOWLEDGED)(on_acknowledged)
    registry.on(Hooks.INCIDENT_ROLE_CHANGED)(on_role_changed)
