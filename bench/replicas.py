"""1, 2 and 4 `fireline serve` replicas on one PostgreSQL under a mixed burst, Slack at production latency.

    python bench/replicas.py [--replicas 1,2,4] [--declares 40] [--incidents 40] [--alerts 8]
                             [--latency-ms 80] [--connect-ms 60] [--connections 4] [--markdown]

Each round gets a fresh PostgreSQL schema, n `fireline serve` processes (each with its forked worker child)
and the Slack stand-in at `--latency-ms` a call (`--connect-ms` per new connection), PagerDuty's Events API
stand-in at the same latency. `--incidents` SEV3 incidents are declared first (not timed), then the burst,
spread round-robin over the replicas at `--connections` kept-alive connections per replica:

- `--declares` signed `/incident declare ... sev2` (a channel, two cards and a page each);
- one Acknowledge press per prepared incident, clicked twice, the second click on another replica;
- `--alerts` signed alert deliveries (half SEV1-level, half lower: two posting lanes of #incidents).

Measured: the acks (p50/p99 of every request), jobs per second (jobs due in the burst, from its first
request to the last job's finish), time from the request to Slack's answer to the first call that shows it,
per kind, CPU seconds the replicas (servers and workers) used per job, and exactly-once: every due job ran
once and succeeded, one channel, one #incidents card and one page per declare, one acknowledgement per
incident however often and wherever it was clicked, one message per alert (tests/support/replicas.py).

The ratio column compares each round's jobs per second with the 1-replica round of the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore", category=DeprecationWarning)

from _common import children, database_url, percentile  # noqa: E402

from tests.support import replicas as rep  # noqa: E402
from tests.support.slack_recorder import Call  # noqa: E402

STAND_IN = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.support.slack_recorder import SlackRecorder
recorder = SlackRecorder(latency=float(sys.argv[2]), connect_cost=float(sys.argv[3]))
print(recorder.port, flush=True)
for _ in sys.stdin:  # each line asks for the calls so far
    calls = [{"method": c.method, "data": c.data, "at": c.at, "answered": c.answered} for c in list(recorder.calls)]
    sys.stdout.write(json.dumps(calls) + "\\n")
    sys.stdout.flush()
"""


class SlackInItsOwnProcess:
    """The recording Slack stand-in (tests/support/slack_recorder.py) in a process of its own.

    Why: in the bench's process its handler threads (parsing, Block Kit checks) would share one interpreter lock
    with the client, and the stand-in's own work could be what four replicas wait on. Measured, it was not:
    jobs/s at 2 and 4 replicas against 1 were 0.95x and 1.17x with the stand-in in the bench's process, 1.22x
    and 1.19x in its own, on the same loaded machine.
    `Call.at`/`answered` are CLOCK_MONOTONIC, the same clock in every process.
    """

    def __init__(self, latency: float, connect_cost: float) -> None:
        import subprocess

        self.process = subprocess.Popen([sys.executable, "-c", STAND_IN, str(rep.REPO), str(latency),
                                         str(connect_cost)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())
        self.api_url = f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "cmd") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    @property
    def calls(self) -> list[Call]:
        self.process.stdin.write("calls\n")
        self.process.stdin.flush()
        return [Call(c["method"], c["data"], {}, at=c["at"], answered=c["answered"])
                for c in json.loads(self.process.stdout.readline())]

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the processes and their children (the worker) so far."""
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        for one in [pid, *children(pid)]:
            try:
                fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def one_round(replicas: int, args: argparse.Namespace, tmp: str) -> dict[str, object]:
    recorder = SlackInItsOwnProcess(args.latency_ms / 1000, args.connect_ms / 1000)
    pd = rep.PagerDutyEvents(latency=args.latency_ms / 1000)
    url = database_url("postgres", tmp, f"replicas{replicas}")
    env = rep.cluster_env(url, recorder.api_url, pd.url, WORKERS=str(args.workers))
    cluster = rep.start_cluster(replicas, env)
    try:
        incidents = rep.prepare_incidents(cluster, recorder.response_url, args.incidents)
        requests = rep.mixed_load(cluster.ports, recorder.response_url, incidents, declares=args.declares,
                                  alerts=args.alerts)
        since = len(recorder.calls)
        started_at = datetime.now(UTC)
        pids = [p.pid for p in cluster.processes]
        cpu_before = cpu_seconds(pids)
        began = time.monotonic()
        sent = rep.send(requests, args.connections)
        rep.drained(url)
        wall = time.monotonic() - began
        cpu = cpu_seconds(pids) - cpu_before
        time.sleep(max(1.0, 3 * args.latency_ms / 1000))  # the last answers of the stand-ins are in
        calls = recorder.calls[since:]
        # the burst's jobs that were due (timers it set for later, like ack deadlines, are not work done)
        rows = [row for row in rep.jobs_summary(url)["rows"] if row.created_at >= started_at
                and row.finished_at is not None]
        finished = [row.finished_at for row in rows if row.finished_at is not None]
        span = (max(finished) - started_at).total_seconds() if finished else float("nan")
        verdict = rep.check_exactly_once(url, recorder.calls, pd, requests, datetime.now(UTC))
        workers = Counter(row.locked_by.rsplit(":", 2)[1] for row in rows if row.locked_by)
        to_slack: dict[str, list[float]] = {}
        missing = 0
        for request in requests:
            at = rep.first_effect(request, calls)
            if at is None:
                missing += 1
                continue
            to_slack.setdefault(request.kind, []).append((at - request.sent) * 1000)
        acks = [r.acked_ms for r in requests]
        kinds = Counter(row.kind for row in rows)
        return {"replicas": replicas, "requests": len(requests), "sent_s": sent, "wall_s": wall,
                "ack_p50": percentile(acks, 0.5), "ack_p99": percentile(acks, 0.99),
                "jobs": len(rows), "jobs_per_s": len(rows) / span, "span_s": span, "cpu_s": cpu,
                "to_slack": to_slack, "missing": missing, "problems": verdict.problems,
                "claimers": len(workers), "kinds": kinds, "incidents": len(incidents)}
    finally:
        cluster.stop()
        recorder.close()
        pd.close()


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.0f} / {percentile(values, 0.99):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", default="1,2,4")
    parser.add_argument("--declares", type=int, default=40)
    parser.add_argument("--incidents", type=int, default=40)
    parser.add_argument("--alerts", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=80.0)
    parser.add_argument("--connect-ms", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=4, help="kept-alive client connections per replica")
    parser.add_argument("--workers", type=int, default=2, help="WORKERS: job threads per replica's worker")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="fireline-replicas-")
    results = []
    for n in [int(x) for x in args.replicas.split(",")]:
        result = one_round(n, args, tmp)
        results.append(result)
        print(f"{n} replica(s): {result['requests']} requests sent in {result['sent_s']:.1f} s, "
              f"{result['jobs']} jobs done in {result['span_s']:.1f} s by {result['claimers']} worker processes; "
              f"CPU {result['cpu_s']:.1f} s ({result['cpu_s'] / result['span_s']:.2f} cores); "
              f"jobs: {dict(result['kinds'])}", flush=True)
        for problem in result["problems"][:10]:
            print(f"   EXACTLY-ONCE PROBLEM: {problem}")
        if result["missing"]:
            print(f"   {result['missing']} requests showed nothing in Slack")
    base = results[0]["jobs_per_s"]
    print()
    print(f"Slack and PagerDuty stand-ins at {args.latency_ms:.0f} ms a call (+{args.connect_ms:.0f} ms per new "
          f"connection); WORKERS={args.workers}; each round: {results[0]['requests']} requests "
          f"({args.declares} SEV2 declares, {2 * args.incidents} Acknowledge clicks on {args.incidents} incidents, "
          f"{args.alerts} alerts); ms as p50 / p99")
    print()
    print("| replicas | acks (ms) | jobs/s | vs 1 | CPU s/job | declare → Slack | ack → Slack | alert → Slack "
          "| exactly once |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        slack = r["to_slack"]
        once = "yes" if not r["problems"] else f"**no** ({len(r['problems'])} problems)"
        print(f"| {r['replicas']} | {r['ack_p50']:.1f} / {r['ack_p99']:.1f} | {r['jobs_per_s']:.1f} "
              f"| {r['jobs_per_s'] / base:.2f}x | {r['cpu_s'] / max(1, r['jobs']):.3f} "
              f"| {summary(slack.get('declare', []))} | {summary(slack.get('ack', []))} "
              f"| {summary(slack.get('alert', []))} | {once} |")


if __name__ == "__main__":
    main()
