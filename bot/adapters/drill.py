"""`fireline drill sev1`: a game-day drill of the guide's SEV1 playbook against the simulated Fly fleet.

The console, scripted: it types into bot.adapters.console as a responder would, so it lives beside it.

The drill plays the console lines a responder would type (declare, acknowledge, diagnose, restart,
confirm, monitoring, resolve) against the example fleet of bot/clients/fly/simulated.py, whose injected fault
is the guide's most common one: a machine crash-looping after the latest release. Between lines the
responder "thinks" for `--think` seconds of drill time; the response clock runs `--speed` times
faster (RESPONSE_CLOCK_SPEED), so the SEV table's targets are scaled the same way: at 60x SEV1's
15 minutes to acknowledge are 15 seconds. The score judges time to acknowledge, to diagnose and to
mitigate against those targets, and the drill leaves its incident (marked as a drill) and its
postmortem draft in the database, as a real one would.

Why a drill clock and not the wall clock: a scripted drill types in microseconds, so wall time
would score every drill perfect; the drill clock advances by the think time per line, so a
`--think 20` drill misses SEV1's 15-second acknowledgement at 60x as a slow responder would.

Safety, asserted by tests/adapters/test_drill.py: the drill's settings drop every credential that reaches
outside (Fly, PagerDuty, Slack, Statuspage, Sentry's DSN and its read API, provider pages, the health
endpoints), so nothing is paged, no real Fly app is touched or read, Sentry is never asked, and the
answers print in this terminal only.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from datetime import timedelta

from bot.core.clock import as_utc, fmt_duration, utcnow
from bot.core.registry import Registry
from bot.adapters.console import Console
from bot.core.container import Mode, open_container
from bot.store.db import session_scope
from bot.service import incidents, reads
from bot.core.settings import Settings

DEFAULT_SPEED = 60.0
DEFAULT_THINK = 5.0  # drill seconds between two lines
FAULT = "machine 91852e7a4d6008 (lhr) crash-looping since the latest release"
# Fireline's drill targets, as multiples of the SEV table's response time: acknowledge within it,
# diagnose within twice it, mitigate within four times it (SEV1: 15, 30 and 60 minutes).
TARGETS = {"acknowledge": 1, "diagnose": 2, "mitigate": 4}
SCRIPT = ["/incident ack", "/diagnose", "/restart", "!Confirm", "/incident status monitoring",
          "/incident resolve Drill: restarted the crash-looping machine"]
# Secrets that only check what comes in (signatures, webhook and /metrics tokens, session cookies): they reach
# nobody, so the drill keeps them. Every other secret is a credential for a call outward and is dropped, a
# secret added later included: a new one is outward unless it is named here.
INBOUND = frozenset({"slack_signing_secret", "pagerduty_webhook_secret", "alerts_webhook_secret",
                     "alerts_source_tokens", "metrics_token", "web_session_secret"})
# Outward settings that are not secrets: addresses Fireline reads on its own, and the deploy watch's polling.
OUTWARD_PLAIN = dict(provider_status_pages="", health_url="", health_origin_url="", deploy_watch=False)


def outward() -> dict[str, object]:
    """Every setting that lets Fireline call outside, with the value that stops it."""
    secrets = {name: None for name, field in Settings.model_fields.items()
               if "SecretStr" in str(field.annotation) and name not in INBOUND}
    return {**secrets, **OUTWARD_PLAIN}



class DrillClock:
    """Starts at the real time; moves only when the drill says a responder took time."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def think(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Mark:
    name: str
    took: float | None  # drill seconds from declaring; None: never happened
    target: float  # drill seconds

    @property
    def met(self) -> bool:
        return self.took is not None and self.took <= self.target


def drill_settings(settings: Settings, speed: float) -> Settings:
    """The same database; nothing that reaches outside; the response clock `speed` times faster."""
    return settings.model_copy(update={**outward(), "response_clock_speed": speed})


def run_drill(settings: Settings, registry: Registry, *, level: int = 1, speed: float = DEFAULT_SPEED,
              think: float = DEFAULT_THINK, out=None) -> tuple[int, list[Mark]]:
    """Run the drill; returns (incident number, marks). Prints the console transcript and the score to `out`."""
    out = out or sys.stdout
    settings = drill_settings(settings, speed)
    clock = DrillClock()
    container = open_container(settings, registry, clock=clock, mode=Mode.CONSOLE)
    container.knobs.sleep = lambda seconds: None  # the simulated fleet needs no waiting
    try:
        console = Console(container, out)
        print(f"== Game-day drill: SEV{level}, fault: {FAULT}; the clock runs {speed:g}x fast ==", file=out)
        console.run_line(f"/incident declare [DRILL] Site is down: {FAULT} sev{level}")
        with session_scope(container.engine) as session:
            number = reads.newest_incident_number(session)
            incidents.mark_drill(session, number)
        for line in SCRIPT:
            clock.think(think)
            print(f"> {line}", file=out)
            console.run_line(line)
        marks = score(container, number, level, speed)
    finally:
        container.engine.dispose()
    print_score(out, number, level, speed, marks)
    return number, marks


def score(container, number: int, level: int, speed: float) -> list[Mark]:
    base = container.settings.sev_response(level) or timedelta(minutes=15)  # the SEV table's (SEV_RESPONSE_MINUTES)
    with session_scope(container.engine) as session:
        record = reads.incident_record(session, None, number, timeline_limit=10_000)
        incident, events = record.incident, record.events
        start = as_utc(incident.declared_at)

        def since(at) -> float | None:
            return (as_utc(at) - start).total_seconds() if at else None

        diagnosed = next((e.at for e in events if e.kind.startswith("playbook_diagnose")), None)
        marks = [Mark("acknowledge", since(incident.acknowledged_at), 0.0), Mark("diagnose", since(diagnosed), 0.0),
                 Mark("mitigate", since(incident.mitigated_at), 0.0)]
    for mark in marks:
        mark.target = base.total_seconds() * TARGETS[mark.name] / speed
    return marks


def print_score(out, number: int, level: int, speed: float, marks: list[Mark]) -> None:
    print(f"\n== Score of drill #{number} (SEV{level}, clock {speed:g}x) ==", file=out)
    for mark in marks:
        if mark.took is None:
            print(f"  {mark.name:<12} never (target {fmt_duration(mark.target)})  MISSED", file=out)
            continue
        nominal = fmt_duration(mark.took * speed)
        print(f"  {mark.name:<12} {fmt_duration(mark.took)} (= {nominal} at 1x)  target {fmt_duration(mark.target)}"
              f"  {'met' if mark.met else 'MISSED'}", file=out)
    met = sum(mark.met for mark in marks)
    print(f"  {met}/{len(marks)} targets met. Incident #{number} and its postmortem draft are kept, marked as a "
          f"drill (`fireline postmortem {number}`).", file=out)


def _args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("level", choices=["sev1", "sev2"], help="which SEV playbook to drill (the guide's SEV1 "
                                                                "playbook; sev2 scores against SEV2's targets)")
    parser.add_argument("--speed", type=float, default=None,
                        help=f"run the response clock this many times faster (default: RESPONSE_CLOCK_SPEED when "
                             f"not 1, else {DEFAULT_SPEED:g})")
    parser.add_argument("--think", type=float, default=DEFAULT_THINK,
                        help=f"drill seconds the scripted responder takes per step (default {DEFAULT_THINK:g})")


def cmd_drill(settings: Settings, args: argparse.Namespace, registry: Registry) -> int:
    if "log_level" not in settings.model_fields_set:
        logging.getLogger().setLevel(logging.WARNING)
    speed = args.speed
    if speed is None:
        speed = settings.response_clock_speed if settings.response_clock_speed != 1 else DEFAULT_SPEED
    if not 0 < speed <= 3600 or args.think < 0:
        print("fireline drill: --speed is between 0 and 3600 and --think is not negative.", file=sys.stderr)
        return 2
    _, marks = run_drill(settings, registry, level=int(args.level[3:]), speed=speed, think=args.think)
    return 0 if all(mark.met for mark in marks) else 1


def register(registry: Registry) -> None:
    registry.cli("drill", "game-day drill: the SEV1 playbook against the simulated Fly fleet, scored", _args)(
        cmd_drill)

