"""restart: the guide's `fly machines restart`, rolling and health-gated instead of all at once.

One batch at a time (round-robin over regions, so each region keeps serving), each batch gated
on its machines reaching `started`, their checks passing and HEALTH_URL answering; the first
failure stops it, and the report says which machines were restarted and which were not.
"""

from __future__ import annotations

from typing import Any

from bot.commands.grammar import Args
from bot.errors import UserError
from bot.fly.models import Machine, short
from bot.reply import escape
from playbooks.fleet import (
    Leases,
    capacity_line,
    crashed,
    find_machines,
    health_gate,
    in_group,
    in_parallel,
    interleave,
    main_group,
    region_summary,
    wait_until_healthy,
)
from playbooks.framework import Env, Param, Plan, Playbook, Progress, Step, StepResult

USAGE = "[--region R] [--machine ID] [--batch N]"


def parse_batch(args: Args, command: str) -> int:
    value = args.flag("batch")
    if value is None:
        return 1
    if not value.isdigit() or not 1 <= int(value) <= 50:
        raise UserError(f"`--batch {escape(value[:10])}` is not a batch size.",
                        f"Give a number of machines per batch, for example `/{command} --batch 2`.")
    return int(value)


def parse_machines(args: Args) -> list[str]:
    machines = []
    while (value := args.flag("machine")) is not None:
        machines += [part for part in value.split(",") if part]
    return machines


def reject_leftovers(args: Args, command: str, usage: str) -> None:
    if args.words:
        raise UserError(f"`/{command}` does not understand `{escape(' '.join(args.words)[:60])}`.",
                        f"Usage: `/{command} {usage}`.")


class Restart(Playbook):
    name = "restart"
    command = "restart"
    usage = USAGE
    help = "rolling restart of the app's machines, one batch at a time, each gated on health"
    params = (Param("--region R", "only machines in region R (e.g. iad)"),
              Param("--machine ID", "only this machine (repeat, or comma-separate, for several)"),
              Param("--batch N", "machines restarted together (default 1)"))
    verb = "restart"
    done_word, failed_word, not_done_word = "Restarted", "Did not come back", "Not restarted"

    def parse(self, args: Args) -> dict[str, Any]:
        params: dict[str, Any] = {"batch": parse_batch(args, self.command), "machines": parse_machines(args)}
        region = args.flag("region")
        if region:
            params["region"] = region.lower()
        reject_leftovers(args, self.command, USAGE)
        return params

    def plan(self, env: Env, params: dict[str, Any]) -> Plan:
        everything = env.fly.list_machines()
        group = main_group(everything)
        machines = in_group(everything, group)
        plan = Plan(self.name, env.app, f"Rolling restart of {env.app}", params=params)
        if params.get("machines"):
            chosen = find_machines(everything, params["machines"])
        else:
            chosen = machines
        if params.get("region"):
            regions = sorted({m.region for m in machines})
            chosen = [m for m in chosen if m.region == params["region"]]
            if not chosen:
                plan.blocked = f"{env.app} has no machines in region `{params['region']}`."
                plan.hints = [f"Its regions: {', '.join(regions) or 'none'}."]
                return plan
        now = env.now()
        targets, skipped = [], []
        for machine in chosen:
            if machine.state == "started" or params.get("machines") or crashed(machine, now):
                targets.append(machine)
            else:
                skipped.append(machine)
        if not targets:
            plan.blocked = "there is no started or crashed machine to restart."
            plan.hints = [f"Machines: {region_summary(chosen)}. Name one with `--machine ID` to restart it anyway."]
            return plan
        batch = params["batch"]
        # Crashed machines first: they serve nobody now, and each one back adds capacity before a serving one goes.
        ordered = interleave([m for m in targets if m.state != "started"]) + interleave(
            [m for m in targets if m.state == "started"])
        started = [m for m in machines if m.state == "started"]
        out_at_once = max(sum(1 for m in ordered[i:i + batch] if m.state == "started")
                          for i in range(0, len(ordered), batch))
        capacity, risk = capacity_line(len(started), out_at_once, env.min_machines)
        where = f" in {params['region']}" if params.get("region") else ""
        plan.title = f"Rolling restart of {len(ordered)} machine{'s' if len(ordered) != 1 else ''} of {env.app}{where}"
        plan.lines = [
            f"Now: {region_summary(machines)} (process group `{group}`).",
            f"Restarts {len(ordered)} machine(s), {batch} at a time, crashed ones first, alternating regions: "
            + ", ".join(m.label() for m in ordered) + ".",
            capacity,
            "Each batch must reach `started`, pass its checks"
            + (f" and {env.health_url} must answer" if env.health_url else " (HEALTH_URL is not set, so the app's "
               "endpoint is not checked)") + " before the next one starts. The first failure stops it.",
        ]
        down = [m for m in ordered if m.state != "started"]
        if down:
            plan.lines.append("Crashed machines are started rather than restarted: " + ", ".join(
                m.label() for m in down) + ".")
        if skipped:
            plan.lines.append("Left alone (stopped on purpose, not crashed): " + ", ".join(m.label() for m in skipped)
                              + ". Add `--machine ID` to include one.")
        plan.risks = [
            "Restarting drops the requests and WebSocket connections a machine holds; clients reconnect to the "
            "others.",
            "If a machine does not come back (it crashes on boot), the restart stops there and the remaining "
            "machines are left running as they are. A crash on boot after a recent deploy points to `/rollback`.",
        ]
        if risk:
            plan.risks.insert(0, risk)
        for number, start in enumerate(range(0, len(ordered), batch), start=1):
            members = ordered[start:start + batch]
            verbs = ["start" if m.state != "started" else "restart" for m in members]
            title = "; ".join(f"{verb.capitalize()} {m.label()}" for verb, m in zip(verbs, members, strict=True))
            plan.steps.append(Step(f"Batch {number}: {title}", "restart_batch",
                                   {"machines": [{"id": m.id, "region": m.region, "start": m.state != "started"}
                                                 for m in members]},
                                   targets=[m.id for m in members]))
        return plan

    def run_step(self, env: Env, plan: Plan, step: Step, progress: Progress) -> StepResult:
        """The batch's machines at once: each leased and (re)started, then each gated, then HEALTH_URL."""
        members = step.args["machines"]
        leases = Leases(env, f"restart {plan.title}")
        details: list[str] = []

        def kick(member: dict[str, Any]) -> None:
            nonce = leases.take(member["id"])
            current = env.fly.get_machine(member["id"])
            progress(f"{'starting' if member['start'] else 'restarting'} {short(member['id'])}")
            if member["start"] or current.state != "started":
                env.fly.start(member["id"], lease_nonce=nonce)
            else:
                env.fly.restart(member["id"], lease_nonce=nonce)

        try:
            kicked = in_parallel(kick, members)
            failures = [outcome for outcome in kicked if isinstance(outcome, BaseException)]
            if failures:
                sent = [m["id"] for m, outcome in zip(members, kicked, strict=True) if outcome is None]
                if not sent:
                    raise failures[0]
                # Some machines of the batch were restarted: say which (not health-checked), and stop here.
                failed = [m["id"] for m, outcome in zip(members, kicked, strict=True) if outcome is not None]
                said = "; ".join(str(f) for f in failures)
                return StepResult(False, f"{said} ({', '.join(short(i) for i in sent)} restarted, not checked)",
                                  details, done=sent, failed=failed)
            return self.gate(env, members, progress, details)
        finally:
            details += leases.release_all()

    def gate(self, env: Env, members: list[dict[str, Any]], progress: Progress, details: list[str]) -> StepResult:
        """Each machine started with passing checks (waited for together), then HEALTH_URL."""
        gated = in_parallel(lambda member: wait_until_healthy(env, member["id"], progress), members)
        ok_ids: list[str] = []
        failed: list[tuple[str, str]] = []
        for member, outcome in zip(members, gated, strict=True):
            if isinstance(outcome, BaseException):
                raise outcome
            ok, said = outcome
            details.append(said)
            if ok:
                ok_ids.append(member["id"])
            else:
                failed.append((member["id"], said))
        if failed:
            return StepResult(False, "; ".join(said for _, said in failed), details, done=ok_ids,
                              failed=[machine_id for machine_id, _ in failed])
        healthy, said = health_gate(env, progress)
        details.append(said)
        if not healthy:
            return StepResult(False, f"{', '.join(short(i) for i in ok_ids)} came back, but {said}", details,
                              done=ok_ids)
        return StepResult(True, "; ".join(details), details, done=ok_ids)


def describe(machines: list[Machine]) -> str:
    return ", ".join(m.label() for m in machines)
