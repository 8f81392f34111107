"""diagnose: the guide's SEV1 investigation order, automated, ending with what to do next.

Read-only, so it runs at once (no Confirm) and anyone may run it. Each section stands alone: if
Fly cannot tell us the Postgres machines, the health endpoint is still probed and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from playbooks.capacity import Decision, Usage, decide
from playbooks.fleet import crashed, in_group, main_group, recent_crashes, region_summary
from playbooks.fleet_models import HealthResult, Machine, Release
from playbooks.framework import Env, Plan, Playbook, Progress, ServiceError, Step, StepResult
from playbooks.guide import COMMON_INCIDENTS, INVESTIGATION_ORDER, common_incident, match
from playbooks.timefmt import as_utc

RECENT_RELEASE = timedelta(hours=2)
SLOW_MS = 1500


@dataclass
class Findings:
    machines: list[Machine] = field(default_factory=list)
    machines_error: str = ""
    crash_looping: list[tuple[Machine, list]] = field(default_factory=list)
    down: list[Machine] = field(default_factory=list)  # crashed and not running
    failing_checks: list[Machine] = field(default_factory=list)
    oom: list[Machine] = field(default_factory=list)
    health: HealthResult | None = None
    origin: HealthResult | None = None
    db: list[Machine] = field(default_factory=list)
    db_error: str = ""
    releases: list[Release] = field(default_factory=list)
    releases_note: str = ""
    providers: list[str] = field(default_factory=list)  # "is it them?": the providers' status pages
    sentry: str = ""  # Sentry's error count now against the hour before, or why it could not be read
    usage: Usage | None = None  # Fly's metrics: CPU and memory per machine, p95 and 5xx now and an hour ago

    @property
    def failures(self) -> bool:
        health_down = self.health is not None and not self.health.ok and (
            self.health.status is None or self.health.status >= 500)
        return bool(self.crash_looping or self.down or self.failing_checks or health_down)


def _age(env: Env, release: Release) -> timedelta | None:
    return as_utc(env.now()) - as_utc(release.created_at) if release.created_at else None


def _ago(delta: timedelta | None) -> str:
    if delta is None:
        return "at an unknown time"
    minutes = int(delta.total_seconds() // 60)
    if minutes < 90:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min ago"
    return f"{minutes // 1440} days ago"


class Diagnose(Playbook):
    name = "diagnose"
    command = "diagnose"
    usage = "[#N]"
    help = "check the app like the guide's investigation order and suggest the playbook to run"
    destructive = False
    who = "anyone"
    verb = "diagnose"

    def plan(self, env: Env, params: dict[str, Any]) -> Plan:
        return Plan(self.name, env.app, f"Diagnosis of {env.app}",
                    steps=[Step(f"Check {env.app}'s machines, crashes, health, database and latest release",
                                "diagnose")])

    def run_step(self, env: Env, plan: Plan, step: Step, progress: Progress) -> StepResult:
        found = self.gather(env)
        lines, suggestion, rows = self.report(env, found)
        return StepResult(True, f"suggests {suggestion['playbook'] or 'no playbook'}: {suggestion['why']}",
                          details=lines, data={"suggestion": suggestion, "rows": [r.key for r in rows]})

    # -- looking ------------------------------------------------------------------------------------------
    def gather(self, env: Env) -> Findings:
        found = Findings()
        now = env.now()
        try:
            everything = env.fly.list_machines()
            found.machines = in_group(everything, main_group(everything))
        except ServiceError as exc:
            found.machines_error = str(exc)
        for machine in found.machines:
            if machine.state != "started" or recent_crashes(machine, now):
                try:  # the list carries only the latest few events; ask for more where it matters
                    machine.events = env.fly.events(machine.id, limit=20) or machine.events
                except ServiceError:
                    pass
            crashes = recent_crashes(machine, now)
            restarts = max((e.restart_count for e in machine.events), default=0)
            if len(crashes) >= 2 or (crashes and restarts >= 3):
                found.crash_looping.append((machine, crashes))
            if any(e.oom_killed for e in crashes):
                found.oom.append(machine)
            if crashed(machine, now) or machine.state == "failed":
                found.down.append(machine)
            elif machine.state == "started" and not machine.checks_passing:
                found.failing_checks.append(machine)
        if env.health_url:
            found.health = env.health.check(env.health_url)
        if env.health_origin_url:
            found.origin = env.health.check(env.health_origin_url)
        if env.db_app:
            try:
                found.db = env.fly.list_machines(app=env.db_app)
            except ServiceError as exc:
                found.db_error = str(exc)
        try:
            found.releases = env.releases.recent(env.app, limit=5,
                                                 machine_id=found.machines[0].id if found.machines else None)
            found.releases_note = getattr(env.releases, "note", "")
        except ServiceError as exc:
            found.releases_note = f"could not read releases: {exc}"
        if env.providers is not None:
            found.providers = env.providers(env.incident_started)
        if env.sentry is not None:
            found.sentry = env.sentry()
        if env.metrics is not None:
            found.usage = env.metrics(env.app)
        return found

    # -- saying ---------------------------------------------------------------------------------------------
    def report(self, env: Env, found: Findings) -> tuple[list[str], dict[str, str], list]:
        lines = []
        if found.machines_error:
            lines.append(f"*Machines*: could not read them: {found.machines_error}")
        else:
            started = sum(1 for m in found.machines if m.state == "started")
            lines.append(f"*Machines* ({env.app}): {started} of {len(found.machines)} started · "
                         f"{region_summary(found.machines)}")
        for machine, crashes in found.crash_looping:
            codes = sorted({e.exit_code for e in crashes if e.exit_code is not None})
            restarts = max((e.restart_count for e in machine.events), default=0)
            lines.append(f"*Crash loop*: {machine.label()}: {len(crashes)} crashes in the last 30 min"
                         + (f" (exit code {', '.join(map(str, codes))})" if codes else "")
                         + (", OOM-killed" if machine in found.oom else "")
                         + (f", restarted {restarts} times" if restarts else "") + f"; it is {machine.state}")
        for machine in found.down:
            if machine not in [m for m, _ in found.crash_looping]:
                lines.append(f"*Down*: {machine.label()} is {machine.state} after a crash")
        for machine in found.failing_checks:
            failing = ", ".join(f"{c.name} {c.status}" for c in machine.checks if not c.passing)
            lines.append(f"*Checks failing*: {machine.label()}: {failing}")
        if not (found.crash_looping or found.down or found.failing_checks) and found.machines:
            lines.append("*Crashes*: none in the last 30 min; every started machine passes its checks")
        lines.append(self.health_line(found))
        if found.sentry:
            lines.append(f"*Sentry errors*: {found.sentry}")
        if found.usage is not None:
            labels = {m.id: m.label() for m in found.machines}
            lines += found.usage.lines(lambda instance: labels.get(instance, instance[:8]))
        if env.db_app:
            if found.db_error:
                lines.append(f"*Database* ({env.db_app}): could not read it: {found.db_error}")
            else:
                up = sum(1 for m in found.db if m.state == "started")
                lines.append(f"*Database* ({env.db_app}): {up} of {len(found.db)} machines started · "
                             f"{region_summary(found.db)}")
        else:
            lines.append("*Database*: FLY_DB_APP not set, so the Postgres app was not checked")
        latest = found.releases[0] if found.releases else None
        if latest:
            author = f" by {latest.author}" if latest.author else ""
            lines.append(f"*Latest release*: {latest.label}, {_ago(_age(env, latest))}{author} "
                         f"({latest.image or 'no image'})")
        else:
            lines.append("*Latest release*: unknown")
        if found.releases_note:
            lines.append(f"_{found.releases_note}_")
        if found.providers:
            lines.append("*Is it them?* (the providers' status pages)")
            lines += [f"  {line}" for line in found.providers]
        suggestion, rows = self.suggest(env, found, latest)
        lines.append(f"*Suggested*: {suggestion['text']}")
        for row in rows:
            lines.append(f"*Guide, common incidents*: {row.line()}")
        order = [step.format(app=env.app, db_app=env.db_app or "<postgres-app>") for step in INVESTIGATION_ORDER]
        lines.append("*Next in the guide's order*: " + " · ".join(order))
        return lines, suggestion, rows

    def health_line(self, found: Findings) -> str:
        if found.health is None:
            return "*Health*: HEALTH_URL not set, so Fireline cannot see what users see"
        line = f"*Health*: {found.health.url} {found.health.describe()}"
        if found.origin is not None:
            line += f" · origin {found.origin.url} {found.origin.describe()}"
            if not found.health.ok and found.origin.ok:
                line += " -> the origin answers but the public URL does not: a CDN/DNS problem (Cloudflare), not " \
                        "the app"
            elif not found.health.ok and not found.origin.ok:
                line += " -> both fail: the app itself, not the CDN"
            elif found.health.ok and not found.origin.ok:
                line += " -> the CDN answers but the origin does not (cached pages?): the app is in trouble"
        if found.health.ok and found.health.latency_ms and found.health.latency_ms > SLOW_MS:
            line += f" -> slow (over {SLOW_MS} ms)"
        return line

    def suggest(self, env: Env, found: Findings, latest: Release | None) -> tuple[dict[str, str], list]:
        """The guide's quick fixes: recent release + failures -> rollback; crashes -> restart; overload -> scale."""
        age = _age(env, latest) if latest else None
        recent = age is not None and age <= RECENT_RELEASE
        rows = match(env.incident_title, COMMON_INCIDENTS)
        slow = found.health is not None and found.health.ok and (found.health.latency_ms or 0) > SLOW_MS
        overloaded = slow or (found.health is not None and found.health.status in (429, 503)
                              and not (found.crash_looping or found.down))
        cdn = found.health is not None and not found.health.ok and found.origin is not None and found.origin.ok
        decision = decide(found.usage, len(found.machines) or None, env.max_machines) if found.usage else None
        if found.failures and recent and latest is not None:
            previous = next((r for r in found.releases[1:] if r.image and r.image != latest.image), None)
            target = f" (to {previous.label})" if previous else ""
            text = (f"*roll back*: {latest.label} went out {_ago(age)} and machines are failing since. "
                    f"Run `/rollback`{target}; if that release migrated the database destructively, "
                    "`/rollback --with-db-restore <time>`.")
            suggestion = {"playbook": "rollback", "command": "/rollback", "why": "recent release and failures"}
            rows = rows or [common_incident("502")]
        elif found.oom:
            text = ("*scale memory, then restart*: machines were OOM-killed. Run `/scale memory "
                    f"{found.oom[0].memory_mb * 2}`, which restarts them rolling.")
            suggestion = {"playbook": "scale-memory", "command": f"/scale memory {found.oom[0].memory_mb * 2}",
                          "why": "machines were killed for lack of memory"}
        elif found.crash_looping or found.down or found.failing_checks:
            bad = list(dict.fromkeys(m.id for m in [m for m, _ in found.crash_looping] + found.down
                                     + found.failing_checks))
            which = "" if len(bad) >= len(found.machines) else " " + " ".join(f"--machine {mid}" for mid in bad)
            text = (f"*restart*: {len(bad)} machine(s) crashed or fail their checks and no release went out "
                    f"recently. Run `/restart{which}` (rolling, health-gated).")
            suggestion = {"playbook": "restart", "command": f"/restart{which}", "why": "crashed machines"}
            rows = rows or [common_incident("502")]
        elif cdn:
            text = "*no Fly playbook*: the app answers at its origin; check Cloudflare (DNS, CDN, WAF rules)."
            suggestion = {"playbook": "", "command": "", "why": "CDN problem"}
        elif decision is not None:
            suggestion = self.measured(found, decision)
            text = suggestion["text"]
            rows = rows or [r for r in COMMON_INCIDENTS if r.key == "slow"]
        elif overloaded:
            count = min(env.max_machines, len(found.machines) + 2)
            text = (f"*scale up*: every machine is up but the app answers slowly or refuses connections. Run "
                    f"`/scale count {count}`; `/scale advice <symptom>` for the guide's table.")
            suggestion = {"playbook": "scale-count", "command": f"/scale count {count}", "why": "overloaded"}
            rows = rows or [r for r in COMMON_INCIDENTS if r.key in ("slow", "websocket")]
        elif found.db and any(m.state != "started" for m in found.db):
            text = ("*check the database*: not every Postgres machine is started "
                    f"(`fly postgres connect -a {env.db_app}`).")
            suggestion = {"playbook": "", "command": "", "why": "database machines down"}
        else:
            text = ("*no Fly playbook*: Fly looks healthy. Continue the guide's order below, and check Sentry for "
                    "new errors.")
            suggestion = {"playbook": "", "command": "", "why": "nothing wrong on Fly"}
        suggestion["text"] = text
        return suggestion, rows

    @staticmethod
    def measured(found: Findings, decision: Decision) -> dict[str, str]:
        """The guide's "When to Scale What" row that Fly's figures chose, with the figures."""
        command = decision.command
        if decision.key == "memory":
            biggest = max((m.memory_mb for m in found.machines), default=0)
            command = f"/scale memory {biggest * 2}" if biggest else command
        run = f" Run `{command}`." if command else " No Fly playbook: look at the database's slow queries " \
                                                   "and connections."
        text = f"*{decision.fix}* (the guide's When to Scale What, \"{decision.symptom}\"): {decision.figures}.{run}"
        playbook = {"cpu": "scale-count", "memory": "scale-memory"}.get(decision.key, "")
        return {"playbook": playbook, "command": command, "why": f"Fly's metrics: {decision.figures}", "text": text}


__all__ = ["Diagnose"]
