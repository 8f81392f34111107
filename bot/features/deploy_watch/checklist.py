"""`/deploy checklist [image]`: the guide's seven pre-deploy items, marked from what Fireline sees, ticked by people.

The decision of each item is playbooks.predeploy (pure); this module reads the facts (PagerDuty's on-call cache,
Fly's releases, the settings for Sentry, HEALTH_URL and CI), stores them with the ticks in one row per deploy
(bot.store.models.DeployChecklist), and shows one message that each tick edits. A tick is a conditional UPDATE on
the row's revision, so two people ticking at once both land (the second re-reads and retries once) and a double
click ticks once. The deploy watch and the canary watch show the row's summary; when an incident is declared
from either, the answers go to its timeline, and so into the postmortem that follows.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from bot.core.chat import MessageRef, person
from bot.core.clock import fmt_utc
from bot.core.container import Container
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.grammar import Args
from bot.core.reply import Button, Reply, escape
from bot.features.pagerduty.config import config as pagerduty_config
from bot.features.pagerduty.oncall import snapshot
from bot.service import incidents as svc
from bot.features.deploy_watch.releases import channel
from bot.features.deploy_watch.releases import read_releases
from bot.store.db import session_scope
from bot.store.models import DeployChecklist, Incident
from playbooks.canary import looks_like_image, tag
from playbooks.predeploy import Checklist, Facts, assess, item_named

TICK_ACTION = "checklist_tick"
TELL_ACTION = "checklist_tell"
USAGE = "checklist [image]"
UNNAMED_FOR = timedelta(hours=24)  # an unnamed checklist is taken by the next deploy within a day
MARKS = {"ok": ":white_check_mark:", "ticked": ":ballot_box_with_check:", "missing": ":warning:", "open": ":white_square:"}


# -- what Fireline sees -----------------------------------------------------------------------------------------
def read_facts(container: Container, image: str) -> Facts:
    """What Fireline sees now; whether on call was told is the row's `told`, not a fact read (see facts_of)."""
    settings = container.settings
    previous_release = previous_image = releases_error = ""
    app = settings.fly_app
    try:
        releases, app, _ = read_releases(container)
        # the way back is the newest release that is not the image about to go out: the one running now, or the
        # one before it when the image already went out
        back = [r for r in releases if r.image != image]
        if back:
            previous_release, previous_image = back[0].label, back[0].image
    except UserError as exc:
        releases_error = exc.message
    pd = pagerduty_config(container)
    oncall: tuple[str, ...] = ()
    known = False
    if pd.has_token and settings.pagerduty_escalation_policy_id:
        with session_scope(container.engine) as session:
            row = snapshot(session, settings.pagerduty_escalation_policy_id)
            if row is not None and row.fetched_at is not None:
                known = True
                oncall = tuple(e["user"] for e in row.entries or [] if e.get("level") == 1)
    ci = settings.deploy_ci_url.replace("{tag}", tag(image)).replace("{image}", image) if \
        settings.deploy_ci_url and image else ""
    return Facts(app=app, image=image, oncall=oncall, oncall_known=known,
                 previous_release=previous_release, previous_image=previous_image, releases_error=releases_error,
                 sentry_ready=settings.sentry_readable, health_url=settings.health_url,
                 deploy_watch_auto=settings.deploy_watch, ci_url=ci, guide_url=settings.deploy_guide_url)


# -- the row ------------------------------------------------------------------------------------------------------
def for_deploy(ctx: Context, app: str, image: str) -> DeployChecklist | None:
    """The checklist of this deploy: the one naming the image, else the newest unnamed one of the app (within a
    day), which then takes the image's name."""
    with ctx.session() as session:
        row = session.exec(select(DeployChecklist).where(DeployChecklist.app == app, DeployChecklist.image == image)
                           .order_by(col(DeployChecklist.id).desc())).first() if image else None
        if row is None:
            since = ctx.now() - UNNAMED_FOR
            row = session.exec(select(DeployChecklist).where(DeployChecklist.app == app, DeployChecklist.image == "",
                                                             col(DeployChecklist.created_at) >= since)
                               .order_by(col(DeployChecklist.id).desc())).first()
            if row is not None and image:
                row.image = image[:300]
                row.facts = {**row.facts, "image": image[:300]}
                session.add(row)
                session.flush()
        if row is not None:
            session.expunge(row)
    return row


def told_text(told: dict[str, str]) -> str:
    return f"{told.get('names', '')}, {told.get('at', '')} by {told.get('by', '')}" if told else ""


def stored_facts(facts: Facts) -> dict[str, Any]:
    """The facts as stored: without `told`, which the row keeps once, in its own column."""
    return {k: v for k, v in facts.as_dict().items() if k != "told"}


def facts_of(row: DeployChecklist) -> Facts:
    return replace(Facts.from_dict(row.facts), told=told_text(row.told))


def assessed(row: DeployChecklist) -> Checklist:
    return assess(facts_of(row), row.ticks)


def summary_line(row: DeployChecklist | None) -> str:
    """One line for the deploy and canary watches."""
    if row is None:
        return "Pre-deploy checklist: none for this image (`/deploy checklist <image>` makes one)."
    return f"Pre-deploy checklist #{row.id}: {assessed(row).summary()}."


def render(row: DeployChecklist) -> Reply:
    checklist = assessed(row)
    facts = facts_of(row)
    what = f"`{escape(tag(row.image))}` of {escape(row.app)}" if row.image else f"the next deploy of {escape(row.app)}"
    lines = []
    buttons = []
    for mark in checklist.marks:
        who = f" _(ticked by {escape(mark.ticked_by)})_" if mark.ticked_by else ""
        links = "".join(f" <{escape(link)}|link>" for link in mark.links)
        lines.append(f"{MARKS[mark.state]} *{escape(mark.item.text)}*: {escape(mark.said)}{links}{who}")
        if mark.tickable:
            buttons.append(Button(f"Tick: {mark.item.text}"[:75], TICK_ACTION, f"{row.id}:{mark.item.key}"))
    if facts.oncall and not row.told:
        buttons.append(Button("Tell on-call", TELL_ACTION, str(row.id), "primary"))
    return Reply(f":clipboard: *Pre-deploy checklist #{row.id}* for {what}: {escape(checklist.summary())}",
                 lines=lines, buttons=buttons,
                 footer="The guide's Checklist: Pre-Deploy. Seen items are read by Fireline; the rest a person "
                        "ticks. Stored with the deploy: its watch and any postmortem show these answers.").public()


def checklist_command(ctx: Context, args: Args) -> Reply:
    if len(args.words) > 1 or (args.words and not looks_like_image(args.words[0])):
        raise UserError("Give at most one image.", "For example `/deploy checklist` (the next deploy) or "
                        "`/deploy checklist registry.fly.io/cgraph-api:deployment-01JE...`.")
    image = args.words[0][:300] if args.words else ""
    app = ctx.app.settings.fly_app or "cgraph-api"
    row = for_deploy(ctx, app, image) if image else None
    facts = read_facts(ctx.app, image)
    with ctx.session() as session:
        if row is None:
            row = DeployChecklist(app=facts.app, image=image, created_at=ctx.now(), created_by=ctx.user_id or "fireline",
                                  facts=stored_facts(facts))
            session.add(row)
        else:
            row = session.get(DeployChecklist, row.id)
            row.facts = stored_facts(facts)
            row.revision += 1
            session.add(row)
        session.flush()
        session.expunge(row)
    where = ctx.channel_id or channel(ctx.app)
    ref = ctx.chat.post(where, render(row))
    with ctx.session() as session:
        session.execute(update(DeployChecklist).where(col(DeployChecklist.id) == row.id)
                        .values(message=ref.as_dict()))
    return Reply(f"Checklist #{row.id} for {escape(row.image and tag(row.image) or 'the next deploy')}: "
                 f"{escape(assessed(row).summary())}. Tick the rest on its message.")


# -- ticks and telling on-call -------------------------------------------------------------------------------------
def _update(ctx: Context, checklist_id: int, change) -> DeployChecklist:
    """Apply `change(row)` as a conditional UPDATE on the revision read; re-read and retry once if someone else
    ticked in between."""
    for _ in range(3):
        with ctx.session() as session:
            row = session.get(DeployChecklist, checklist_id)
            if row is None:
                raise UserError("That checklist is not known any more.", "Type `/deploy checklist` for a new one.")
            session.expunge(row)
        values = change(row)
        if values is None:
            return row
        with ctx.session() as session:
            done = session.execute(update(DeployChecklist).where(col(DeployChecklist.id) == checklist_id,
                                                                 col(DeployChecklist.revision) == row.revision)
                                   .values(revision=row.revision + 1, **values))
            if done.rowcount == 1:
                fresh = session.get(DeployChecklist, checklist_id)
                session.expunge(fresh)
                return fresh
    raise UserError("The checklist changed while ticking; press again.")


def press_tick(ctx: Context, value: str) -> Reply:
    ident, _, key = (value or "").partition(":")
    item = item_named(key)
    if not ident.isascii() or not ident.isdigit() or item is None:
        raise UserError("That button does not name a checklist item.", "Type `/deploy checklist` again.")
    who = person(ctx.chat, ctx.user_id)

    def tick(row: DeployChecklist) -> dict[str, Any] | None:
        if key in row.ticks:
            return None
        return {"ticks": {**row.ticks, key: {"by": who, "at": fmt_utc(ctx.now())}}}

    row = _update(ctx, int(ident), tick)
    refresh_message(ctx, row)
    return Reply(f"Ticked *{escape(item.text)}* on checklist #{row.id}: {escape(assessed(row).summary())}.")


def press_tell(ctx: Context, value: int) -> Reply:
    """On call is told once: the press that stores `told` (a conditional UPDATE on the revision) is the one that
    posts; a second press, or one that lost the race, says who told them instead of pinging them again."""
    row = _update(ctx, value, lambda r: None)
    facts = facts_of(row)
    if not facts.oncall:
        raise UserError("Fireline does not know who is on call.", "Check `/oncall`, then tell them yourself and tick "
                        "the item.")
    who = person(ctx.chat, ctx.user_id)
    names = ", ".join(facts.oncall)
    claimed = False

    def told(current: DeployChecklist) -> dict[str, Any] | None:
        nonlocal claimed
        claimed = not current.told
        return {"told": {"names": names, "by": who, "at": fmt_utc(ctx.now())}} if claimed else None

    row = _update(ctx, value, told)
    if not claimed:
        return Reply(f"On call was already told ({escape(told_text(row.told))}); they were not pinged again.")
    what = f"`{tag(row.image)}`" if row.image else "a deploy"
    try:
        ctx.chat.post(row.message.get("channel") or ctx.channel_id or channel(ctx.app),
                      Reply(f":pager: On call ({escape(names)}): {escape(who)} is about to deploy {escape(what)} to "
                            f"{escape(row.app)} (checklist #{row.id}).").public())
    except Exception:  # nobody was told: the next press may try again
        with ctx.session() as session:
            session.execute(update(DeployChecklist).where(col(DeployChecklist.id) == row.id,
                                                          col(DeployChecklist.revision) == row.revision)
                            .values(told={}, revision=row.revision + 1))
        raise
    refresh_message(ctx, row)
    return Reply(f"Told on call ({escape(names)}) in this channel; checklist #{row.id}: "
                 f"{escape(assessed(row).summary())}.")


def refresh_message(ctx: Context, row: DeployChecklist) -> None:
    """The checklist's message shows the new state: edited in place where the press came from."""
    where = row.message.get("channel") or ctx.channel_id or channel(ctx.app)
    if ctx.is_console or not row.message.get("ts"):  # a terminal cannot edit what it printed
        ctx.chat.post(where, render(row))
        return
    ctx.chat.update(MessageRef(row.message["channel"], row.message["ts"]), render(row))


# -- for the incident and its postmortem ------------------------------------------------------------------------------
def record_on_incident(ctx: Context, incident: Incident, row: DeployChecklist | None, what: str) -> None:
    """The answers as they stood, on the incident's timeline (the postmortem's timeline shows them)."""
    if row is None:
        text = f"Pre-deploy checklist for {what}: none was made."
        data: dict[str, Any] = {"checklist": None}
    else:
        checklist = assessed(row)
        text = f"Pre-deploy checklist #{row.id} for {what}: {checklist.summary()}. " + "; ".join(checklist.lines())
        data = {"checklist": row.id, "items": checklist.lines()}
    with ctx.session() as session:
        svc.record(session, session.get(Incident, incident.id), "deploy_checklist", ctx.user_id or "fireline",
                   text[:3000], data, at=ctx.now())
