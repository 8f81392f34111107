"""Playbook commands and buttons (/diagnose, /restart, /rollback, /scale; Confirm, Cancel, Stop).

Parsing and replies only: plans, confirmation and execution live in bot/features/playbooks/executions.py,
the playbooks themselves in playbooks/. `add_playbook()` is how any playbook, built in or a
team's own, becomes a command.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from bot.core.grammar import Args, text_of
from bot.core.registry import Registry, button_number
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.store.db import session_scope
from bot.core.errors import UserError
from bot.core.hooks import Hooks
from bot.store.models import PlaybookExecution
from bot.core.reply import Reply, escape
from bot.features.playbooks import executions
from bot.features.playbooks.render import Actions, dry_banner
from playbooks.framework import Playbook
from playbooks.catalog import BUILT_IN
from playbooks.scale import advice

log = logging.getLogger(__name__)

def builtin_playbooks() -> list[Playbook]:
    return [cls() for cls in BUILT_IN]


def press_confirm(ctx: Context, value: str) -> Reply:
    return executions.confirm(ctx, value)


def press_cancel(ctx: Context, value: str) -> Reply:
    return executions.cancel(ctx, value)


def press_stop(ctx: Context, value: str) -> Reply:
    return executions.request_stop(ctx, value)


def press_step(ctx: Context, value: str) -> Reply:
    return executions.confirm_step(ctx, value)


def press_diagnose(ctx: Context, value: str) -> Reply:
    """Value: an incident number, or anything else for a standalone diagnosis (the alerts feature reuses this
    button with an empty value)."""
    playbook = ctx.app.registry.playbooks.get("diagnose")
    if playbook is None:
        return Reply.error("The diagnose playbook is not installed.")
    value = (value or "").strip().lstrip("#")
    try:
        number = button_number(value)
    except UserError:
        number = None
    return run_playbook_command(ctx, playbook, Args(incident_ref=number))


def run_execution(container: Container, payload: dict[str, Any], job=None) -> None:
    execution_id = int(payload["execution_id"])
    executions.execute(execution_context(container, execution_id), execution_id)


def report_interrupted(ctx, container: Container) -> None:
    executions.recover_interrupted(container, job_context(container).chat)


def scale_advice(ctx: Context, args: Args) -> Reply:
    symptom = text_of(args.words)
    if not symptom:
        raise UserError("Say the symptom.", "For example `/scale advice high cpu across nodes` or "
                        "`/scale advice websocket fails`.")
    return Reply(f"*When to scale what* (the guide), for: {escape(symptom[:120])}",
                 lines=[escape(line) for line in advice(symptom)])


def register(registry: Registry) -> None:
    for playbook in builtin_playbooks():
        add_playbook(registry, playbook)
    register_extras(registry)
    # Confirm, Cancel, Stop and step buttons carry signed tokens that bot/features/playbooks/executions.py checks itself.
    registry.action(Actions.CONFIRM, press_confirm)
    registry.action(Actions.CANCEL, press_cancel)
    registry.action(Actions.STOP, press_stop)
    registry.action(Actions.STEP, press_step)
    registry.action(Actions.DIAGNOSE, press_diagnose)
    registry.job(executions.EXECUTE_JOB)(run_execution)
    registry.on(Hooks.RUNTIME_STARTED)(report_interrupted)
    if "diagnose" in registry.playbooks:
        registry.card_button("Diagnose", Actions.DIAGNOSE, likely=True)


def register_extras(registry: Registry) -> None:
    """Subcommands that answer without a plan: `/scale advice <symptom>` (the guide's table)."""
    scale = registry.command("scale", help="/scale playbooks")
    scale.sub("advice", "advice <symptom>", "what the guide's \"When to Scale What\" says for a symptom",
              scale_advice)


def add_playbook(registry: Registry, playbook: Playbook) -> None:
    """Make a playbook a command: `/command [subcommand] ...` plans it (and, if read-only, runs it)."""
    if not playbook.name or not playbook.command:
        raise ValueError(f"a playbook needs a name and a command: {playbook!r}")
    registry.playbooks[playbook.name] = playbook

    handler = functools.partial(playbook_command, playbook)
    if playbook.subcommand:
        family = registry.command(playbook.command, help=f"/{playbook.command} playbooks")
        family.sub(playbook.subcommand, f"{playbook.subcommand} {playbook.usage}".strip(), playbook.help, handler)
    else:
        registry.simple_command(playbook.command, playbook.usage, playbook.help)(handler)


def playbook_command(playbook: Playbook, ctx: Context, args: Args) -> Reply:
    """The handler of every playbook's command, bound to its playbook by `add_playbook`."""
    return run_playbook_command(ctx, playbook, args, typed=True)


def run_playbook_command(ctx: Context, playbook: Playbook, args: Args, *, typed: bool = False) -> Reply:
    """`typed`: a slash command, whose read-only report goes to the incident's channel (a button answers in place)."""
    if args.words and args.words[0].lower() in ("help", "--help", "-h"):
        return playbook_help(playbook)
    params = playbook.parse(args)
    incident = executions.attached_incident(ctx, args.incident_ref, args.channel_ref)
    if not playbook.destructive:
        plan, results, _ = executions.run_now(ctx, playbook, params, incident)
        report = report_reply(ctx, playbook, plan, results, incident)
        return in_incident_channel(ctx, incident, report) if typed and not plan.blocked else report
    execution, plan = executions.propose(ctx, playbook, params, incident)
    return executions.plan_answer(ctx, playbook, execution, plan, incident)


def playbook_help(playbook: Playbook) -> Reply:
    lines = [f"`{playbook.invocation} {playbook.usage}`".replace(" `", "`")]
    lines += [f"`{p.usage}`  {p.help}" for p in playbook.params]
    if playbook.destructive:
        lines.append("Shows a plan first; nothing changes until someone in RESPONDERS presses Confirm.")
    return Reply(f"*{playbook.invocation}*: {playbook.help}", lines=lines)


def report_reply(ctx: Context, playbook: Playbook, plan, results, incident) -> Reply:
    """A read-only playbook's answer: its report, in the channel (it is what everyone needs to see)."""
    if plan.blocked:
        return executions.plan_answer(ctx, playbook, None, plan, incident)
    tag = " [DRY RUN]" if plan.dry_run else ""
    lines = dry_banner(plan)
    for result in results:
        details = [escape(line) for line in result.details]
        lines += details if result.ok else [f":x: {escape(result.summary)}", *details]
    if incident is None:
        lines.append("Not attached to an incident (add `#N`, or run it in the incident's channel, to keep it in "
                     "the timeline).")
    return Reply(f":stethoscope: *{escape(plan.title)}*{tag}", lines=lines).public()


def in_incident_channel(ctx: Context, incident, report: Reply) -> Reply:
    """A report about incident #N typed elsewhere (`/diagnose #4` in #incidents) goes to #N's channel.

    It used to answer where it was typed, so the incident's own channel, where its people look, never
    saw it. The typer gets a line saying where it went; if Slack refuses the post, the report is
    answered here after all (nothing is lost).
    """
    if incident is None or not incident.channel_id or incident.channel_id == ctx.channel_id or ctx.is_console:
        return report
    try:
        ctx.chat.post(incident.channel_id, report)
    except Exception as exc:
        log.warning("could not post the report in the channel of #%s (%s); answering where it was asked",
                    incident.id, exc)
        return report
    return Reply(f"Posted in <#{incident.channel_id}|{incident.channel_name}>, the channel of #{incident.id}.")


# -- where background work talks ----------------------------------------------------------------------
def execution_context(container: Container, execution_id: int) -> Context:
    """The console's printer when the console runs, else Slack, acting as the person who confirmed."""
    with session_scope(container.engine) as session:
        execution = session.get(PlaybookExecution, execution_id)
    return job_context(container, user_id=(execution.confirmed_by or "fireline") if execution else "fireline",
                       channel_id=execution.channel_id if execution else "")
