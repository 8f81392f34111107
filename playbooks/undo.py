"""What an incident's playbooks changed that is still in place, and how to return each to its state before.

The guide's mitigations are meant to be temporary (scale up while the fire burns, more memory until the
leak is found, machines stopped for a restore), and after the incident nobody remembers to take them
back: the bill and the fleet drift. This is a pure decision over the stored executions (their plans and
step results) and the fleet as Fly shows it now:

- a scale-up (`scale-count` that created machines): still in place when the count in its scope is the
  count it left; the undo is `/scale count <the count before>` (its normal plan: stopped machines first,
  health-gated, confirmed, audited);
- a VM size or memory raised (`scale-vm`, `scale-memory`): still in place on the machines whose guest is
  what it set; the undo is the same playbook back to the size recorded before (`before` in its steps);
- machines stopped or cordoned by a rollback that did not finish bringing them back: said, with the
  command to start them (Fireline has no playbook that only starts machines);
- a canary still running (`canary`): the undo is Discard; an image promoted from a canary (`canary-promote`)
  still on every machine: the undo is `/rollback <the image before>`.

Anything someone changed since (another count, another size) is said as "changed since" and offered
no undo: Fireline never overwrites a person's later decision with its own earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playbooks.fleet import in_group, main_group
from playbooks.fleet_models import Machine


@dataclass(frozen=True)
class ExecutionRecord:
    id: int
    playbook: str
    plan: dict[str, Any]
    results: list[dict[str, Any] | None]


@dataclass(frozen=True)
class Leftover:
    execution_id: int
    text: str  # plain words: what is still in place, or what changed since
    undo: tuple[str, list[str]] | None = None  # (playbook name, its words), None: nothing to offer
    label: str = ""  # the button: "Scale back to 4"


def _size_name(guest: dict[str, Any]) -> str:
    kind, cpus = guest.get("cpu_kind") or "shared", guest.get("cpus") or 1
    return f"{'performance' if kind == 'performance' else 'shared-cpu'}-{cpus}x"


def _scale_up(record: ExecutionRecord, machines: list[Machine]) -> Leftover | None:
    params = record.plan.get("params") or {}
    planned = sum(1 for s in record.plan.get("steps", []) if s.get("action") == "create")
    created = [r["created"] for r in record.results if r and r.get("created")]
    if not planned or not created:
        return None
    region = params.get("region")
    before = int(params.get("count", 0)) - planned
    left = before + len(created)
    scope = [m for m in machines if not region or m.region == region]
    where = f" in {region}" if region else ""
    command = f"/scale count {params.get('count')}" + (f" --region {region}" if region else "")
    if len(scope) != left:
        return Leftover(record.id, f"{command} (#{record.id}) left {left} machines{where}; there are {len(scope)} "
                        "now: the count was changed since, so it is not undone")
    if left <= before:
        return None
    words = [str(before), *(["--region", region] if region else [])]
    return Leftover(record.id, f"scale-up from {before} to {left} machines{where} by {command} (#{record.id}) is "
                    f"still in place", ("scale-count", words), f"Scale back to {before}")


def _guest(record: ExecutionRecord, machines: list[Machine]) -> Leftover | None:
    by_id = {m.id: m for m in machines}
    set_to: dict[str, dict[str, Any]] = {}
    before: dict[str, dict[str, Any]] = {}
    for step in record.plan.get("steps", []):
        if step.get("action") == "update_guest":
            set_to.update(step.get("args", {}).get("guest", {}))
            before.update(step.get("args", {}).get("before", {}))
    done = {t for r in record.results if r for t in r.get("done", [])} or set(set_to)
    still = [mid for mid, guest in set_to.items() if mid in done and mid in by_id
             and all(by_id[mid].guest.get(k) == v for k, v in guest.items())]
    changed = [mid for mid in set_to if mid in done and mid in by_id and mid not in still]
    what = "memory" if record.playbook == "scale-memory" else "VM size"
    if changed:
        return Leftover(record.id, f"the {what} set by #{record.id} was changed since on {', '.join(changed)}: "
                        "not undone")
    if not still:
        return None
    olds = [before.get(mid) for mid in still]
    if any(old is None for old in olds):
        return Leftover(record.id, f"the {what} raised by #{record.id} is still in place on {len(still)} machine(s), "
                        "but the size before was not recorded: set it back with `/scale`")
    if record.playbook == "scale-memory":
        values = {old.get("memory_mb") for old in olds}
        if len(values) != 1:
            return Leftover(record.id, f"the memory raised by #{record.id} is still in place; the machines had "
                            "different sizes before, so set them back one by one")
        memory = values.pop()
        now = by_id[still[0]].memory_mb
        return Leftover(record.id, f"memory raised from {memory} MB to {now} MB by #{record.id} is still in place on "
                        f"{len(still)} machine(s)", ("scale-memory", [str(memory)]), f"Memory back to {memory} MB")
    names = {_size_name({**by_id[mid].guest, **old}) for mid, old in zip(still, olds, strict=True)}
    if len(names) != 1:
        return Leftover(record.id, f"the VM size set by #{record.id} is still in place; the machines had different "
                        "sizes before, so set them back one by one")
    name = names.pop()
    return Leftover(record.id, f"VM size changed to {by_id[still[0]].size} by #{record.id} is still in place on "
                    f"{len(still)} machine(s) (it was {name})", ("scale-vm", [name]), f"VM back to {name}")


def _stopped(record: ExecutionRecord, machines: list[Machine]) -> Leftover | None:
    ids: list[str] = []
    for step in record.plan.get("steps", []):
        if step.get("action") == "stop_all":
            ids += step.get("args", {}).get("machines", [])
    down = [m for m in machines if m.id in ids and (m.state == "stopped" or m.config.get("cordoned")
                                                     or getattr(m, "cordoned", False))]
    if not down:
        return None
    commands = "; ".join(f"`fly machine start {m.id}`" for m in down)
    return Leftover(record.id, f"{len(down)} machine(s) stopped and cordoned by #{record.id} are still down: "
                    f"{commands} (then `fly machine uncordon`)")


def _canary(record: ExecutionRecord, machines: list[Machine]) -> Leftover | None:
    """A canary still running: its undo is Discard (the other machines never changed)."""
    made = [r.get("canary") for r in record.results if r and r.get("canary")]
    alive = [m for m in machines if m.id in made]
    if not alive:
        return None
    machine = alive[0]
    return Leftover(record.id, f"the canary {machine.id} ({machine.region}) on `{machine.image}` from #{record.id} is "
                    "still running", ("canary-discard", [machine.id]), "Discard canary")


def _promotion(record: ExecutionRecord, machines: list[Machine]) -> Leftover | None:
    """A promoted image still on the machines: its undo is the rollback to the image before (its own plan)."""
    params = record.plan.get("params") or {}
    image, previous = params.get("image"), params.get("previous")
    if not image or not previous or not any(r and r.get("status") == "ok" for r in record.results):
        return None
    on_it = [m for m in machines if m.image == image]
    if not on_it:
        return None
    if len(on_it) != len(machines):
        return Leftover(record.id, f"{len(on_it)} of {len(machines)} machines run `{image}` promoted by #{record.id}; "
                        "the rest changed since, so it is not undone")
    return Leftover(record.id, f"`{image}` promoted by #{record.id} runs on all {len(machines)} machines (it was "
                    f"`{previous}`)", ("rollback", [previous]), "Roll back the promotion")


def leftovers(records: list[ExecutionRecord], machines: list[Machine]) -> list[Leftover]:
    """What the records' playbooks left in place, newest execution first (the one to undo first)."""
    fleet = in_group(machines, main_group(machines)) if machines else []
    found: list[Leftover] = []
    for record in sorted(records, key=lambda r: r.id, reverse=True):
        if record.playbook == "scale-count":
            item = _scale_up(record, fleet)
        elif record.playbook in ("scale-vm", "scale-memory"):
            item = _guest(record, fleet)
        elif record.playbook == "rollback":
            item = _stopped(record, fleet)
        elif record.playbook == "canary":
            item = _canary(record, fleet)
        elif record.playbook == "canary-promote":
            item = _promotion(record, fleet)
        else:
            item = None
        if item is not None:
            found.append(item)
    return found


__all__ = ["ExecutionRecord", "Leftover", "leftovers"]
