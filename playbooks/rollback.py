"""rollback: the guide's "Quick Rollback" (`fly deploy --image <previous-sha>`) and, with
`--with-db-restore <time>`, its "Rollback with Database Changes" procedure.

The quick rollback updates each machine's config to the earlier image, rolling and health-gated
like a restart. The database procedure is four steps, each confirmed in turn: stop all traffic,
restore Postgres to a point in time (a person runs the exact command; Fireline cannot), deploy the
previous image to the stopped machines, and start them again one by one.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from playbooks.fleet import (
    Leases,
    batches,
    capacity_line,
    health_gate,
    in_group,
    main_group,
    most_out_at_once,
    region_summary,
    rolling_update,
    wait_until_healthy,
)
from playbooks.fleet_models import Machine, Release, short
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
from playbooks.params import parse_batch, reject_leftovers
from playbooks.timefmt import as_utc

USAGE = "[v41 | image] [--with-db-restore <time>] [--batch N]"
TIME_HINT = ("Give the time to restore to in UTC, for example `--with-db-restore 2026-11-25T13:10:00Z`, "
             "`--with-db-restore \"2026-11-25 13:10\"` or `--with-db-restore 13:10` (today).")
STEP_TARGETS = ("traffic stopped", "database restored", "previous image deployed", "machines started")


def parse_restore_time(text: str, now: datetime) -> datetime:
    """ISO 8601 with a zone, or `YYYY-MM-DD HH:MM[:SS]` / `HH:MM` taken as UTC; never in the future."""
    value = text.strip().upper().removesuffix(" UTC").removesuffix("UTC").strip()
    now = as_utc(now)
    when: datetime | None = None
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", value)
    if clock:
        hour, minute, second = int(clock.group(1)), int(clock.group(2)), int(clock.group(3) or 0)
        if hour < 24 and minute < 60 and second < 60:
            when = now.replace(hour=hour, minute=minute, second=second, microsecond=0)
            if when > now:
                when -= timedelta(days=1)
    else:
        try:
            when = datetime.fromisoformat(value.replace(" ", "T", 1) if re.match(r"\d{4}-\d{2}-\d{2} ", value)
                                          else value)
        except ValueError:
            when = None
        if when is not None:
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when is None:
        raise Blocked(f"`{text[:40]}` is not a time Fireline can read.", TIME_HINT)
    if when > now:
        raise Blocked(f"{when:%Y-%m-%d %H:%M:%S} UTC is in the future; a restore goes back in time.", TIME_HINT)
    return when


def iso(when: datetime) -> str:
    return as_utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "unknown age"
    minutes = int((as_utc(now) - as_utc(then)).total_seconds() // 60)
    if minutes < 90:
        return f"{max(minutes, 0)} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} days ago"


def looks_like_image(word: str) -> bool:
    return "/" in word or "@sha256:" in word or (":" in word and not word.lower().startswith("v"))


class Rollback(Playbook):
    name = "rollback"
    command = "rollback"
    usage = USAGE
    help = "roll back to the release before the current one (or a given release or image), rolling and health-gated"
    params = (Param("v41 | 41 | image", "the release (or image) to go back to; default: the one before the current"),
              Param("--with-db-restore <time>", "the guide's procedure for a destructive migration: stop traffic, "
                                                "restore Postgres to <time>, deploy the old image, start again"),
              Param("--batch N", "machines updated together (default 1)"))
    verb = "roll back"
    done_word, failed_word, not_done_word = "Rolled back", "Failed", "Not rolled back"
    # "Rolling back: 2 of 4 machines, batch 1 of 2, 30s", counted as the rolling restart counts.
    counts, doing_word, step_word = "machine", "Rolling back", "batch"

    def counted(self, plan: Plan) -> str:
        """The database-restore procedure's steps are stages (traffic stopped, database restored, ...), not
        machines: it counts nothing, and its step lines say where it is."""
        return "" if plan.params.get("restore_text") else self.counts

    def step_word_of(self, plan: Plan) -> str:
        """The database-restore procedure's steps are steps, not batches of machines ("running step 2 of 4")."""
        return "step" if plan.params.get("restore_text") else self.step_word

    def parse(self, args: PlaybookArgs) -> dict[str, Any]:
        params: dict[str, Any] = {"batch": parse_batch(args, self.command)}
        restore = args.flag("with-db-restore")
        if restore is None and "--with-db-restore" in args.words:
            raise Refused("`--with-db-restore` needs the time to restore the database to.", TIME_HINT)
        if restore is not None:
            if args.words and re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?(Z|UTC)?", args.words[0], re.IGNORECASE) \
                    and re.fullmatch(r"\d{4}-\d{2}-\d{2}", restore):
                restore = f"{restore} {args.words.pop(0)}"  # `--with-db-restore 2026-11-25 13:10`
            params["restore_text"] = restore
        if args.words:
            word = args.words.pop(0)
            version = re.fullmatch(r"v?(\d{1,6})", word, re.IGNORECASE)
            if version:
                params["version"] = int(version.group(1))
            elif looks_like_image(word):
                params["image"] = word
            else:
                raise Refused(f"`{word[:60]}` is neither a release (`v41`) nor an image "
                              "(`registry.fly.io/<app>:<tag>`).", f"Usage: `/rollback {USAGE}`.")
        reject_leftovers(args, self.command, USAGE)
        return params

    # -- plan ---------------------------------------------------------------------------------------------
    def plan(self, env: Env, params: dict[str, Any]) -> Plan:
        plan = Plan(self.name, env.app, f"Roll back {env.app}", params=params)
        restore_at = None
        if params.get("restore_text"):
            restore_at = parse_restore_time(params["restore_text"], env.now())
            params["restore_at"] = iso(restore_at)
        everything = env.fly.list_machines()
        group = main_group(everything)
        machines = in_group(everything, group)
        if not machines:
            plan.blocked, plan.hints = f"{env.app} has no machines to roll back.", ["Check FLY_APP."]
            return plan
        images = Counter(m.image for m in machines if m.image)
        current = images.most_common(1)[0][0] if images else ""
        source = next((m for m in machines if m.state == "started"), machines[0])
        try:
            releases = env.releases.recent(env.app, limit=10, machine_id=source.id)
        except ServiceError as exc:
            releases, plan.notes = [], [f"Could not list releases: {exc}"]
        if getattr(env.releases, "note", ""):
            plan.notes.append(env.releases.note)
        target, release, problem = self.choose(params, releases, current)
        if problem:
            plan.blocked, plan.hints = problem
            plan.lines = self.release_lines(env, releases, current, None)
            return plan
        plan.lines = [f"Now: {region_summary(machines)} (process group `{group}`), running `{current}`"
                      + (f" (and {len(images) - 1} other image(s))" if len(images) > 1 else "") + "."]
        plan.lines += self.release_lines(env, releases, current, target)
        plan.params["target_image"] = target
        label = release.label if release else "the given image"
        if restore_at is not None:
            self.plan_with_restore(env, plan, machines, target, label, restore_at, releases, current)
            return plan
        changing = [m for m in machines if m.image != target]
        if not changing:
            plan.blocked = f"every machine of {env.app} already runs `{target}`."
            return plan
        batch = params["batch"]
        groups = batches(changing, batch, env.now())
        ordered = [member for group in groups for member in group]
        started = [m for m in machines if m.state == "started"]
        capacity, risk = capacity_line(len(started), most_out_at_once(groups), env.min_machines)
        plan.title = f"Roll back {env.app} to {label}"
        plan.lines += [
            f"Updates {len(ordered)} machine(s) to `{target}`, {batch} at a time, alternating regions "
            "(the guide: `fly deploy --image <previous-sha>`).",
            capacity,
            "Each batch must reach `started` on the new version, pass its checks"
            + (f" and {env.health_url} must answer" if env.health_url else " (HEALTH_URL is not set)")
            + " before the next. The first failure stops it; machines not reached keep the current image.",
        ]
        kept = [m for m in ordered if not m["launch"]]
        if kept:
            plan.lines.append("Stopped machines get the image but stay stopped: " + ", ".join(m["label"] for m in kept))
        plan.risks = [
            f"If {releases[0].label if releases else 'the current release'} ran a destructive database migration, "
            "the old code may fail against the new schema: the first machine then fails its checks and the "
            "rollback stops. Use `/rollback --with-db-restore <time>` (the guide's procedure) instead.",
            "If the image is no longer in the registry, Fly refuses the first update and nothing else changes.",
        ]
        if risk:
            plan.risks.insert(0, risk)
        for number, members in enumerate(groups, start=1):
            plan.steps.append(Step(f"Batch {number}: update " + ", ".join(m["label"] for m in members),
                                   "update_batch",
                                   {"image": target, "machines": [{"id": m["id"], "launch": m["launch"]}
                                                                  for m in members]},
                                   targets=[m["id"] for m in members]))
        return plan

    def choose(self, params: dict[str, Any], releases: list[Release],
               current: str) -> tuple[str, Release | None, tuple[str, list[str]] | None]:
        """The image to go back to, the release it belongs to, or (why not, hints)."""
        give = "Give the image yourself: `/rollback registry.fly.io/<app>:<tag>` (`fly releases --image` lists them)."
        if params.get("image"):
            image = params["image"]
            return image, next((r for r in releases if r.image == image), None), None
        if params.get("version") is not None:
            release = next((r for r in releases if r.version == params["version"]), None)
            if release is None:
                known = ", ".join(r.label for r in releases) or "none"
                return "", None, (f"release v{params['version']} is not among the recent releases ({known}).", [give])
            if not release.image:
                return "", None, (f"release {release.label} has no image recorded, so there is nothing to deploy.",
                                  [give])
            return release.image, release, None
        if not releases:
            return "", None, ("Fireline could not find any release to roll back to.", [give])
        current_index = next((i for i, r in enumerate(releases) if r.image == current), 0)
        previous = next((r for r in releases[current_index + 1:] if r.usable and r.image != current), None)
        if previous is None:
            return "", None, (f"there is no release before {releases[current_index].label} with an image to roll back "
                              "to (the previous image is missing).", [give])
        return previous.image, previous, None

    def release_lines(self, env: Env, releases: list[Release], current: str, target: str | None) -> list[str]:
        if not releases:
            return []
        lines = ["Recent releases:"]
        for release in releases[:5]:
            mark = " (current)" if release.image == current else ""
            mark += " (rolling back to this)" if target and release.image == target else ""
            author = f", {release.author}" if release.author else ""
            status = f", {release.status}" if release.status and release.status != "complete" else ""
            lines.append(f"- {release.label}: `{release.image or 'no image'}`, "
                         f"{ago(env.now(), release.created_at)}{author}{status}{mark}")
        return lines

    def plan_with_restore(self, env: Env, plan: Plan, machines: list[Machine], target: str, label: str,
                          restore_at: datetime, releases: list[Release], current: str) -> None:
        ids = [m.id for m in machines]
        db_app = env.db_app or "<your-postgres-app>"
        command = f'fly postgres restore --app {db_app} --time "{iso(restore_at)}"'
        plan.title = f"Roll back {env.app} to {label} with a database restore to {iso(restore_at)}"
        plan.lines += [
            "The guide's \"Rollback with Database Changes\", one step at a time, each confirmed in turn:",
            f"Step 1 stops every machine ({len(ids)}) after taking it out of Fly Proxy's routing (cordon), instead "
            "of the guide's `fly scale count 0`, which would destroy them: step 4 brings back the same machines.",
            f"Step 2 is yours: Fireline cannot restore Postgres, so it shows the guide's command for {db_app}.",
        ]
        if not env.db_app:
            plan.notes.append("FLY_DB_APP is not set, so the restore command has a placeholder for the Postgres app.")
        plan.risks = [
            f"{env.app} is DOWN for users from step 1 until step 4 brings machines back.",
            f"Everything written to the database after {iso(restore_at)} is lost by the restore.",
        ]
        bad = next((r for r in releases if r.image == current), None)
        if bad and bad.created_at and as_utc(restore_at) > as_utc(bad.created_at):
            plan.risks.insert(0, f"{iso(restore_at)} is after {bad.label} went out ({iso(bad.created_at)}): "
                                 "restoring to then keeps whatever its migration did. Pick a time before it.")
        plan.steps = [
            Step(f"Stop all traffic: cordon and stop the {len(ids)} machines (the guide: `fly scale count 0`)",
                 "stop_all", {"machines": ids}, targets=[STEP_TARGETS[0]], confirm=True),
            Step(f"Restore {db_app} to {iso(restore_at)}", "manual", {}, targets=[STEP_TARGETS[1]], manual=command),
            Step(f"Deploy `{target}` to the {len(ids)} stopped machines (they stay stopped)", "update_stopped",
                 {"machines": ids, "image": target}, targets=[STEP_TARGETS[2]], confirm=True),
            Step(f"Scale back up: start and uncordon the {len(ids)} machines one by one, health-gated "
                 f"(the guide: `fly scale count {len(ids)}`)", "start_all", {"machines": ids},
                 targets=[STEP_TARGETS[3]], confirm=True),
        ]

    # -- execute --------------------------------------------------------------------------------------------
    def run_step(self, env: Env, plan: Plan, step: Step, progress: Progress) -> StepResult:
        leases = Leases(env, f"rollback ({plan.title})")
        details: list[str] = []
        try:
            handler = {"update_batch": self.update_batch, "stop_all": self.stop_all,
                       "update_stopped": self.update_stopped, "start_all": self.start_all}[step.action]
            return handler(env, step, leases, progress, details)
        finally:
            details += leases.release_all()

    def update_batch(self, env: Env, step: Step, leases: Leases, progress: Progress, details: list[str]) -> StepResult:
        image = step.args["image"]
        def change(config: dict[str, Any], machine_id: str) -> None:
            config["image"] = image

        return rolling_update(env, step.args["machines"], change, leases, progress, f"image {image}")

    def stop_all(self, env: Env, step: Step, leases: Leases, progress: Progress, details: list[str]) -> StepResult:
        for machine_id in step.args["machines"]:
            nonce = leases.take(machine_id)
            progress(f"cordoning and stopping {short(machine_id)}")
            env.fly.cordon(machine_id, lease_nonce=nonce)
            machine = env.fly.get_machine(machine_id)
            if machine.state == "started":
                env.fly.stop(machine_id, lease_nonce=nonce)
                if not env.fly.wait(machine_id, "stopped", timeout_s=env.limits.wait_seconds):
                    return StepResult(False, f"{short(machine_id)} did not stop within {env.limits.wait_seconds} s",
                                      details)
            details.append(f"{short(machine_id)} cordoned and stopped")
        return StepResult(True, f"all {len(step.args['machines'])} machines cordoned and stopped: no traffic",
                          details, done=list(step.targets))

    def update_stopped(self, env: Env, step: Step, leases: Leases, progress: Progress,
                       details: list[str]) -> StepResult:
        for machine_id in step.args["machines"]:
            nonce = leases.take(machine_id)
            current = env.fly.get_machine(machine_id)
            config = current.config_copy()
            config["image"] = step.args["image"]
            progress(f"updating {short(machine_id)} (stopped)")
            env.fly.update(machine_id, config, current_version=current.version or None, skip_launch=True,
                           lease_nonce=nonce)
            details.append(f"{short(machine_id)} now has `{step.args['image']}` (stopped)")
        return StepResult(True, f"{len(step.args['machines'])} machines have the previous image", details,
                          done=list(step.targets))

    def start_all(self, env: Env, step: Step, leases: Leases, progress: Progress, details: list[str]) -> StepResult:
        for machine_id in step.args["machines"]:
            nonce = leases.take(machine_id)
            progress(f"starting {short(machine_id)}")
            env.fly.start(machine_id, lease_nonce=nonce)
            env.fly.uncordon(machine_id, lease_nonce=nonce)
            ok, said = wait_until_healthy(env, machine_id, progress)
            details.append(said)
            if not ok:
                return StepResult(False, said, details)
        healthy, said = health_gate(env, progress)
        details.append(said)
        if not healthy:
            return StepResult(False, f"the machines are started but {said}", details)
        return StepResult(True, f"all {len(step.args['machines'])} machines started and serving", details,
                          done=list(step.targets))

    # -- report -----------------------------------------------------------------------------------------------
    def summary(self, plan: Plan, results: list[StepResult | None]) -> list[str]:
        if not plan.params.get("restore_at"):
            return super().summary(plan, results)
        done = [t for r in results if r and r.ok for t in r.done]
        not_done = [t for t in STEP_TARGETS if t not in done]
        lines = [f"Done: {', '.join(done) or 'nothing'}", f"Not done: {', '.join(not_done) or 'nothing'}"]
        if STEP_TARGETS[0] in done and STEP_TARGETS[3] not in done:
            ids = plan.steps[0].args.get("machines", [])
            lines.append(f":rotating_light: {plan.app} is still DOWN: its machines are stopped and cordoned. Bring "
                         "them back with `fly machine start <id> -a {app}` and `fly machine uncordon <id> -a {app}` "
                         .replace("{app}", plan.app) + f"for {', '.join(ids)}, or finish the procedure.")
        return lines


__all__ = ["Rollback", "parse_restore_time"]
