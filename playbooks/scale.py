"""scale: the guide's Scaling Guide as playbooks (`fly scale count`, `fly scale vm`, `fly scale memory`)
and its "When to Scale What" table as advice.

Bounds first: never below FLY_MIN_MACHINES (the guide's `min_machines_running`) nor above
FLY_MAX_MACHINES. Scaling up clones an existing healthy machine's config (same image, size, env,
services) and waits for each new machine to be healthy; scaling down removes stopped machines first,
so serving capacity is the last thing to go. Size and memory changes roll like a restart.
"""

from __future__ import annotations

import difflib
from collections import Counter
from typing import Any

from playbooks.fleet import (
    Leases,
    batches,
    capacity_line,
    gate_batch,
    health_gate,
    in_group,
    main_group,
    most_out_at_once,
    region_summary,
    rolling_update,
)
from playbooks.fleet_models import Machine, short
from playbooks.framework import (
    Blocked,
    Env,
    Param,
    Plan,
    Playbook,
    PlaybookArgs,
    Progress,
    Refused,
    ServiceError,
    Step,
    StepResult,
)
from playbooks.guide import COMMON_INCIDENTS, WHEN_TO_SCALE, match
from playbooks.params import parse_batch, parse_region, reject_leftovers, whole_number

# `fly scale vm` presets: (cpu_kind, cpus, default memory MB). The guide's `dedicated-cpu-1x` is Fly's old
# name for performance-1x ("1 dedicated CPU, 2GB").
SIZES: dict[str, tuple[str, int, int]] = {
    "shared-cpu-1x": ("shared", 1, 256), "shared-cpu-2x": ("shared", 2, 512),
    "shared-cpu-4x": ("shared", 4, 1024), "shared-cpu-8x": ("shared", 8, 2048),
    "performance-1x": ("performance", 1, 2048), "performance-2x": ("performance", 2, 4096),
    "performance-4x": ("performance", 4, 8192), "performance-8x": ("performance", 8, 16384),
    "performance-16x": ("performance", 16, 32768),
}
ALIASES = {f"dedicated-cpu-{n}x": f"performance-{n}x" for n in (1, 2, 4, 8)}
GUIDE_COST = "the guide's figure: about $6/month per shared-cpu-1x machine"


def memory_range(cpu_kind: str, cpus: int) -> tuple[int, int]:
    """What Fly allows: shared CPUs 256 MB to 2 GB each, performance CPUs 2 GB to 8 GB each."""
    if cpu_kind == "performance":
        return 2048 * cpus, 8192 * cpus
    return 256 * cpus, 2048 * cpus


def weight(cpu_kind: str, cpus: int) -> tuple[int, int]:
    return (1 if cpu_kind == "performance" else 0, cpus)


def group_machines(env: Env) -> tuple[str, list[Machine]]:
    everything = env.fly.list_machines()
    group = main_group(everything)
    return group, in_group(everything, group)


def removal_order(machines: list[Machine], remove: int) -> list[Machine]:
    """Which machines scaling down removes: stopped ones first (they serve nobody), then started ones
    from whichever region has the most left at that point, newest first, so regions stay balanced."""
    left = Counter(m.region for m in machines)
    pool = list(machines)
    chosen: list[Machine] = []
    for _ in range(min(remove, len(pool))):
        pick = min(pool, key=lambda m: (m.state == "started", -left[m.region],
                                        -(m.created_at.timestamp() if m.created_at else 0), m.id))
        pool.remove(pick)
        left[pick.region] -= 1
        chosen.append(pick)
    return chosen


class ScaleCount(Playbook):
    name = "scale-count"
    command = "scale"
    subcommand = "count"
    usage = "N [--region R]"
    help = "set the number of machines (scale up clones a healthy one; scale down removes stopped ones first)"
    params = (Param("N", "the number of machines wanted (in the region, with --region)"),
              Param("--region R", "count only this region (e.g. `--region lhr`); new machines go there"))
    verb = "scale"
    # "Scaling: 1 of 2 machines, step 2 of 2, 40s" (the machines added or removed), then "Scaled to 4 machines in 1m".
    counts, doing_word = "machine", "Scaling"

    def finished_count(self, plan: Plan, done: int, total: int, things: str) -> str:
        if done < total:
            return f"Scaled {things}"
        wanted = plan.params.get("count", 0)
        where = f" in {plan.params['region']}" if plan.params.get("region") else ""
        return f"Scaled to {wanted} machine{'s' if wanted != 1 else ''}{where}"

    def parse(self, args: PlaybookArgs) -> dict[str, Any]:
        region = parse_region(args, "scale count 4")
        example = "For example `/scale count 6` or `/scale count 4 --region lhr`."
        if not args.words:
            raise Refused("Say how many machines.", example)
        word = args.words.pop(0)
        count = whole_number(word, 4)
        if count is None:
            raise Refused(f"`{word[:20]}` is not a number of machines.", example)
        reject_leftovers(args, "scale count", self.usage)
        return {"count": count, **({"region": region} if region else {})}

    def plan(self, env: Env, params: dict[str, Any]) -> Plan:
        if env.min_machines > env.max_machines:
            raise Blocked(f"FLY_MIN_MACHINES ({env.min_machines}) is above FLY_MAX_MACHINES ({env.max_machines}), so "
                          "no number of machines is allowed.", "Fix the two settings (`fireline check` shows them).")
        group, machines = group_machines(env)
        region = params.get("region")
        wanted = params["count"]
        scope = [m for m in machines if not region or m.region == region]
        current = len(scope)
        total_after = len(machines) - current + wanted
        where = f" in {region}" if region else ""
        plan = Plan(self.name, env.app, f"Scale {env.app}{where} from {current} to {wanted} "
                    f"machine{'s' if wanted != 1 else ''}", params=params)
        if total_after < env.min_machines:
            raise Blocked(f"that would leave {total_after} machine{'s' if total_after != 1 else ''} in {env.app}, "
                          f"below FLY_MIN_MACHINES ({env.min_machines}, the guide's min_machines_running).",
                          f"Keep at least {env.min_machines} in total; {env.app} has {len(machines)} now: "
                          f"{region_summary(machines)}.")
        if total_after > env.max_machines:
            raise Blocked(f"that would make {total_after} machines in {env.app}, above FLY_MAX_MACHINES "
                          f"({env.max_machines}).", "Raise FLY_MAX_MACHINES if that is really wanted.")
        if wanted == current:
            raise Blocked(f"{env.app} already has {current} machine{'s' if current != 1 else ''}{where}.",
                          f"Now: {region_summary(machines)}.")
        started = sum(1 for m in machines if m.state == "started")
        plan.lines = [f"Now: {region_summary(machines)} (process group `{group}`)."]
        if wanted > current:
            self.plan_up(env, plan, machines, scope, wanted - current, region, started)
        else:
            self.plan_down(env, plan, scope, current - wanted, started)
        return plan

    def plan_up(self, env: Env, plan: Plan, machines: list[Machine], scope: list[Machine], add: int,
                region: str | None, started: int) -> None:
        healthy = [m for m in (scope or machines) if m.state == "started" and m.checks_passing] or \
                  [m for m in machines if m.state == "started"] or machines
        if not healthy:
            raise Blocked(f"{env.app} has no machine to copy the config from.",
                          "Deploy it first (`fly deploy`), then scale.")
        source = max(healthy, key=lambda m: (m.updated_at is not None, m.updated_at or 0, m.id))
        if source.config.get("mounts"):
            raise Blocked(f"{source.label()} has a volume mounted, and a volume belongs to one machine, so its "
                          "config cannot simply be copied.", "Create the volume and machine with "
                          f"`fly scale count {len(machines) + add}` (flyctl creates volumes).")
        counts = Counter(m.region for m in machines)
        if region and region not in counts:
            plan.lines.append(f"`{region}` is a new region for {env.app} (it runs in {', '.join(sorted(counts))} "
                              "now): the new machines are its first there. Check the code is right "
                              "(`fly platform regions`); Fly refuses one it does not have.")
        regions = [region] if region else sorted(counts, key=lambda r: (counts[r], r)) or [source.region]
        placed: list[str] = []
        for _ in range(add):
            target = min(regions, key=lambda r: (counts[r], regions.index(r)))
            counts[target] += 1
            placed.append(target)
        plan.lines += [
            f"Adds {add} machine{'s' if add != 1 else ''} (" + ", ".join(f"{n} in {r}" for r, n in
                                                                        sorted(Counter(placed).items())) + "), "
            f"each a copy of {source.label()}'s config: image `{source.image}`, {source.size}, "
            f"{source.memory_mb} MB. Each new machine must reach `started` and pass its checks before the next.",
            f"Serving capacity grows from {started} to {started + add} started machines.",
            f"Cost goes up: {add} more machine{'s' if add != 1 else ''} like the current ones ({GUIDE_COST}).",
        ]
        plan.risks = ["A new machine that fails its checks is left in place (stopped or failing) for you to look "
                      "at, and scaling stops there: remove it with `/scale count` once understood.",
                      "If the database is the bottleneck, more machines mean more connections: see `/scale advice "
                      "database connection exhausted`."]
        if not (source.state == "started" and source.checks_passing):
            plan.risks.insert(0, f"No machine is started with its checks passing, so the copy is of {source.label()} "
                                 f"({source.state}{', checks failing' if source.state == 'started' else ''}): new "
                                 "machines will likely fail the same way. `/diagnose` first; `/restart` or "
                                 "`/rollback` may be what is needed.")
        for number, target in enumerate(placed, start=1):
            plan.steps.append(Step(f"Create machine {number} of {add} in {target} (a copy of {source.label()})",
                                   "create", {"region": target, "source": source.id},
                                   targets=[f"new machine {number} in {target}"]))

    def plan_down(self, env: Env, plan: Plan, scope: list[Machine], remove: int, started: int) -> None:
        chosen = removal_order(scope, remove)
        serving_after = started - sum(1 for m in chosen if m.state == "started")
        stopped = [m for m in chosen if m.state != "started"]
        plan.lines += [
            f"Removes {remove} machine{'s' if remove != 1 else ''}, stopped ones first, then each from the region "
            "with the most left, newest first: " + ", ".join(f"{m.label()} ({m.state})" for m in chosen) + ".",
            f"Serving capacity goes from {started} to {serving_after} started machines.",
            f"Cost goes down: {remove} machine{'s' if remove != 1 else ''} fewer ({GUIDE_COST}).",
        ]
        if stopped:
            n = len(stopped)
            plan.lines.append(f"{n} of them {'is' if n == 1 else 'are'} stopped already, so removing "
                              f"{'it' if n == 1 else 'them'} costs no capacity.")
        plan.risks = [
            "A removed machine is destroyed: its local files go with it (scaling back up makes fresh copies).",
            "Fewer machines carry the same traffic: if the app was slow, it gets slower.",
        ]
        if serving_after < env.min_machines:
            plan.risks.insert(0, f"Only {serving_after} started machine(s) remain, below FLY_MIN_MACHINES "
                                 f"({env.min_machines}).")
        for machine in chosen:
            verb = "Destroy stopped machine" if machine.state != "started" else "Stop and destroy machine"
            plan.steps.append(Step(f"{verb} {machine.label()}", "remove",
                                   {"id": machine.id, "started": machine.state == "started"}, targets=[machine.id]))

    def run_step(self, env: Env, plan: Plan, step: Step, progress: Progress) -> StepResult:
        if step.action == "create":
            return self.create(env, step, progress)
        return self.remove(env, step, progress)

    def create(self, env: Env, step: Step, progress: Progress) -> StepResult:
        source = env.fly.get_machine(step.args["source"])
        config = source.config_copy()
        progress(f"creating a machine in {step.args['region']}")
        created = env.fly.create(config, region=step.args["region"])
        gate = gate_batch(env, [(created.id, created.version or None)], progress,
                          details=[f"created {created.id} in {step.args['region']}"])
        data = {"created": created.id}
        if not gate.ok:
            # A machine that never got healthy failed; one that did, while HEALTH_URL fails, was still added.
            return StepResult(False, f"created {created.id}, but {gate.summary}", gate.details,
                              done=list(step.targets) if gate.done else [],
                              failed=[] if gate.done else list(step.targets), data=data)
        return StepResult(True, f"{created.id} in {step.args['region']} is serving", gate.details,
                          done=list(step.targets), data=data)

    def remove(self, env: Env, step: Step, progress: Progress) -> StepResult:
        machine_id = step.args["id"]
        leases = Leases(env, "scale down")
        details: list[str] = []
        destroyed = False
        try:
            nonce = leases.take(machine_id)
            machine = env.fly.get_machine(machine_id)
            stopped_here = machine.state == "started"
            if stopped_here:
                progress(f"stopping {short(machine_id)}")
                env.fly.stop(machine_id, lease_nonce=nonce)
                if not env.fly.wait(machine_id, "stopped", timeout_s=env.limits.wait_seconds):
                    return StepResult(False, f"{short(machine_id)} did not stop within {env.limits.wait_seconds} s; "
                                             "it was not destroyed", details, failed=[machine_id])
            progress(f"destroying {short(machine_id)}")
            try:
                env.fly.destroy(machine_id, lease_nonce=nonce)
            except ServiceError as exc:
                back = (f" It is stopped but still exists: `fly machine start {machine_id}` brings it back, or "
                        "`/scale count` again removes it.") if stopped_here else ""
                return StepResult(False, f"{exc}{back}", details, failed=[machine_id])
            destroyed = True
            details.append(f"{short(machine_id)} ({machine.region}) destroyed")
        finally:
            if destroyed:
                leases.held.pop(machine_id, None)  # a destroyed machine's lease went with it
            details += leases.release_all()  # otherwise give it back now, not when its TTL runs out
        if step.args.get("started"):
            healthy, said = health_gate(env, progress)
            details.append(said)
            if not healthy:
                return StepResult(False, f"{short(machine_id)} was removed, but {said}", details, done=[machine_id])
        return StepResult(True, f"{short(machine_id)} removed", details, done=[machine_id])


class _GuestChange(Playbook):
    """Shared by `scale vm` and `scale memory`: a rolling config update of every machine's guest."""

    verb = "scale"
    done_word, failed_word, not_done_word = "Resized", "Failed", "Not resized"

    def guest_plan(self, env: Env, params: dict[str, Any], title: str, target_for) -> Plan:
        group, machines = group_machines(env)
        if not machines:
            raise Blocked(f"{env.app} has no machines.", "Check FLY_APP.")
        plan = Plan(self.name, env.app, title, params=params)
        changes: dict[str, dict[str, Any]] = {}
        for machine in machines:
            guest = target_for(machine)
            if guest != {k: machine.guest.get(k) for k in guest}:
                changes[machine.id] = guest
        if not changes:
            raise Blocked(f"every machine of {env.app} already has that size.", f"Now: {self.sizes(machines)}.")
        changing = [m for m in machines if m.id in changes]
        by_id = {m.id: m for m in machines}
        groups = batches(changing, params.get("batch", 1), env.now())
        started = sum(1 for m in machines if m.state == "started")
        capacity, risk = capacity_line(started, most_out_at_once(groups), env.min_machines)
        example = changes[changing[0].id]
        before = changing[0]
        after_weight = weight(example.get("cpu_kind", before.cpu_kind), example.get("cpus", before.cpus))
        before_weight = weight(before.cpu_kind, before.cpus)
        up = (after_weight, example.get("memory_mb", before.memory_mb)) > (before_weight, before.memory_mb)
        plan.lines = [
            f"Now: {region_summary(machines)} (process group `{group}`); sizes: {self.sizes(machines)}.",
            f"Updates {len(changing)} machine(s) to {self.describe(example, before)}, one batch at a time, each "
            "restarting with the new size and gated on `started`, checks and health (like `/restart`).",
            capacity,
            f"Cost goes {'up' if up else 'down'}: every machine becomes {'bigger' if up else 'smaller'}.",
        ]
        plan.risks = ["Each machine restarts to take its new size: its connections drop and clients reconnect "
                      "to the others."]
        if not up:
            plan.risks.insert(0, "Less CPU or memory: if the app needs it, it slows down or is OOM-killed. "
                                 "`/diagnose` shows OOM kills.")
        if risk:
            plan.risks.insert(0, risk)
        for number, members in enumerate(groups, start=1):
            # `before`: each machine's size before, so what is still raised after the incident can be undone
            plan.steps.append(Step(f"Batch {number}: resize " + ", ".join(m["label"] for m in members),
                                   "update_guest", {"machines": members,
                                                    "guest": {m["id"]: changes[m["id"]] for m in members},
                                                    "before": {m["id"]: {k: by_id[m["id"]].guest.get(k)
                                                                         for k in changes[m["id"]]}
                                                               for m in members}},
                                   targets=[m["id"] for m in members]))
        return plan

    @staticmethod
    def sizes(machines: list[Machine]) -> str:
        counts = Counter(f"{m.size} {m.memory_mb} MB" for m in machines)
        return ", ".join(f"{n} x {size}" for size, n in counts.most_common())

    @staticmethod
    def describe(guest: dict[str, Any], machine: Machine) -> str:
        kind = guest.get("cpu_kind", machine.cpu_kind)
        cpus = guest.get("cpus", machine.cpus)
        name = f"{'performance' if kind == 'performance' else 'shared-cpu'}-{cpus}x"
        return f"{name} with {guest.get('memory_mb', machine.memory_mb)} MB"

    def run_step(self, env: Env, plan: Plan, step: Step, progress: Progress) -> StepResult:
        wanted = step.args["guest"]

        def change(config: dict[str, Any], machine_id: str) -> None:
            config["guest"] = {**(config.get("guest") or {}), **wanted[machine_id]}

        leases = Leases(env, plan.title)
        try:
            result = rolling_update(env, step.args["machines"], change, leases, progress, "new size")
        finally:
            problems = leases.release_all()
        result.details += problems
        return result


class ScaleVm(_GuestChange):
    name = "scale-vm"
    command = "scale"
    subcommand = "vm"
    usage = "SIZE [--batch N]"
    help = "change every machine's size (shared-cpu-2x, performance-1x, ...), rolling"
    params = (Param("SIZE", "shared-cpu-1x/2x/4x/8x, performance-1x/2x/4x/8x/16x (dedicated-cpu-Nx = performance)"),
              Param("--batch N", "machines resized together (default 1)"))

    def parse(self, args: PlaybookArgs) -> dict[str, Any]:
        batch = parse_batch(args, "scale vm shared-cpu-2x")
        if not args.words:
            raise Refused("Say which size.", "For example `/scale vm shared-cpu-2x`. Sizes: " + ", ".join(SIZES))
        word = args.words.pop(0).lower()
        size = ALIASES.get(word, word)
        if size not in SIZES:
            close = difflib.get_close_matches(word, [*SIZES, *ALIASES], n=1)
            raise Refused(f"`{word[:30]}` is not a Fly machine size."
                          + (f" Did you mean `{close[0]}`?" if close else ""), "Sizes: " + ", ".join(SIZES))
        reject_leftovers(args, "scale vm", self.usage)
        return {"size": size, "batch": batch, **({"alias": word} if word != size else {})}

    def plan(self, env: Env, params: dict[str, Any]) -> Plan:
        kind, cpus, default_memory = SIZES[params["size"]]
        low, high = memory_range(kind, cpus)

        def target(machine: Machine) -> dict[str, Any]:
            memory = machine.memory_mb if low <= machine.memory_mb <= high else default_memory
            return {"cpu_kind": kind, "cpus": cpus, "memory_mb": memory}

        plan = self.guest_plan(env, params, f"Resize {env.app} to {params['size']}", target)
        alias = f" (`{params['alias']}` is Fly's old name for it)" if params.get("alias") else ""
        plan.lines.insert(2, f"Memory: machines keep theirs where {params['size']} allows it ({low}-{high} MB); "
                             f"otherwise they get its default, {default_memory} MB{alias}. Change it with "
                             "`/scale memory MB`.")
        return plan


class ScaleMemory(_GuestChange):
    name = "scale-memory"
    command = "scale"
    subcommand = "memory"
    usage = "MB [--batch N]"
    help = "change every machine's memory (multiples of 256 MB), rolling"
    params = (Param("MB", "memory per machine: 512, 1024, 2048, ..."), Param("--batch N", "machines resized together"))

    def parse(self, args: PlaybookArgs) -> dict[str, Any]:
        batch = parse_batch(args, "scale memory 2048")
        if not args.words:
            raise Refused("Say the memory in MB, a multiple of 256.", "For example `/scale memory 2048`.")
        given = args.words.pop(0)
        word = given.lower().removesuffix("mb")
        gigabytes = whole_number(word.removesuffix("gb"), 3) if word.endswith("gb") else None
        memory = gigabytes * 1024 if gigabytes is not None else whole_number(word, 6)
        if memory is None or memory < 256 or memory % 256:
            raise Refused(f"`{given[:20]}` is not a memory size Fly offers: give MB, a multiple of 256 "
                          "(256, 512, 1024, 2048, ...), or GB (`2gb`).", "For example `/scale memory 2048`.")
        reject_leftovers(args, "scale memory", self.usage)
        return {"memory_mb": memory, "batch": batch}

    def plan(self, env: Env, params: dict[str, Any]) -> Plan:
        memory = params["memory_mb"]
        _, machines = group_machines(env)
        for machine in machines:
            low, high = memory_range(machine.cpu_kind, machine.cpus)
            if not low <= memory <= high:
                bigger = "shared-cpu-2x" if machine.size == "shared-cpu-1x" else "a bigger size"
                raise Blocked(f"{machine.size} machines take {low} to {high} MB, so {memory} MB does not fit "
                              f"({machine.label()}).",
                              f"Change the size first, e.g. `/scale vm {bigger}`, or pick {low}-{high} MB.")
        return self.guest_plan(env, params, f"Set {env.app}'s memory to {memory} MB",
                               lambda machine: {"memory_mb": memory})


def advice(symptom: str) -> list[str]:
    """The guide's "When to Scale What" (and common incidents) for a symptom, with the command to run."""
    rows = match(symptom, WHEN_TO_SCALE) + [r for r in match(symptom, COMMON_INCIDENTS)
                                            if r.key in ("websocket", "slow")]
    if not rows:
        return ["No row of the guide's table matches that. The table:"] + [
            f"- {row.symptom}: {row.fix}" + (f" (`{row.command}`)" if row.command else "") for row in WHEN_TO_SCALE]
    lines = []
    for row in rows:
        command = f" Run `{row.command}`." if row.command else " Fireline has no playbook for that: it is not a Fly " \
                                                              "scaling change."
        lines.append(f"*{row.symptom}*: {row.fix}.{command}")
    return lines


__all__ = ["SIZES", "ScaleCount", "ScaleMemory", "ScaleVm", "advice"]
