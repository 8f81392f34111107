"""Reading a fleet: which machines a playbook acts on, how they crash, how much capacity is left,
and the health gate every rolling change passes (started -> checks passing -> HEALTH_URL answers).
"""

from __future__ import annotations

import contextvars
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from playbooks.fleet_models import Machine, short
from playbooks.framework import Blocked, Env, Progress, ServiceError, StepResult
from playbooks.timefmt import as_utc

CRASH_WINDOW = timedelta(minutes=30)
T = TypeVar("T")
R = TypeVar("R")


def in_parallel(work: Callable[[T], R], items: Sequence[T]) -> list[R | BaseException]:
    """`work(item)` for every item at once (one thread each), results or exceptions in the items' order.

    Why: a batch's machines are independent, so their calls (lease, restart, wait, release) need
    not queue behind one another; against Fly's ~100 ms per call a batch of 3 done one call after
    another took 3x longer than the calls that must follow each other (bench/rolling_restart.py).
    Each thread runs in a copy of the caller's context, so log lines keep the incident and request id.
    """
    def call(item: T) -> R | BaseException:
        try:
            return work(item)
        except Exception as exc:  # returned, so one machine's failure never hides another's outcome
            return exc

    if len(items) <= 1:
        return [call(item) for item in items]
    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix="fireline-batch") as pool:
        futures = [pool.submit(contextvars.copy_context().run, call, item) for item in items]
        return [future.result() for future in futures]


def main_group(machines: list[Machine]) -> str:
    """The process group playbooks act on: the most common one (`app` for a single-process app)."""
    groups = Counter(m.process_group for m in machines)
    return groups.most_common(1)[0][0] if groups else "app"


def in_group(machines: list[Machine], group: str) -> list[Machine]:
    return [m for m in machines if m.process_group == group]


def by_region(machines: list[Machine]) -> dict[str, list[Machine]]:
    regions: dict[str, list[Machine]] = defaultdict(list)
    for machine in sorted(machines, key=lambda m: (m.region, m.id)):
        regions[machine.region or "?"].append(machine)
    return dict(sorted(regions.items()))


def region_summary(machines: list[Machine]) -> str:
    """`iad: 2 started · lhr: 1 started, 1 stopped`."""
    parts = []
    for region, members in by_region(machines).items():
        states = Counter(m.state for m in members)
        parts.append(f"{region}: " + ", ".join(f"{n} {state}" for state, n in sorted(states.items())))
    return " · ".join(parts) or "no machines"


def interleave(machines: list[Machine]) -> list[Machine]:
    """Round-robin over regions, so consecutive batches hit different regions and each keeps serving."""
    queues = [list(members) for members in by_region(machines).values()]
    ordered: list[Machine] = []
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    return ordered


def recent_crashes(machine: Machine, now: datetime, window: timedelta = CRASH_WINDOW) -> list:
    cutoff = as_utc(now) - window
    return [e for e in machine.events if e.is_crash and e.at is not None and as_utc(e.at) >= cutoff]


def crashed(machine: Machine, now: datetime) -> bool:
    """Down because it crashed (not stopped on purpose): failed, or stopped with a crash as its last exit."""
    if machine.state == "failed":
        return True
    if machine.state != "stopped":
        return False
    exits = [e for e in machine.events if e.type == "exit"]
    latest = max(exits, key=lambda e: as_utc(e.at) if e.at else datetime.min.replace(tzinfo=now.tzinfo),
                 default=None)
    return bool(latest and latest.is_crash)


def find_machines(machines: list[Machine], wanted: list[str]) -> list[Machine]:
    """Machines by id or a unique prefix of at least 4 characters; a clear error for the rest."""
    found = []
    for word in wanted:
        hits = [m for m in machines if m.id == word] or [m for m in machines if len(word) >= 4 and
                                                         m.id.startswith(word)]
        if len(hits) != 1:
            known = ", ".join(m.id for m in machines[:12]) or "none"
            problem = "matches several machines" if hits else "is not a machine of this app"
            raise Blocked(f"`{word[:30]}` {problem}.", f"Machines: {known}.")
        found.append(hits[0])
    return found


def capacity_line(started: int, batch: int, minimum: int) -> tuple[str, str | None]:
    """What keeps serving while a batch is out, and the risk if that is below the minimum."""
    if started == 0:
        return "No machine is serving now, so changing them takes no capacity away.", None
    left = max(0, started - batch)
    line = f"While a batch is being changed, {left} of {started} started machines keep serving."
    if left == 0:
        return line, "While a batch is out NO machine serves: the app is down for users until it is back."
    if left < minimum:
        return line, (f"Capacity drops to {left}, below FLY_MIN_MACHINES ({minimum}, the guide's "
                      "min_machines_running): expect slow answers while each batch restarts.")
    return line, None


# -- the health gate ---------------------------------------------------------------------------------------
def wait_until_healthy(env: Env, machine_id: str, progress: Progress, version: str | None = None) -> tuple[bool, str]:
    """Started, then its checks passing. Returns (ok, what happened, in words)."""
    limits = env.limits
    reached = False
    for attempt in range(1, limits.wait_calls + 1):
        progress(f"{short(machine_id)}: waiting to be started ({attempt}/{limits.wait_calls})")
        if env.fly.wait(machine_id, "started", timeout_s=limits.wait_seconds, version=version):
            reached = True
            break
    machine = env.fly.get_machine(machine_id)
    if not reached:
        crashes = [e for e in machine.events if e.is_crash][:1]
        why = f", last exit code {crashes[0].exit_code}" + (" (OOM-killed)" if crashes[0].oom_killed else "") \
            if crashes else ""
        return False, (f"{short(machine_id)} did not reach `started` within "
                       f"{limits.wait_calls * limits.wait_seconds} s (it is {machine.state or 'unknown'}{why})")
    for poll in range(1, limits.check_polls + 1):
        if machine.state != "started":
            return False, f"{short(machine_id)} started, then went {machine.state} (crashed on boot?)"
        if machine.checks_passing:
            checks = f"{len(machine.checks)} check{'s' if len(machine.checks) != 1 else ''} passing" \
                if machine.checks else "no checks defined"
            return True, f"{short(machine_id)} started, {checks}"
        failing = ", ".join(f"{c.name} {c.status}" for c in machine.checks if not c.passing)
        progress(f"{short(machine_id)}: started, waiting for checks ({failing}) {poll}/{limits.check_polls}")
        env.sleep(limits.poll_seconds)
        machine = env.fly.get_machine(machine_id)
    failing = "; ".join(f"{c.name} {c.status}: {c.output[:120]}" for c in machine.checks if not c.passing)
    return False, (f"{short(machine_id)} started but its checks still fail after "
                   f"{int(limits.check_polls * limits.poll_seconds)} s ({failing})")


def health_gate(env: Env, progress: Progress) -> tuple[bool, str]:
    """HEALTH_URL answers 2xx (asked a few times, as a machine may need a moment behind the proxy)."""
    if not env.health_url:
        return True, "HEALTH_URL not set, so the app's endpoint was not checked"
    result = None
    for poll in range(1, env.limits.health_polls + 1):
        result = env.health.check(env.health_url)
        if result.ok:
            return True, f"health {result.describe()}"
        progress(f"health endpoint: {result.describe()} ({poll}/{env.limits.health_polls})")
        if poll < env.limits.health_polls:
            env.sleep(env.limits.poll_seconds)
    return False, f"the health endpoint {env.health_url} still fails: {result.describe() if result else 'unknown'}"


class Leases:
    """Hold each machine's lease while changing it, so a concurrent `fly deploy` waits (and so do we)."""

    def __init__(self, env: Env, why: str) -> None:
        self.env = env
        self.why = why
        self.held: dict[str, str] = {}

    def take(self, machine_id: str) -> str:
        lease = self.env.fly.acquire_lease(machine_id, ttl=self.env.limits.lease_ttl,
                                           description=f"fireline: {self.why} ({self.env.reference})")
        self.held[machine_id] = lease.nonce
        return lease.nonce

    def release_all(self) -> list[str]:
        """Release every lease held (all at once); a failure is reported, as the lease expires by itself."""
        held = list(self.held.items())
        outcomes = in_parallel(lambda pair: self.env.fly.release_lease(pair[0], pair[1]), held)
        problems = [f"could not release the lease on {short(machine_id)} ({outcome}); it expires by itself"
                    for (machine_id, _), outcome in zip(held, outcomes, strict=True)
                    if isinstance(outcome, BaseException)]
        for machine_id, _ in held:
            self.held.pop(machine_id, None)
        return problems


def gate_batch(env: Env, launched: list[tuple[str, str | None]], progress: Progress, *, done: list[str] | None = None,
               details: list[str] | None = None, came_back: str = "came back") -> StepResult:
    """The health gate after a batch: each launched machine started with its checks passing (on `version`,
    when given; waited for together, as they are independent), then HEALTH_URL answering. `done` are
    ids already fine (updated but left stopped)."""
    ok_ids = list(done or [])
    details = details if details is not None else []
    gated = in_parallel(lambda pair: wait_until_healthy(env, pair[0], progress, version=pair[1] or None), launched)
    failed: list[tuple[str, str]] = []
    for (machine_id, _), outcome in zip(launched, gated, strict=True):
        if isinstance(outcome, BaseException):
            raise outcome
        ok, said = outcome
        details.append(said)
        if ok:
            ok_ids.append(machine_id)
        else:
            failed.append((machine_id, said))
    if failed:
        return StepResult(False, "; ".join(said for _, said in failed), details, done=ok_ids,
                          failed=[machine_id for machine_id, _ in failed])
    healthy, said = health_gate(env, progress)
    details.append(said)
    if not healthy:
        return StepResult(False, f"{', '.join(short(i) for i in ok_ids)} {came_back}, but {said}", details,
                          done=ok_ids)
    return StepResult(True, "; ".join(details), details, done=ok_ids)


def rolling_update(env: Env, members: list[dict[str, Any]], change: Callable[[dict[str, Any], str], None],
                   leases: Leases, progress: Progress, what: str) -> StepResult:
    """Update each machine's whole config (`change(config, machine_id)` edits a copy), then gate the launched ones.

    `members` are `{"id": ..., "launch": bool}`: a stopped machine that should stay stopped gets the
    new config with `skip_launch`. Each update carries the version it was read at, so a machine
    someone changed meanwhile is refused (409) instead of overwritten.
    """
    details: list[str] = []
    launched: list[tuple[str, str | None]] = []
    quiet: list[str] = []
    for member in members:
        nonce = leases.take(member["id"])
        current = env.fly.get_machine(member["id"])
        config = current.config_copy()
        change(config, member["id"])
        progress(f"updating {short(member['id'])}: {what}")
        try:
            updated = env.fly.update(member["id"], config, current_version=current.version or None,
                                     skip_launch=not member["launch"], lease_nonce=nonce)
        except ServiceError as exc:
            details += [f"{short(machine_id)} was updated but not health-checked (the batch stopped here)"
                        for machine_id, _ in launched]
            return StepResult(False, f"{exc} Machines not yet updated keep their current config.", details,
                              done=[machine_id for machine_id, _ in launched] + quiet, failed=[member["id"]])
        if member["launch"]:
            launched.append((member["id"], updated.version or None))
        else:
            quiet.append(member["id"])
            details.append(f"{short(member['id'])} updated, left stopped")
    return gate_batch(env, launched, progress, done=quiet, details=details, came_back="were updated")


def rolling_order(machines: list[Machine]) -> list[Machine]:
    """Down machines first (they serve nobody, so bringing them back only adds capacity), then the
    started ones; each group round-robin over regions, so every region keeps a machine serving."""
    return interleave([m for m in machines if m.state != "started"]) + interleave(
        [m for m in machines if m.state == "started"])


def batches(machines: list[Machine], size: int, now: datetime) -> list[list[dict[str, Any]]]:
    """The rolling order cut into batches of `size`. `launch`: started, or crashed (so it should run again)."""
    members = [{"id": m.id, "label": m.label(), "region": m.region, "started": m.state == "started",
                "launch": m.state == "started" or crashed(m, now)} for m in rolling_order(machines)]
    return [members[i:i + size] for i in range(0, len(members), size)]


def most_out_at_once(groups: list[list[dict[str, Any]]]) -> int:
    """The most started machines any one batch takes out of service."""
    return max((sum(1 for m in group if m["started"]) for group in groups), default=0)
