"""`fireline classify "<text>" [--json]`: the severity classifier from a terminal, no database needed."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from bot.core.settings import Settings
from playbooks.severity import RulesError, Signals, classify, describe, load_rules

if TYPE_CHECKING:
    from bot.core.registry import Registry


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="+", help="the alert's text (quote it)")
    parser.add_argument("--json", action="store_true", help='print {"severity": 1-4, "reasons": [...], '
                        '"playbook": name|null}')
    parser.add_argument("--source", default="", help="where the alert came from (sentry, fly, stripe, ...)")
    parser.add_argument("--hint", default=None, help="the source's own severity word (critical, warning, ...)")
    parser.add_argument("--health", choices=["up", "down"], help="live signal: the health endpoint")
    parser.add_argument("--machines", metavar="RUNNING/TOTAL", help="live signal: Fly machines running, e.g. 0/4")
    parser.add_argument("--urgency", choices=["high", "low"], help="live signal: PagerDuty urgency")
    parser.add_argument("--priority", help="live signal: PagerDuty priority (P1-P5)")
    parser.add_argument("--errors", type=int, help="live signal: error count in the alert's window")


def signals_from(args: argparse.Namespace):
    running = total = None
    if args.machines:
        try:
            running_text, total_text = args.machines.split("/", 1)
            running, total = int(running_text), int(total_text)
        except ValueError:
            raise SystemExit("fireline classify: --machines wants RUNNING/TOTAL, for example 0/4") from None
    health = None if args.health is None else args.health == "up"
    return Signals(health_ok=health, machines_running=running, machines_total=total, pagerduty_urgency=args.urgency,
                   pagerduty_priority=args.priority, severity_hint=args.hint, error_count=args.errors)


def register(registry: Registry) -> None:
    registry.cli("classify", "classify an alert's text: SEV1-4, the reasons, the suggested playbook",
                 _arguments)(cmd_classify)


def cmd_classify(settings: Settings, args: argparse.Namespace, registry: Registry) -> int:
    try:
        rules = load_rules(settings.severity_rules or None)
    except RulesError as exc:
        print(f"fireline classify: SEVERITY_RULES {exc}", file=sys.stderr)
        return 2
    result = classify(" ".join(args.text), signals_from(args), source=args.source.lower(), rules=rules)
    if args.json:
        answer = {"severity": result.level, "reasons": list(result.reasons), "playbook": result.playbook}
        print(json.dumps(answer, ensure_ascii=False))
        return 0
    print(describe(result.level))
    print("Why:")
    for reason in result.reasons:
        print(f"  - {reason}")
    if result.row:
        print(f"Likely cause: {result.row.likely_cause} (guide, {result.row.table}: {result.row.symptom})")
        print(f"Quick fix: {result.row.quick_fix}")
    print(f"Suggested playbook: {result.playbook or 'none'}")
    return 0
