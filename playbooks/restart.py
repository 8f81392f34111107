"""restart: the guide's `fly machines restart`, rolling and health-gated instead of all at once.

One batch at a time (round-robin over regions, so each region keeps serving), each batch gated
on its machines reaching `started`, their checks passing and HEALTH_URL answering; the first
failure stops it, and the report says which machines were restarted and which were not.
"""

from __future__ import annotations

from typing import Any

from playbooks.fleet import (
    Leases,
    batches,
    capacity_line,
    crashed,
    find_machines,
    gate_batch,
    in_group,
    in_parallel,
    main_group,
    most_out_at_once,
    region_summary,
)
from playbooks.fleet_models import short
from playbooks.framework import Env, Param, Plan, Playbook, PlaybookArgs, Progress, ServiceError, Step, StepResult
from playbooks.params import parse_batch, parse_machines, parse_region, reject_leftovers

USAGE = "[--region R] [--machine ID] [--batch N]"


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
    counts, doing_word, step_word = "machine", "Restarting", "batch"

    def parse(self, args: PlaybookArgs) -> dict[str, Any]:
        params: dict[str, Any] = {"batch": parse_batch(args, self.command), "machines": parse_machines(args)}
        region = parse_region(args, self.command)
        if region:
            params["region"] = region
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
        groups = batches(targets, batch, now)
        ordered = [member for group in groups for member in group]
        started = [m for m in machines if m.state == "started"]
        out_at_once = most_out_at_once(groups)
        capacity, risk = capacity_line(len(started), out_at_once, env.min_machines)
        where = f" in {params['region']}" if params.get("region") else ""
        plan.title = f"Rolling restart of {len(ordered)} machine{'s' if len(ordered) != 1 else ''} of {env.app}{where}"
        serving = max(0, len(started) - out_at_once)
        plan.facts = [
            ("Machines", f"{len(ordered)} of {len(machines)}" + (f" in {params['region']}" if where else "")),
            ("Batches", f"{len(groups)}, {batch} machine{'s' if batch != 1 else ''} at a time"),
            ("Capacity left during it", f"{serving} of {len(started)} serving" if started else "none serving now"),
        ]
        plan.lines = [
            f"Now: {region_summary(machines)} (process group `{group}`).",
            f"Restarts {len(ordered)} machine(s), {batch} at a time, crashed ones first, alternating regions: "
            + ", ".join(m["label"] for m in ordered) + ".",
            capacity,
            "Each batch must reach `started`, pass its checks"
            + (f" and {env.health_url} must answer" if env.health_url else " (HEALTH_URL is not set, so the app's "
               "endpoint is not checked)") + " before the next one starts. The first failure stops it.",
        ]
        down = [m for m in ordered if not m["started"]]
        if down:
            # `launch` is true for a crashed machine; a stopped one named with --machine is started on request
            kinds = {"crashed" if m["launch"] else "stopped" for m in down}
            plan.lines.append(f"{' or '.join(sorted(kinds)).capitalize()} machines are started rather than "
                              "restarted: " + ", ".join(m["label"] for m in down) + ".")
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
        for number, members in enumerate(groups, start=1):
            title = "; ".join(f"{'Restart' if m['started'] else 'Start'} {m['label']}" for m in members)
            plan.steps.append(Step(f"Batch {number}: {title}", "restart_batch",
                                   {"machines": [{"id": m["id"], "region": m["region"], "start": not m["started"]}
                                                 for m in members]},
                                   targets=[m["id"] for m in members]))
        return plan

    def run_step(self, env: Env, plan: Plan, step: Step, progress: Progress) -> StepResult:
        """The batch's machines at once: each leased and (re)started, then each gated, then HEALTH_URL."""
        members = step.args["machines"]
        leases = Leases(env, f"restart {plan.title}")
        details: list[str] = []
        asked: set[str] = set()  # machines Fly was asked to (re)start: a failure after that may have acted

        def kick(member: dict[str, Any]) -> None:
            # The lease and the read of the machine's state go side by side: the read is not one of the calls
            # that must follow one another, and one after the other they cost a Fly round trip per batch
            # (1.0 s of a 30-machine restart's 7.4 s, bench/rolling_restart.py). A state that changed between
            # the read and the lease (another holder just let go) makes Fly refuse the start or restart,
            # which stops the batch as any refusal does; nothing is sent without the lease.
            taken, read = in_parallel(lambda call: call(), [lambda: leases.take(member["id"]),
                                                            lambda: env.fly.get_machine(member["id"])])
            for outcome in (taken, read):
                if isinstance(outcome, BaseException):
                    raise outcome
            nonce, current = taken, read
            progress(f"{'starting' if member['start'] else 'restarting'} {short(member['id'])}")
            asked.add(member["id"])
            if member["start"] or current.state != "started":
                env.fly.start(member["id"], lease_nonce=nonce)
            else:
                env.fly.restart(member["id"], lease_nonce=nonce)

        try:
            kicked = in_parallel(kick, members)
            sent = [m["id"] for m, outcome in zip(members, kicked, strict=True) if outcome is None]
            failures = [outcome for outcome in kicked if isinstance(outcome, BaseException)]
            unexpected = [f for f in failures if not isinstance(f, ServiceError)]
            if unexpected:
                raise unexpected[0]
            if failures:
                # A machine whose lease was refused was never touched: the summary lists it under "Not restarted".
                # One whose restart call failed is "Did not come back" (Fly may have acted). The others of the
                # batch were restarted and are not checked: the batch stops here.
                failed = [m["id"] for m, outcome in zip(members, kicked, strict=True)
                          if outcome is not None and m["id"] in asked]
                details += [f"{short(i)} was restarted but not health-checked (the batch stopped here)" for i in sent]
                said = "; ".join(str(f) for f in failures)
                return StepResult(False, said + (f" ({', '.join(short(i) for i in sent)} restarted, not checked)"
                                                 if sent else ""), details, done=sent, failed=failed)
            return gate_batch(env, [(machine_id, None) for machine_id in sent], progress, details=details)
        finally:
            details += leases.release_all()


__all__ = ["Restart", "parse_batch", "reject_leftovers"]
