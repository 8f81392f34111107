"""What a playbook is: a name, a command, parameters, who may run it, and two acts, plan and execute.

A playbook never talks to Slack or the database. `plan()` reads the world through `Env` (the Fly
client, live or simulated for a dry run; releases; health probes) and returns a `Plan`: plain
words and a list of `Step`s. Fireline's execution service (`bot/features/playbooks/executions.py`) stores
the plan, shows it with Confirm/Cancel, checks who pressed Confirm, then calls `run_step()` for
each step in turn, storing every result, and stops at the first failure.

Everything a playbook writes (plan lines, step titles, results, refusals) is plain text: Fireline
escapes it for Slack, so an image tag or an error from Fly can never format or ping. Use Slack's
`*bold*` and `` `code` `` freely. To add a playbook, subclass `Playbook`, fill in the class attributes,
implement `plan` and `run_step`, and register an instance (see docs/playbooks.md).

Nothing here imports `bot/` (tests/playbooks/test_independent.py checks): a playbook gets its words
as `PlaybookArgs`, refuses with `Refused`, and sees an outside service fail as `ServiceError`, which
Fireline's own errors subclass or its error mapping knows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

Progress = Callable[[str], None]


class PlaybookArgs(Protocol):
    """The words after the command, as a playbook reads them (Fireline's parsed command is one).

    `flag("batch")` returns the value of `--batch N` and removes both words; `switch("dry")` says
    whether `--dry` was given and removes it; what is left in `words` was not understood.
    """

    words: list[str]

    def flag(self, name: str) -> str | None: ...

    def switch(self, name: str) -> bool: ...


class Refused(Exception):
    """Raise from `parse()` (or `run_step()`) for input that cannot be done: the message says what was wrong
    and the hints what to type instead. Plain text: Fireline escapes both before Slack shows them, exactly
    as it shows its own refusals."""

    def __init__(self, message: str, *hints: str) -> None:
        super().__init__(message)
        self.message = message
        self.hints = list(hints)


class ServiceError(Exception):
    """An outside service (Fly, a health URL) failed; `str()` is safe to show a person once escaped.

    Fireline's Fly client raises a subclass (bot.core.errors.IntegrationError is one), so a playbook catches
    this to say "could not read the machines" and go on, without knowing the client.
    """


class Blocked(Exception):
    """Raise from `plan()` when it cannot run: the plan is shown with the reason and no Confirm button."""

    def __init__(self, message: str, *hints: str) -> None:
        super().__init__(message)
        self.message = message
        self.hints = list(hints)


@dataclass(frozen=True)
class Param:
    """One parameter as the help shows it: `--batch N`, and what it means."""

    usage: str
    help: str


@dataclass
class Step:
    """One thing the execution does, in words, with what `run_step` needs to do it.

    `targets` names what the step changes (machine ids), so a stopped execution can say what was
    and was not done. A `manual` step is one Fireline cannot do itself: the exact command is shown
    and a person presses Done. A step with `confirm` waits for its own Confirm before it runs.
    """

    title: str
    action: str
    args: dict[str, Any] = field(default_factory=dict)
    targets: list[str] = field(default_factory=list)
    manual: str | None = None
    confirm: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Plan:
    """What will happen, before anything happens. Stored as JSON with the execution."""

    playbook: str
    app: str
    title: str
    lines: list[str] = field(default_factory=list)  # what happens, which machines, capacity left
    facts: list[tuple[str, str]] = field(default_factory=list)  # (label, value) a reader checks at a glance
    steps: list[Step] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)  # what could go wrong
    params: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)  # where the data came from, dry-run reasons
    blocked: str | None = None  # why this cannot run; then there is no Confirm button
    hints: list[str] = field(default_factory=list)  # what to type instead when blocked
    sends_to: str = ""  # where a live run's changes go, named in dry-run messages ("Fly"); set by the service

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        values["steps"] = [Step.from_dict(s) for s in data.get("steps", [])]
        return cls(**values)


PLANNED = "planned"  # a step's status in the timeline before it ran (the Confirm's event)
_NUMBERED = re.compile(r"^[0-9]{1,3}\. ")


def recorded_steps(plan: Plan, results: list[dict[str, Any]] | None = None) -> list[dict[str, str]]:
    """A run's steps as the timeline stores them, in one shape for every event: `{title, status, summary}`.

    Before a step ran its status is PLANNED (the Confirm's event); after, the execution's result for it.
    """
    results = results or []
    out = []
    for n, step in enumerate(plan.steps):
        result = results[n] if n < len(results) and isinstance(results[n], dict) else {}
        out.append({"title": step.title, "status": str(result.get("status") or PLANNED),
                    "summary": str(result.get("summary") or "")})
    return out


def read_steps(value: Any) -> list[dict[str, str]]:
    """A timeline event's `steps`, read tolerantly: the `{title, status, summary}` shape, and the plain
    strings (`"1. Restart m1 (iad)"`) the Confirm's event stored before that shape was the only one, read
    as planned steps, so nothing stored is lost. Anything else (a number, a step without a title) is skipped."""
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if isinstance(item, str) and item.strip():
            out.append({"title": _NUMBERED.sub("", item.strip()), "status": PLANNED, "summary": ""})
        elif isinstance(item, dict) and str(item.get("title") or item.get("step") or "").strip():
            out.append({"title": str(item.get("title") or item.get("step")), "status": str(item.get("status") or ""),
                        "summary": str(item.get("summary") or "")})
    return out


@dataclass
class StepResult:
    """How a step went: a one-line summary, details, and which targets were (not) done."""

    ok: bool
    summary: str
    details: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Limits:
    """How long health gates wait. Counts, not deadlines, so tests with a no-op sleep stay bounded."""

    wait_calls: int = 2  # Fly's wait endpoint blocks up to 60 s per call
    wait_seconds: int = 60
    check_polls: int = 24  # machine checks: 24 x 5 s = 2 minutes
    health_polls: int = 6  # HEALTH_URL: 6 x 5 s = 30 s
    poll_seconds: float = 5.0
    lease_ttl: int = 600


@dataclass
class Env:
    """Everything a playbook may use. Built by the service per plan and per execution."""

    app: str
    fly: Any  # bot.clients.fly.client.FlyClient, or bot.clients.fly.simulated.SimulatedFly in a dry run
    releases: Any  # bot.clients.fly.releases.ReleaseHistory (or the simulated one)
    health: Any  # bot.clients.fly.health.HealthProbe
    now: Callable[[], datetime]
    sleep: Callable[[float], None]
    db_app: str = ""
    health_url: str = ""
    health_origin_url: str = ""
    min_machines: int = 2
    max_machines: int = 20
    dry_run: bool = False
    dry_run_note: str = ""  # the banner for playbooks that act on the Fly app: the example fleet
    dry_run_reason: str = ""  # why this is a dry run: "FLY_API_TOKEN is not set", ...
    limits: Limits = field(default_factory=Limits)
    incident_title: str = ""  # the incident the playbook runs for, if any (diagnose matches it)
    reference: str = ""  # "#12" or "standalone", written on leases so `fly` users see who holds them
    # The providers' status pages (bot.features.providers.service): called with the incident's start, returns report lines.
    providers: Callable[[datetime | None], list[str]] | None = None
    incident_started: datetime | None = None
    # Sentry's error count now against the hour before, as one line (bot.features.deploy_watch.sentry); None: not asked.
    sentry: Callable[[], str] | None = None
    # Fly's metrics of an app (bot.features.fly_metrics): called with the app, returns playbooks.capacity.Usage.
    metrics: Callable[[str], Any] | None = None


class Playbook:
    """Subclass and set the attributes; the service does storage, confirmation, audit and Slack."""

    name: str = ""  # unique id, stored with every execution: "restart", "scale-count"
    command: str = ""  # the slash command: "restart" -> /restart
    subcommand: str | None = None  # "count" -> /scale count
    usage: str = ""  # after the command: "[--region R] [--batch N]"
    help: str = ""
    params: tuple[Param, ...] = ()
    destructive: bool = True  # needs a plan confirmed by an allowed person; one per app at a time
    who: str = "responders"  # who may confirm: "responders" (RESPONDERS + console) or "anyone"
    verb: str = "run"  # for messages: "restart", "roll back"
    done_word, failed_word, not_done_word = "Done", "Failed", "Not done"  # the closing summary's words
    # What the steps' targets are, counted in the progress message ("machine": "Restarting: 4 of 9 machines,
    # batch 2 of 3, 1m 40s"); empty: not counted. `doing_word` heads a running count, `done_word` a finished one.
    counts: str = ""
    doing_word: str = "Running"
    step_word: str = "step"
    # A dry run in the playbook's own words. `sends_to`: where a live run's changes go ("the CDN"), named in
    # "nothing is sent to ..."; None: Fly when the plan acts on the Fly app (the built-ins), else unnamed.
    # `dry_run_text`: the banner over a dry-run plan, `{why}` standing for the reason ("FLY_API_TOKEN is
    # not set"); None: Fireline's own, which speaks of Fly's example fleet only for a plan on the Fly app.
    sends_to: str | None = None
    dry_run_text: str | None = None

    def counted(self, plan: Plan) -> str:
        """What this plan's step targets are in the progress count (`counts`); empty: this plan counts nothing."""
        return self.counts

    def step_word_of(self, plan: Plan) -> str:
        """What this plan's steps are called in its progress ("batch 2 of 3"): `step_word`, unless a plan's
        steps are of another kind than the playbook's usual ones."""
        return self.step_word

    def finished_count(self, plan: Plan, done: int, total: int, things: str) -> str:
        """The count once finished, before "in 1m 40s": "Restarted 4 of 4 machines" (`things` is "4 of 4 machines")."""
        return f"{self.done_word} {things}"

    def parse(self, args: PlaybookArgs) -> dict[str, Any]:
        """Words -> parameters (JSON-able). Raise `Refused` saying what to type instead."""
        if args.words:
            raise Refused(f"`{self.command}` takes no arguments here.", f"Type `/{self.command}`.")
        return {}

    def plan(self, env: Env, params: dict[str, Any]) -> Plan:
        raise NotImplementedError

    def run_step(self, env: Env, plan: Plan, step: Step, progress: Progress) -> StepResult:
        raise NotImplementedError

    def summary(self, plan: Plan, results: list[StepResult | None]) -> list[str]:
        """Closing lines after the execution (what was and was not done). Override for a richer report."""
        done = [t for r in results if r for t in r.done]
        attempted = {t for r in results if r for t in (*r.done, *r.failed, *r.data.get("unknown", []))}
        not_done = [t for step in plan.steps for t in step.targets if t not in attempted]
        failed = [t for r in results if r for t in r.failed]
        lines = []
        if done:
            lines.append(f"{self.done_word}: {', '.join(done)}")
        if failed:
            lines.append(f"{self.failed_word}: {', '.join(failed)}")
        if not_done:
            lines.append(f"{self.not_done_word}: {', '.join(not_done)}")
        return lines

    @property
    def invocation(self) -> str:
        return f"/{self.command}" + (f" {self.subcommand}" if self.subcommand else "")
