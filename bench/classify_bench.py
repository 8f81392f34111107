"""Severity classifier: accuracy, confusion matrix and time per alert, against trivial baselines in the same run.

    python bench/classify_bench.py [--repeat 50] [--rules path/to/team-rules.yaml]

Sets: tests/data/alerts_labelled.yaml (the seed rules were tuned on it) and tests/data/alerts_holdout.yaml
(written after tuning, never tuned on: the honest figure), and tests/data/alerts_holdout_v2.yaml (131 alerts
written before the structural model existed, committed before it, never tuned on).
Baselines: "always SEV3" (the default a declared incident gets) and "keywords" (the foundation's
first classifier: eleven regexes, most severe match wins). Times are per alert, in microseconds,
measured on this machine with perf_counter_ns.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from playbooks.severity import Signals, classify, load_rules  # noqa: E402

SETS = {"labelled (tuned on)": REPO / "tests" / "data" / "alerts_labelled.yaml",
        "held out (never tuned on)": REPO / "tests" / "data" / "alerts_holdout.yaml",
        "held out v2 (written before the structural model)":
            REPO / "tests" / "data" / "alerts_holdout_v2.yaml"}

# The foundation's first classifier, kept here as the baseline it was.
KEYWORDS = [(re.compile(p, re.IGNORECASE), level) for p, level in (
    (r"\b(site|app|api|everything|prod(uction)?)\b.{0,20}\b(is )?(down|unreachable|offline)\b", 1),
    (r"\b(complete|total|full) outage\b|\boutage\b", 1),
    (r"\b502\b|\bbad gateway\b", 1),
    (r"\b(can'?t|cannot|unable to) (log ?in|sign ?in)\b|\blogin\b.{0,20}\b(broken|fail|down)", 2),
    (r"\bmessages?\b.{0,20}\b(fail|failing|not sending|lost)\b", 2),
    (r"\bwebsockets?\b.{0,20}\b(fail|failing|drop|disconnect)", 2),
    (r"\b(degraded|degradation)\b", 2),
    (r"\bno (e-?mails?)\b|\be-?mails?\b.{0,20}\b(not|fail)", 3),
    (r"\b(slow|latency|timeouts?)\b", 3),
    (r"\bui glitch\b|\bglitch\b", 3),
    (r"\btypo\b|\bstyling\b|\bcosmetic\b|\bmisaligned\b", 4),
)]


def keyword_baseline(item: dict) -> int:
    levels = [level for pattern, level in KEYWORDS if pattern.search(item["text"])]
    return min(levels) if levels else 3


def always_three(item: dict) -> int:
    return 3


def confusion(items: list[dict], predict: Callable[[dict], int]) -> list[list[int]]:
    matrix = [[0] * 4 for _ in range(4)]
    for item in items:
        matrix[item["level"] - 1][predict(item) - 1] += 1
    return matrix


def timing(items: list[dict], predict: Callable[[dict], int], repeat: int) -> tuple[float, float, float]:
    """Median, p90 and p99 in microseconds (p99 is where a busy machine's scheduling shows)."""
    samples = []
    for _ in range(repeat):
        for item in items:
            start = time.perf_counter_ns()
            predict(item)
            samples.append(time.perf_counter_ns() - start)
    samples.sort()
    return (statistics.median(samples) / 1000, samples[int(len(samples) * 0.90) - 1] / 1000,
            samples[int(len(samples) * 0.99) - 1] / 1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=50, help="times each alert is classified for timing")
    parser.add_argument("--rules", default=None, help="a SEVERITY_RULES file to measure instead of the seed rules")
    args = parser.parse_args()
    rules = load_rules(args.rules)

    def fireline(item: dict) -> int:
        return classify(item["text"], Signals.from_mapping(item.get("signals")), source=item.get("source", ""),
                        rules=rules).level

    predictors = {"fireline rules": fireline, "keywords (baseline)": keyword_baseline,
                  "always SEV3 (baseline)": always_three}
    print(f"rules: {rules.origin} ({len(rules.rules)} rules, {len(rules.modifiers)} modifiers)")
    for set_name, path in SETS.items():
        items = yaml.safe_load(path.read_text())
        print(f"\n== {set_name}: {path.relative_to(REPO)}, {len(items)} alerts")
        print(f"{'classifier':<24} {'correct':>8} {'accuracy':>9} {'median µs':>10} {'p90 µs':>8} {'p99 µs':>8}")
        for name, predict in predictors.items():
            correct = sum(predict(item) == item["level"] for item in items)
            median, p90, p99 = timing(items, predict, args.repeat)
            print(f"{name:<24} {f'{correct}/{len(items)}':>8} {correct / len(items):>9.1%} {median:>10.1f} "
                  f"{p90:>8.1f} {p99:>8.1f}")
        matrix = confusion(items, fireline)
        print("confusion matrix of fireline rules (rows: labelled SEV, columns: predicted SEV)")
        print("          " + "".join(f"{f'SEV{n}':>7}" for n in range(1, 5)))
        for row_number, row in enumerate(matrix, start=1):
            print(f"  SEV{row_number}    " + "".join(f"{count:>7}" for count in row))
        with_playbook = [item for item in items if "playbook" in item]
        if with_playbook:
            agree = sum(classify(i["text"], Signals.from_mapping(i.get("signals")), source=i.get("source", ""),
                                 rules=rules).playbook == i["playbook"] for i in with_playbook)
            print(f"playbook agrees on {agree}/{len(with_playbook)} alerts that name one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
