"""`fireline workflows check FILE...` and `fireline workflows test FILE... --trigger declared --severity 1`.

Both read files only (no database, no Slack, no PagerDuty): `check` validates and prints `file:line: problem`
lines (exit 1) or a summary (exit 0), the shape CI annotates; `test` builds the event the flags describe and
prints what would run, step by step (playbooks.workflows.rehearse), touching nothing. Without FILE both read
WORKFLOWS, or the default file when it is empty.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.settings import Settings
from bot.features.workflows.loading import known_playbooks
from playbooks.workflows import TRIGGERS, Event, WorkflowFileError, default_workflows, load_files, notes, rehearse
from playbooks.workflows.rehearse import SAMPLE_PERSON, SAMPLE_TITLE, sample_incident

if TYPE_CHECKING:
    from bot.core.registry import Registry

STATES = ("declared", "investigating", "mitigating", "monitoring", "resolved", "acknowledged", "mitigated",
          "reopened")


def _arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="workflows_action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate workflow files: `file:line: problem` lines, or a summary",
                               description="Validate workflow files. Exit 1 with `file:line: problem` lines; 0 "
                                           "with a summary. Without FILE: WORKFLOWS, or the default file.")
    check.add_argument("files", nargs="*", metavar="FILE")
    test = actions.add_parser("test", help="print what would run for an event, step by step, touching nothing",
                              description="Rehearse: what the workflows would do for the event these flags "
                                          "describe. Nothing is sent or stored.")
    test.add_argument("files", nargs="*", metavar="FILE")
    test.add_argument("--trigger", required=True, choices=sorted(TRIGGERS))
    test.add_argument("--severity", type=int, choices=(1, 2, 3, 4), default=1,
                      help="the incident's severity (after the change, for severity_changed)")
    test.add_argument("--from-severity", type=int, choices=(1, 2, 3, 4), help="severity_changed: the one before")
    test.add_argument("--state", default=None, choices=STATES,
                      help="the incident's state (state_changed: the new one); default investigating")
    test.add_argument("--from-state", default=None, choices=STATES, help="state_changed: the state before")
    test.add_argument("--private", action="store_true", help="a private incident")
    test.add_argument("--acknowledged", action="store_true", help="the page was acknowledged")
    test.add_argument("--status-published", action="store_true", help="a status page update was published")
    test.add_argument("--title", default=SAMPLE_TITLE, help="the incident's title")
    test.add_argument("--number", type=int, default=1, help="the incident's number")
    test.add_argument("--components", default="", help="comma-separated component names")
    test.add_argument("--declared-by", default=SAMPLE_PERSON, help="who declared it (a name)")
    test.add_argument("--lead", default=SAMPLE_PERSON, help="the incident's lead (a name)")
    test.add_argument("--source", default="", help="alert_received: the alert's sender (sentry, fly, ...)")
    test.add_argument("--label", action="append", default=[], metavar="K=V", help="alert_received: a label (repeat)")
    test.add_argument("--text", default="", help="alert_received: the alert's text (default: the title)")
    test.add_argument("--role", default="lead", help="role_assigned: the role")
    test.add_argument("--person", default="Fox Mulder", help="role_assigned: who")
    test.add_argument("--playbook", default="diagnose", help="playbook_finished: which playbook")
    test.add_argument("--outcome", default="done", choices=("done", "failed", "not_done", "planned"),
                      help="playbook_finished: how it ended")
    test.add_argument("--minutes", type=int, default=30, help="no_update: minutes without an update")
    test.add_argument("--at", default=None, help="when it happens, ISO (2026-12-07T10:00); default now")
    test.add_argument("--tz", default="UTC", help="the zone --at is read in (Europe/Paris); default UTC")


def register_cli(registry: Registry) -> None:
    registry.cli("workflows", "check workflow files, or rehearse what they would run for an event (touches nothing)",
                 _arguments)(cmd_workflows)


def _load(settings: Settings, args: argparse.Namespace, registry: Registry) -> tuple[tuple, str]:
    files = list(args.files) or settings.workflow_files
    if not files:
        return default_workflows(), "the default file (playbooks/data/workflows.default.yaml)"
    return load_files(files, playbooks=known_playbooks(registry)), ", ".join(files)


def cmd_workflows(settings: Settings, args: argparse.Namespace, registry: Registry) -> int:
    try:
        workflows, named = _load(settings, args, registry)
    except WorkflowFileError as exc:
        for problem in exc.problems:
            print(problem)
        count = len(exc.problems)
        print(f"fireline workflows {args.workflows_action}: {count} problem{'s' if count != 1 else ''}; "
              "nothing loaded", file=sys.stderr)
        return 1
    if args.workflows_action == "check":
        return _check(workflows, named, known_playbooks(registry))
    try:
        event = event_from(args)
    except ValueError as exc:
        print(f"fireline workflows test: {exc}", file=sys.stderr)
        return 2
    for line in rehearse(workflows, event, known_playbooks(registry)):
        print(line)
    return 0


def _check(workflows: tuple, named: str, playbooks: dict[str, bool]) -> int:
    triggers = Counter(wf.trigger for wf in workflows)
    steps = sum(len(wf.steps) for wf in workflows)
    off = sum(1 for wf in workflows if not wf.enabled)
    print(f"{named}: OK, {len(workflows)} workflow{'s' if len(workflows) != 1 else ''}, {steps} steps"
          + (f", {off} turned off" if off else "") + ".")
    print("Triggers: " + ", ".join(f"{name} {count}" for name, count in sorted(triggers.items())) + ".")
    for wf in workflows:
        print(f"  {wf.where}  {wf.name}: on {wf.trigger}, {len(wf.steps)} step{'s' if len(wf.steps) != 1 else ''}"
              + ("" if wf.enabled else " (off)"))
    for note in notes(workflows, playbooks):
        print(note)
    return 0


def _at(text: str | None, zone: str) -> datetime:
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"--tz {zone!r} is not a time zone: an IANA name like Europe/Paris") from None
    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--at {text!r} is not an ISO time: write 2026-12-07T10:00") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(UTC)


def event_from(args: argparse.Namespace) -> Event:
    """The event the flags describe: an incident's plain fields and the trigger's detail."""
    labels: dict[str, str] = {}
    for item in args.label:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--label wants K=V, for example env=production, not {item!r}")
        labels[key.strip()] = value.strip()
    state = args.state or "investigating"
    at = _at(args.at, args.tz)
    incident: dict[str, Any] = sample_incident(
        args.number, args.title, args.severity, state, args.private, [c.strip() for c in args.components.split(",")],
        args.declared_by, args.lead, args.acknowledged, args.status_published)
    detail: dict[str, Any] = {}
    if args.trigger == "severity_changed":
        old = args.from_severity or (args.severity + 1 if args.severity < 4 else 3)
        detail = {"old_severity": old, "new_severity": args.severity,
                  "direction": "up" if args.severity < old else "down"}
    elif args.trigger == "state_changed":
        detail = {"old_state": args.from_state or "investigating", "new_state": args.state or "resolved"}
        if args.state is None:
            incident["state"] = "resolved"
    elif args.trigger == "role_assigned":
        detail = {"role": args.role, "person": args.person}
    elif args.trigger == "alert_received":
        detail = {"alert_source": args.source or "console", "alert_title": args.title,
                  "alert_text": args.text or args.title, "alert_labels": labels}
    elif args.trigger == "no_update":
        detail = {"minutes": args.minutes}
    elif args.trigger == "postmortem_due":
        detail = {"due": at, "overdue": False}
    elif args.trigger == "playbook_finished":
        detail = {"playbook": args.playbook, "outcome": args.outcome}
    return Event(args.trigger, incident, detail, at)
