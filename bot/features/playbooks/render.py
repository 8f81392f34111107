"""How plans, progress and outcomes read, for Slack and the console alike (as `Reply`s).

Playbooks write plain text; everything they wrote, and everything that came from Fly or a person,
goes through `escape()` here: an image tag or an error page must never format or ping a channel.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.clock import as_utc, fmt_elapsed, fmt_utc
from bot.store.models import Incident, PlaybookExecution
from bot.core.reply import Button, Reply, escape, mention
from bot.service.responders import who_may_confirm
from playbooks.framework import Plan, Playbook


class Actions:
    """Button action ids of the playbooks, in one place."""

    CONFIRM = "playbook_confirm"
    CANCEL = "playbook_cancel"
    STOP = "playbook_stop"
    STEP = "playbook_step"  # Confirm (or Done) of one step of a multi-step procedure
    DIAGNOSE = "playbook_diagnose"  # value: an incident number, or empty (also used by the alerts feature)


ICONS = {"ok": ":white_check_mark: done", "failed": ":x: FAILED", "running": ":hourglass_flowing_sand: running",
         "waiting": ":raised_hand: waiting for you", "unknown": ":grey_question: unknown (interrupted)",
         "pending": ":white_small_square: not yet", "skipped": ":black_small_square: not run"}
HEADLINES = {"queued": "starting", "running": "running", "waiting": "waiting for a person",
             "succeeded": "finished", "failed": "stopped at a failure", "stopped": "stopped on request",
             "interrupted": "INTERRUPTED", "cancelled": "cancelled", "expired": "expired"}


def button_value(execution: PlaybookExecution, step: int | None = None) -> str:
    return f"{execution.id}:{execution.nonce}" + (f":{step}" if step is not None else "")


def where(incident: Incident | None) -> str:
    if incident is None:
        return ("Not attached to an incident: run it in the incident's channel or add `#N` to record it in an "
                "incident's timeline.")
    return f"For incident *#{incident.id}*: {escape(incident.title)}."


def nothing_sent(plan: Plan, *, past: bool = False) -> str:
    """`nothing is sent to Fly`, `nothing was sent to the CDN`, or unnamed: a dry run in the plan's words."""
    verb = "was" if past else "is"
    return f"nothing {verb} sent to {plan.sends_to}" if plan.sends_to else f"nothing {verb} sent"


def dry_run_words(playbook: Playbook, env, plan: Plan) -> None:
    """After planning: whether it is a dry run, where a live run sends, and the banner (the playbook's own).

    A plug-in that purges a CDN was told it plans "on an example fleet ... and sends nothing to Fly"; the
    example fleet is Fly's, so Fireline's own banner says so only for a plan that acts on the Fly app.
    """
    plan.dry_run = env.dry_run
    on_fly = plan.app == env.app
    plan.sends_to = playbook.sends_to if playbook.sends_to is not None else ("Fly" if on_fly else "")
    if not env.dry_run:
        return
    why = env.dry_run_reason or "this is a dry run"
    if playbook.dry_run_text:
        note = playbook.dry_run_text.replace("{why}", why)
        note = note if note.startswith("DRY RUN") else f"DRY RUN: {note}"
    elif on_fly and env.dry_run_note:
        note = env.dry_run_note
    else:
        note = f"DRY RUN: {why}, so {nothing_sent(plan)}: the plan and Confirm's checks are as in a live run."
    if note not in plan.notes:
        plan.notes.insert(0, note)


def dry_banner(plan: Plan) -> list[str]:
    return [f":test_tube: *{escape(note)}*" if note.startswith("DRY RUN") else escape(note) for note in plan.notes]


def plan_reply(plan: Plan, playbook: Playbook, execution: PlaybookExecution | None, incident: Incident | None,
               responders: str, ttl_minutes: int, warning: str | None = None) -> Reply:
    """`warning` is Fireline's own (already safe) text, e.g. that another mitigation is running."""
    tag = " [DRY RUN]" if plan.dry_run else ""
    if plan.blocked:
        reply = Reply(f":no_entry: *Cannot {playbook.verb}{tag}*: {escape(plan.blocked)}",
                      lines=[escape(hint) for hint in plan.hints])
        reply.lines += dry_banner(plan)
        return reply
    lines = ([f":warning: {warning}"] if warning else []) + dry_banner(plan) + [escape(line) for line in plan.lines]
    if plan.steps:
        lines.append("*Steps*")
        for number, step in enumerate(plan.steps, start=1):
            extra = ""
            if step.manual:
                extra = f"  (you run: `{escape(step.manual)}`, then press Done)"
            elif step.confirm and number > 1:
                extra = "  (asks for its own Confirm)"
            lines.append(f"{number}. {escape(step.title)}{extra}")
    if plan.risks:
        lines.append("*What could go wrong*")
        lines += [f"\u2022 {escape(risk)}" for risk in plan.risks]
    lines.append(where(incident))
    buttons = []
    if execution is not None:
        who = who_may_confirm(playbook.who, responders)
        lines.append(f"Confirm runs it (allowed: {who}); Cancel drops it. This plan is valid for {ttl_minutes} "
                     f"minutes. Execution {execution.id}.")
        buttons = [Button("Confirm", Actions.CONFIRM, button_value(execution), "primary"),
                   Button("Cancel", Actions.CANCEL, button_value(execution))]
    # A header and the plan's facts as fields: a ~1,700-character section was read as one wall of text.
    facts = [(escape(str(label)), escape(str(value))) for label, value in plan.facts]
    return Reply(f":clipboard: *Plan: {escape(plan.title)}*{tag}", lines=lines, buttons=buttons, fields=facts,
                 header=f":clipboard: Plan: {escape(plan.title)}{tag}").public()


def step_line(number: int, title: str, result: dict | None) -> str:
    state = (result or {}).get("status", "pending")
    line = f"{ICONS.get(state, state)} {number}. {title}"
    summary = (result or {}).get("summary")
    if summary:
        line += f": {escape(summary)}"
    return line


RUNNING = ("queued", "running", "waiting")


def tally(execution: PlaybookExecution, plan: Plan, playbook: Playbook | None, now: datetime | None) -> str:
    """"Restarting: 4 of 9 machines, batch 2 of 3, 1m 40s", then "Restarted 9 of 9 machines in 3m 05s".

    Counted from the execution as stored (each step's `done` targets) and its stored start and finish, so
    every front end and every later edit says the same; `now` (the container's clock) only for a running one.
    Without `now` a running count has no time: the runner compares texts without it, so the clock alone
    never causes an edit. Empty for a playbook that counts nothing, or an execution that never started.
    """
    counted = playbook.counted(plan) if playbook is not None else ""
    if not counted or execution.started_at is None:
        return ""
    total = sum(len(step.targets) for step in plan.steps)
    done = sum(len(result.get("done") or []) for result in execution.results)
    things = f"{done} of {total} {counted}{'s' if total != 1 else ''}"
    steps = len(plan.steps)
    if execution.status in RUNNING:
        step = min(execution.current_step + 1, steps)
        line = f"{playbook.doing_word}: {things}, {playbook.step_word_of(plan)} {step} of {steps}"
        return line + (f", {fmt_elapsed((as_utc(now) - as_utc(execution.started_at)).total_seconds())}" if now
                       else "")
    end = execution.finished_at or now
    line = playbook.finished_count(plan, done, total, things)
    if end is not None:
        line += f" in {fmt_elapsed((as_utc(end) - as_utc(execution.started_at)).total_seconds())}"
    if execution.status != "succeeded":
        line += f"; {HEADLINES.get(execution.status, execution.status)}"
    return line


def progress_reply(execution: PlaybookExecution, plan: Plan, live: str = "", *, playbook: Playbook | None = None,
                   now: datetime | None = None) -> Reply:
    """`playbook` and `now` add the count and the time taken (`tally`) as the first line."""
    tag = " [DRY RUN]" if execution.dry_run else ""
    headline = HEADLINES.get(execution.status, execution.status)
    if execution.status == "running":
        step_word = playbook.step_word_of(plan) if playbook else "step"
        headline = f"running {step_word} {min(execution.current_step + 1, len(plan.steps))} of {len(plan.steps)}"
    count = tally(execution, plan, playbook, now)
    lines = [f"*{escape(count)}*"] if count else []
    lines.append(f"Confirmed by {mention(execution.confirmed_by)} at {fmt_utc(execution.confirmed_at)}; execution "
                 f"{execution.id}" + (f", incident #{execution.incident_id}" if execution.incident_id else "") + ".")
    if execution.dry_run:
        lines.append(f":test_tube: *DRY RUN*: {nothing_sent(plan)} (FLY_API_TOKEN is not set).")
    for number, step in enumerate(plan.steps, start=1):
        result = execution.results[number - 1] if number - 1 < len(execution.results) else None
        lines.append(step_line(number, escape(step.title), result))
    if live and execution.status == "running":
        lines.append(f"_{escape(live)}_")
    if execution.stop_requested_by and execution.status in ("queued", "running"):
        lines.append(f"Stop requested by {mention(execution.stop_requested_by)}: it stops after this step.")
    buttons = []
    if execution.status in ("queued", "running", "waiting") and not execution.stop_requested_by:
        buttons.append(Button("Stop", Actions.STOP, button_value(execution), "danger"))
    icon = {"succeeded": ":white_check_mark:", "failed": ":x:", "interrupted": ":warning:",
            "stopped": ":octagonal_sign:"}.get(execution.status, ":gear:")
    return Reply(f"{icon} *{escape(plan.title)}*{tag}: {headline}", lines=lines, buttons=buttons).public()


def age(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "unknown age"
    seconds = int((as_utc(now) - as_utc(then)).total_seconds())
    if seconds < 90:
        return f"{max(seconds, 0)} s ago"
    if seconds < 90 * 60:
        return f"{seconds // 60} min ago"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min ago"
    return f"{seconds // 86400} days ago"
