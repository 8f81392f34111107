"""canary: the guide's Blue-Green "Deploy to Canary" as three playbooks and one verdict.

The guide scales up an extra machine, deploys, watches error rates and response times, then completes or rolls
back. Done by hand with `fly deploy` the new image goes to every machine at once; here only one extra machine
gets it, so a bad image costs a slice of the traffic for a few minutes instead of all of it:

- `Canary` (`/deploy canary <image>`): one machine more, cloned from a healthy machine's config with the new
  image, started and health-gated like a scale-up. It is marked in its config's metadata (`fireline_canary`), so
  Fly itself says which machine is the canary after a restart of Fireline.
- `judge_canary`: the canary against the other machines, each minute of the watch: its 5xx share and p95 against
  theirs (Fly's metrics, per instance), Sentry's errors of the new release against the old one's per machine, and
  its own checks. Every reason names the figure and the threshold, as the deploy watch's do.
- `CanaryPromote`: the rest rolled to the image, health-gated batch by batch (the rollback's rolling update), then
  the canary removed so the count is what it was (or, with `--keep-canary`, one old machine removed instead).
- `CanaryDiscard`: the canary stopped and destroyed; the other machines were never touched.

Pure: nothing here imports `bot/`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from playbooks.deploy_verdict import Reason, Verdict, _worst, parse_number_pairs
from playbooks.fleet import (
    Leases,
    batches,
    capacity_line,
    gate_batch,
    in_group,
    main_group,
    most_out_at_once,
    region_summary,
    rolling_update,
)
from playbooks.fleet_models import Machine, short
from playbooks.fleet_models import image_tag as tag
from playbooks.framework import Blocked, Env, Param, Plan, Playbook, PlaybookArgs, Progress, Refused, Step, StepResult
from playbooks.params import parse_batch, parse_region, reject_leftovers
from playbooks.scale import ScaleCount, removal_order

MARK = "fireline_canary"  # the metadata key on the canary machine's config
USAGE = "<image> [--region R] [--drill]"


def looks_like_image(word: str) -> bool:
    """`registry.fly.io/app:tag`, `org/app:tag`, `app@sha256:...`: a name with a tag or digest."""
    return (":" in word or "@" in word) and " " not in word and not word.startswith(("-", "<"))


def is_canary(machine: Machine) -> bool:
    metadata = machine.config.get("metadata")
    return isinstance(metadata, dict) and bool(metadata.get(MARK))


def split_fleet(machines: list[Machine]) -> tuple[str, list[Machine], list[Machine]]:
    """(process group, canaries in it, the other machines in it)."""
    group = main_group([m for m in machines if not is_canary(m)] or machines)
    members = in_group(machines, group)
    return group, [m for m in members if is_canary(m)], [m for m in members if not is_canary(m)]


def current_image(machines: list[Machine]) -> str:
    images = Counter(m.image for m in machines if m.image)
    return images.most_common(1)[0][0] if images else ""


# -- 1. the canary ----------------------------------------------------------------------------------------------
class Canary(Playbook):
    name = "canary"
    command = "deploy"
    subcommand = "canary"
    usage = USAGE
    help = ("deploy an image to one extra machine, judge it against the others for DEPLOY_CANARY_MINUTES, then "
            "Promote or Discard")
    params = (Param("<image>", "the image to try, as `fly deploy --image` takes it"),
              Param("--region R", "where the canary runs (default: the region of the machine it copies)"),
              Param("--drill", "on the example fleet: nothing is sent to Fly"))
    verb = "deploy a canary"
    done_word, failed_word, not_done_word = "Canary started", "Canary failed", "Canary not started"

    def parse(self, args: PlaybookArgs) -> dict[str, Any]:
        region = parse_region(args, "deploy canary registry.fly.io/<app>:<tag>")
        drill = args.switch("drill")
        example = "For example `/deploy canary registry.fly.io/cgraph-api:deployment-01JE...`."
        if not args.words:
            raise Refused("Say which image to try.", example)
        word = args.words.pop(0)
        if not looks_like_image(word):
            raise Refused(f"`{word[:60]}` is not an image (`registry.fly.io/<app>:<tag>`).", example)
        reject_leftovers(args, "deploy canary", self.usage)
        return {"image": word[:300], **({"region": region} if region else {}), **({"drill": True} if drill else {})}

    def plan(self, env: Env, params: dict[str, Any]) -> Plan:
        image = params["image"]
        group, canaries, others = split_fleet(env.fly.list_machines())
        if canaries:
            raise Blocked(f"{env.app} already has a canary: {', '.join(m.label() for m in canaries)} "
                          f"(`{canaries[0].image}`).", "Promote or Discard it first: `/deploy promote` or "
                                                       "`/deploy discard`.")
        if not others:
            raise Blocked(f"{env.app} has no machines to copy the canary from.", "Deploy it first (`fly deploy`).")
        current = current_image(others)
        if image == current:
            raise Blocked(f"every machine of {env.app} already runs `{image}`.", "Give the new image.")
        if len(others) + 1 > env.max_machines:
            raise Blocked(f"a canary would make {len(others) + 1} machines, above FLY_MAX_MACHINES "
                          f"({env.max_machines}).", "Raise FLY_MAX_MACHINES, or deploy with `fly deploy`.")
        healthy = [m for m in others if m.state == "started" and m.checks_passing]
        if not healthy:
            raise Blocked(f"no machine of {env.app} is started with its checks passing, so a canary would be judged "
                          "against a fleet that is already unwell.", "`/diagnose` first.")
        source = max(healthy, key=lambda m: (m.updated_at is not None, m.updated_at or 0, m.id))
        if source.config.get("mounts"):
            raise Blocked(f"{source.label()} has a volume mounted, and a volume belongs to one machine, so its "
                          "config cannot be copied for a canary.", "Deploy with `fly deploy` instead.")
        region = params.get("region") or source.region
        minutes = params.get("minutes", 10)
        started = sum(1 for m in others if m.state == "started")
        plan = Plan(self.name, env.app, f"Canary of {tag(image)} on {env.app}", params={**params, "source": source.id,
                                                                                       "current": current})
        plan.lines = [
            f"Now: {region_summary(others)} (process group `{group}`), running `{current}`.",
            f"Adds ONE machine in {region}, a copy of {source.label()}'s config with the image `{image}` (the "
            "guide's Blue-Green: scale up an extra machine, deploy to it). The other "
            f"{len(others)} machines are not touched.",
            "It must reach `started` and pass its checks; then Fireline watches it against the others for "
            f"{minutes} min (5xx share and p95 per instance from Fly's metrics, Sentry errors of the new release, "
            "its checks) and offers Promote or Discard, each its own plan.",
        ]
        plan.facts = [("Canary", f"1 machine in {region}"), ("Image", tag(image)),
                      ("Serving", f"{started} + the canary")]
        share = 1 / (started + 1) if started else 1.0
        plan.risks = [
            f"The canary serves real users: about {share:.0%} of requests go to the new image while it is watched.",
            "If the new image migrates the database when it starts, the migration runs for every machine, not only "
            "the canary: the checklist's migrations item must be ticked (`/deploy checklist`).",
        ]
        plan.steps = [Step(f"Create the canary in {region} (a copy of {source.label()} with `{tag(image)}`) and wait "
                           "for it to be healthy", "create_canary", {"source": source.id, "region": region,
                                                                    "image": image},
                           targets=[f"canary in {region}"])]
        return plan

    def run_step(self, env: Env, plan: Plan, step: Step, progress: Progress) -> StepResult:
        source = env.fly.get_machine(step.args["source"])
        config = source.config_copy()
        config["image"] = step.args["image"]
        metadata = dict(config.get("metadata") or {})
        metadata[MARK] = "true"
        config["metadata"] = metadata
        progress(f"creating the canary in {step.args['region']}")
        created = env.fly.create(config, region=step.args["region"])
        gate = gate_batch(env, [(created.id, created.version or None)], progress,
                          details=[f"created {created.id} in {step.args['region']} with `{step.args['image']}`"])
        data: dict[str, Any] = {"canary": created.id, "created": created.id}
        if env.dry_run:  # the example fleet is gone after this run: keep what Promote or Discard must find
            data["machine"] = {"id": created.id, "region": created.region, "version": created.version,
                               "config": created.config}
        if not gate.ok:
            return StepResult(False, f"created the canary {created.id}, but {gate.summary}", gate.details,
                              failed=list(step.targets), data=data)
        return StepResult(True, f"canary {created.id} in {step.args['region']} is serving", gate.details,
                          done=list(step.targets), data=data)


# -- 2. the verdict -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CanaryThresholds:
    """At or over a threshold is that level. Names are what DEPLOY_CANARY_THRESHOLDS writes."""

    error_share_suspicious: float = 0.01  # the canary's 5xx share of its responses
    error_share_bad: float = 0.05
    error_ratio_bad: float = 3.0  # the canary's 5xx share against the others' (when theirs is not zero)
    p95_ratio_suspicious: float = 1.5  # the canary's p95 against the others' median p95
    p95_ratio_bad: float = 2.0
    p95_margin_ms: float = 50.0  # a p95 less than this over the others' is never judged slower
    min_requests: float = 20.0  # fewer responses on the canary: too few to judge its share or p95
    sentry_ratio_bad: float = 3.0  # new release errors/min against the old release's per machine
    min_errors: float = 10.0

    def summary(self) -> str:
        return (f"5xx share {self.error_share_suspicious:.0%} suspicious, {self.error_share_bad:.0%} bad, or "
                f"{_fmt(self.error_ratio_bad)}x the others'; p95 {_fmt(self.p95_ratio_suspicious)}x the others' "
                f"suspicious, {_fmt(self.p95_ratio_bad)}x bad (beyond {_fmt(self.p95_margin_ms)} ms); from "
                f"{_fmt(self.min_requests)} responses; Sentry {_fmt(self.sentry_ratio_bad)}x bad from "
                f"{_fmt(self.min_errors)} errors")


def parse_canary_thresholds(text: str) -> CanaryThresholds:
    """`p95_ratio_bad=2,error_share_bad=0.05` -> CanaryThresholds (DEPLOY_CANARY_THRESHOLDS)."""
    return parse_number_pairs(CanaryThresholds, text, "p95_ratio_bad=2,error_share_bad=0.05")


@dataclass(frozen=True)
class InstanceFigures:
    """One machine's traffic over the window: responses, 5xx responses (counts) and p95 in ms (None: unknown)."""

    instance: str
    responses: float | None = None
    errors: float | None = None
    p95_ms: float | None = None

    @property
    def share(self) -> float | None:
        if self.responses is None or self.errors is None:
            return None
        return self.errors / self.responses if self.responses > 0 else 0.0


@dataclass
class CanaryObservations:
    canary: str  # machine id
    minutes: float
    figures: list[InstanceFigures] | None = None  # None: metrics not configured
    metrics_error: str = ""
    sentry_new: float | None = None  # errors of the new release over the window
    sentry_old: float | None = None  # errors of the old release over the same window
    sentry_minutes: float = 0.0
    sentry_error: str = ""  # "" and both None: Sentry not configured
    sentry_unjudged: str = ""  # Sentry is configured but the releases cannot be named: why
    others: int = 0  # how many machines run the old release
    other_ids: tuple[str, ...] = ()  # those machines (empty: Fly could not be read)
    state: str = ""  # the canary's machine state ("" : not read)
    checks_passing: bool = True
    crashes: int = 0
    fly_error: str = ""
    gone: str = ""  # Fly's word that the canary's machine no longer exists (destroyed outside Fireline)
    drill: str = ""  # why the figures are the example fleet's


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def others_of(observed: CanaryObservations) -> list[InstanceFigures]:
    """The figures the canary is judged against: the other machines of its process group, as Fly lists them now.

    Fly's metrics name every instance that answered in the window, the canary among them, and also machines of
    another process group (a worker) or destroyed since; a baseline with those is not "the others" (10,000 quiet
    responses of a worker made a 2% canary 100x "the others'" 5xx share). Without Fly's list: every other instance."""
    theirs = [f for f in observed.figures or [] if f.instance != observed.canary]
    if observed.other_ids:
        theirs = [f for f in theirs if f.instance in observed.other_ids]
    return theirs


def judge_metrics(observed: CanaryObservations, limits: CanaryThresholds) -> list[Reason]:
    if observed.figures is None:
        if observed.metrics_error:
            return [Reason("Metrics", "suspicious", f"could not read Fly's metrics: {observed.metrics_error}")]
        return [Reason("Metrics", "healthy", "5xx and response times per machine were not judged: set FLY_METRICS_URL "
                       "and FLY_METRICS_TOKEN", unjudged="not configured")]
    mine = next((f for f in observed.figures if f.instance == observed.canary), None)
    theirs = others_of(observed)
    if mine is None or mine.responses is None:
        return [Reason("Metrics", "suspicious", f"Fly's metrics have no responses from the canary {short(observed.canary)} "
                       "yet")]
    if mine.responses < limits.min_requests:
        return [Reason("Metrics", "suspicious", f"the canary answered {_fmt(mine.responses)} requests, under "
                       f"min_requests {_fmt(limits.min_requests)}: too few to judge")]
    reasons = []
    their_errors = sum(f.errors or 0 for f in theirs)
    their_responses = sum(f.responses or 0 for f in theirs)
    their_share = their_errors / their_responses if their_responses else None
    share = mine.share or 0.0
    figures = (f"canary 5xx {share:.1%} ({_fmt(mine.errors or 0)} of {_fmt(mine.responses)})"
               + (f" against {their_share:.1%} on the other {len(theirs)} ({_fmt(their_errors)} of "
                  f"{_fmt(their_responses)})" if their_share is not None else ""))
    ratio = share / their_share if their_share else None
    if share >= limits.error_share_bad:
        reasons.append(Reason("5xx", "bad", f"{figures}: at or over error_share_bad {limits.error_share_bad:.0%}"))
    elif ratio is not None and ratio >= limits.error_ratio_bad and share >= limits.error_share_suspicious:
        reasons.append(Reason("5xx", "bad", f"{figures}: {ratio:.1f}x the others', at or over error_ratio_bad "
                              f"{_fmt(limits.error_ratio_bad)}x"))
    elif share >= limits.error_share_suspicious:
        reasons.append(Reason("5xx", "suspicious", f"{figures}: at or over error_share_suspicious "
                              f"{limits.error_share_suspicious:.0%}"))
    else:
        reasons.append(Reason("5xx", "healthy", f"{figures}: under error_share_suspicious "
                              f"{limits.error_share_suspicious:.0%}"))
    their_p95 = [f.p95_ms for f in theirs if f.p95_ms is not None]
    if mine.p95_ms is None or not their_p95:
        reasons.append(Reason("p95", "suspicious", "no p95 for the canary or the others in Fly's metrics"))
        return reasons
    base = _median(their_p95)
    p95_ratio = mine.p95_ms / base if base > 0 else math.inf
    p95_figures = f"canary p95 {mine.p95_ms:.0f} ms against {base:.0f} ms (median of the other {len(their_p95)})"
    slower = mine.p95_ms - base >= limits.p95_margin_ms
    if slower and p95_ratio >= limits.p95_ratio_bad:
        reasons.append(Reason("p95", "bad", f"{p95_figures}: {p95_ratio:.1f}x, at or over p95_ratio_bad "
                              f"{_fmt(limits.p95_ratio_bad)}x"))
    elif slower and p95_ratio >= limits.p95_ratio_suspicious:
        reasons.append(Reason("p95", "suspicious", f"{p95_figures}: {p95_ratio:.1f}x, at or over "
                              f"p95_ratio_suspicious {_fmt(limits.p95_ratio_suspicious)}x"))
    else:
        reasons.append(Reason("p95", "healthy", f"{p95_figures}: {p95_ratio:.1f}x"))
    return reasons


def judge_sentry(observed: CanaryObservations, limits: CanaryThresholds) -> Reason:
    if observed.sentry_error:
        return Reason("Sentry", "suspicious", f"could not read Sentry: {observed.sentry_error}")
    if observed.sentry_unjudged:
        return Reason("Sentry", "healthy", f"errors of the new release were not judged: {observed.sentry_unjudged}",
                      unjudged="not checked")
    if observed.sentry_new is None or observed.sentry_old is None:
        return Reason("Sentry", "healthy", "errors of the new release were not judged: set SENTRY_API_TOKEN, "
                      "SENTRY_ORG and SENTRY_PROJECT", unjudged="not configured")
    minutes = max(observed.sentry_minutes, 1e-9)
    new_rate = observed.sentry_new / minutes  # one machine
    old_rate = observed.sentry_old / minutes / max(observed.others, 1)  # per machine
    figures = (f"{_fmt(observed.sentry_new)} errors on the canary's release in {_fmt(observed.sentry_minutes)} min "
               f"({new_rate:.1f}/min) against {old_rate:.1f}/min per machine on the old one")
    if observed.sentry_new < limits.min_errors:
        return Reason("Sentry", "healthy", f"{figures}: under min_errors {_fmt(limits.min_errors)}")
    if old_rate == 0 or new_rate / old_rate >= limits.sentry_ratio_bad:
        ratio = "errors where there were none" if old_rate == 0 else f"{new_rate / old_rate:.1f}x"
        return Reason("Sentry", "bad", f"{figures}: {ratio}, at or over sentry_ratio_bad "
                      f"{_fmt(limits.sentry_ratio_bad)}x")
    return Reason("Sentry", "healthy", f"{figures}: {new_rate / old_rate:.1f}x")


def judge_machine(observed: CanaryObservations) -> Reason:
    if observed.fly_error:
        return Reason("Fly", "suspicious", f"could not read the canary: {observed.fly_error}")
    figures = f"canary {short(observed.canary)} {observed.state or 'unknown'}, checks " + \
        ("passing" if observed.checks_passing else "FAILING") + f", {observed.crashes} crash(es) since it started"
    if observed.state != "started" or observed.crashes >= 2:
        return Reason("Fly", "bad", figures)
    if not observed.checks_passing or observed.crashes:
        return Reason("Fly", "suspicious", figures)
    return Reason("Fly", "healthy", figures)


def judge_canary(observed: CanaryObservations, limits: CanaryThresholds) -> Verdict:
    """The worst of the sources; healthy only on something actually read."""
    reasons = [*judge_metrics(observed, limits), judge_sentry(observed, limits), judge_machine(observed)]
    if observed.drill:
        reasons.insert(0, Reason("Drill", "healthy", observed.drill, unjudged="not checked"))
    level = _worst([r.level for r in reasons])
    read_any = observed.figures is not None or observed.sentry_new is not None
    if level == "healthy" and not read_any:
        level = "suspicious"
        reasons.append(Reason("Watch", "suspicious", "neither Fly's metrics nor Sentry could be read, so only the "
                              "canary's own checks speak for it: judge it yourself"))
    return Verdict(level, reasons)


# -- 3. promote and discard ----------------------------------------------------------------------------------------
def adopt_drill_canary(env: Env, params: dict[str, Any]) -> None:
    """A drill's example fleet is made fresh for every plan and run: the canary its first run created is put
    back from the run's record (`params["drill_canary"]`), so Promote and Discard act on it."""
    drill = params.get("drill_canary")
    if env.dry_run and isinstance(drill, dict) and hasattr(env.fly, "adopt"):
        env.fly.adopt(Machine(id=drill["id"], state="started", region=drill.get("region", ""),
                              version=drill.get("version", ""), config=drill.get("config") or {}))


def _find_canary(env: Env, params: dict[str, Any]) -> tuple[Machine, list[Machine], str]:
    adopt_drill_canary(env, params)
    group, canaries, others = split_fleet(env.fly.list_machines())
    wanted = params.get("canary")
    if wanted:
        canaries = [m for m in canaries if m.id == wanted]
    if not canaries:
        gone = f" ({wanted} is gone)" if wanted else ""
        raise Blocked(f"{env.app} has no canary now{gone}.", "Start one with `/deploy canary <image>`.")
    if len(canaries) > 1:
        raise Blocked(f"{env.app} has {len(canaries)} canaries: {', '.join(m.label() for m in canaries)}.",
                      "Name one: `/deploy discard <machine id>`.")
    return canaries[0], others, group


def _parse_canary_words(args: PlaybookArgs, usage: str, command: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if args.words and not args.words[0].startswith("-"):
        word = args.words.pop(0)
        if not word.isascii() or not word.isalnum() or len(word) > 40:
            raise Refused(f"`{word[:40]}` is not a machine id.", f"Usage: `/deploy {command} {usage}`.")
        params["canary"] = word
    return params


class CanaryPromote(Playbook):
    name = "canary-promote"
    command = "deploy"
    subcommand = "promote"
    usage = "[canary machine] [--batch N] [--keep-canary]"
    help = "roll the canary's image to the rest of the app, health-gated, then remove the canary (the count is kept)"
    params = (Param("--batch N", "machines updated at once (default 1)"),
              Param("--keep-canary", "keep the canary and remove one old machine instead (no second start)"))
    verb = "promote"
    done_word, failed_word, not_done_word = "Promoted", "Failed", "Not promoted"

    def parse(self, args: PlaybookArgs) -> dict[str, Any]:
        batch = parse_batch(args, self.command)
        keep = args.switch("keep-canary")
        params = _parse_canary_words(args, self.usage, "promote")
        reject_leftovers(args, "deploy promote", self.usage)
        return {**params, "batch": batch, **({"keep": True} if keep else {})}

    def plan(self, env: Env, params: dict[str, Any]) -> Plan:
        canary, others, group = _find_canary(env, params)
        image = canary.image
        plan = Plan(self.name, env.app, f"Promote {tag(image)} to the rest of {env.app}",
                    params={**params, "canary": canary.id, "image": image, "previous": current_image(others)})
        keep = bool(params.get("keep"))
        drop: list[Machine] = []
        rest = [m for m in others if m.image != image]
        if keep and others:
            drop = removal_order(others, 1)
            rest = [m for m in rest if m.id not in {d.id for d in drop}]
        groups = batches(rest, params.get("batch", 1), env.now())
        started = sum(1 for m in others if m.state == "started") + (1 if canary.state == "started" else 0)
        capacity, risk = capacity_line(started, most_out_at_once(groups), env.min_machines)
        plan.lines = [
            f"Now: {region_summary(others)} on `{current_image(others) or '?'}`, and the canary {canary.label()} on "
            f"`{image}` (process group `{group}`).",
            f"Updates {len(rest)} machine(s) to `{image}`, {params.get('batch', 1)} at a time, alternating regions; "
            "each batch must be started with its checks passing"
            + (f" and {env.health_url} answering" if env.health_url else "") + " before the next.",
            capacity,
            (f"Keeps the canary {canary.label()} and removes {drop[0].label()} instead, so the app has "
             f"{len(others)} machines again." if drop else
             f"Then removes the canary {canary.label()}, so the app has {len(others)} machines again."),
        ]
        plan.facts = [("Image", tag(image)), ("Machines to update", str(len(rest))),
                      ("Canary", "kept" if keep else "removed at the end")]
        plan.risks = ["The first batch that fails its checks stops the promotion: machines not reached keep the old "
                      "image, and the canary stays until Discard or a second Promote."]
        if risk:
            plan.risks.insert(0, risk)
        if params.get("verdict") in ("bad", "suspicious"):
            plan.risks.insert(0, f"The canary's watch judged it {params['verdict'].upper()}: promoting puts that image on "
                                 "every machine. Discard is the usual answer; promote only if you know why.")
        for machine in drop:
            plan.steps.append(Step(f"Remove {machine.label()} (the canary takes its place)", "remove",
                                   {"id": machine.id, "started": machine.state == "started"}, targets=[machine.id]))
        for number, members in enumerate(groups, start=1):
            plan.steps.append(Step(f"Batch {number}: update " + ", ".join(m["label"] for m in members), "update_batch",
                                   {"image": image, "machines": [{"id": m["id"], "launch": m["launch"]}
                                                                 for m in members]},
                                   targets=[m["id"] for m in members]))
        if keep:
            plan.steps.append(Step(f"Make the canary {canary.label()} an ordinary machine (its mark removed; it "
                                   "restarts once)", "unmark", {"id": canary.id}, targets=[canary.id]))
        else:
            plan.steps.append(Step(f"Remove the canary {canary.label()}", "remove",
                                   {"id": canary.id, "started": canary.state == "started"}, targets=[canary.id]))
        return plan

    def run_step(self, env: Env, plan: Plan, step: Step, progress: Progress) -> StepResult:
        adopt_drill_canary(env, plan.params)
        if step.action == "remove":
            return ScaleCount().remove(env, step, progress)
        leases = Leases(env, f"canary promote ({plan.title})")
        try:
            if step.action == "unmark":
                def unmark(config: dict[str, Any], machine_id: str) -> None:
                    metadata = dict(config.get("metadata") or {})
                    metadata.pop(MARK, None)
                    config["metadata"] = metadata

                return rolling_update(env, [{"id": step.args["id"], "launch": True}], unmark, leases, progress,
                                      "canary mark removed")
            image = step.args["image"]

            def change(config: dict[str, Any], machine_id: str) -> None:
                config["image"] = image

            return rolling_update(env, step.args["machines"], change, leases, progress, f"image {image}")
        finally:
            leases.release_all()


class CanaryDiscard(Playbook):
    name = "canary-discard"
    command = "deploy"
    subcommand = "discard"
    usage = "[canary machine]"
    help = "stop and destroy the canary; the other machines were never changed"
    verb = "discard"
    done_word, failed_word, not_done_word = "Discarded", "Failed", "Not discarded"

    def parse(self, args: PlaybookArgs) -> dict[str, Any]:
        params = _parse_canary_words(args, self.usage, "discard")
        reject_leftovers(args, "deploy discard", self.usage)
        return params

    def plan(self, env: Env, params: dict[str, Any]) -> Plan:
        canary, others, group = _find_canary(env, params)
        plan = Plan(self.name, env.app, f"Discard the canary of {tag(canary.image)} on {env.app}",
                    params={**params, "canary": canary.id, "image": canary.image})
        plan.lines = [f"Stops and destroys the canary {canary.label()} (`{canary.image}`).",
                      f"The other {len(others)} machines keep `{current_image(others) or '?'}`: they were never "
                      f"changed ({region_summary(others)})."]
        plan.facts = [("Canary", canary.label()), ("Others", f"{len(others)} unchanged")]
        plan.risks = ["Requests in flight on the canary fail as it stops."]
        plan.steps = [Step(f"Stop and destroy the canary {canary.label()}", "remove",
                           {"id": canary.id, "started": canary.state == "started"}, targets=[canary.id])]
        return plan

    def run_step(self, env: Env, plan: Plan, step: Step, progress: Progress) -> StepResult:
        adopt_drill_canary(env, plan.params)
        return ScaleCount().remove(env, step, progress)


__all__ = ["MARK", "Canary", "CanaryDiscard", "CanaryObservations", "CanaryPromote", "CanaryThresholds",
           "InstanceFigures", "is_canary", "judge_canary", "parse_canary_thresholds", "split_fleet", "tag"]
