"""Ack latency of `fireline serve` against two baselines on the same server stack, measured in one run.

    python bench/ack_latency.py [--requests 1500] [--rounds 3] [--database sqlite|postgres|both]

Fires signed slash commands (`/incident list` and `/incident declare`) at 10 and 50 concurrent
connections at: the floor (signature check + 200), a bare slack-bolt app that only acks (default
settings, and with process_before_response=True), and Fireline. Prints p50/p99 (ms), requests/s,
errors, and Fireline's ratios to the floor and to bare Bolt. The client is a bare asyncio one with
requests signed beforehand, and the recording Slack server runs in its own process, so the figures
are the servers' and not the load generator's. After each Fireline run the bench waits until
Fireline's worker has drained what the run queued (the `drain s` column), so no run slows the next.
Each figure is the median of `--rounds` runs, the servers taking turns within a round, so a moment
of noise on the machine (a p99 is the tenth-worst of a thousand) does not decide a ratio.
Target: Fireline's p99 within 2x of the floor and below bare Bolt's, no errors.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    SECRET,
    database_url,
    fire_raw,
    recorder_process,
    signed_request,
    start_server,
    stop,
    wait_drained,
)

from tests.support.signing import slash_body  # noqa: E402


def requests_for(port: int, text: str, count: int, response_url: str) -> list[bytes]:
    """Signed slash commands, each with its own trigger id (Fireline drops a repeated one)."""
    return [signed_request(port, slash_body(text, response_url=response_url, trigger_id=f"{time.time_ns()}.{n}"))
            for n in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="requests per server and level")
    parser.add_argument("--rounds", type=int, default=3, help="runs per figure; the median is printed")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="sqlite")
    args = parser.parse_args()
    recorder_port, recorder = recorder_process()
    api_url = f"http://127.0.0.1:{recorder_port}/api/"
    response_url = f"http://127.0.0.1:{recorder_port}/response/cmd"
    tmp = tempfile.mkdtemp(prefix="fireline-bench-")
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    base_env = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_API_URL": api_url,
                "LOG_LEVEL": "WARNING"}
    servers: dict[str, tuple] = {}
    urls: dict[str, str] = {}
    try:
        servers["floor"] = start_server("floor", base_env)
        servers["bare bolt"] = start_server("bolt", base_env)
        servers["bare bolt (pbr)"] = start_server("bolt-pbr", base_env)
        for database in databases:
            url = database_url(database, tmp, "ack")
            servers[f"fireline ({database})"] = start_server("fireline", {**base_env, "DATABASE_URL": url})
            urls[f"fireline ({database})"] = url
        print(f"{'server':<22}{'command':<9}{'conc':>5}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'errors':>8}"
              f"{'drain s':>9}")
        results: dict[tuple[str, str, int], dict] = {}
        for command, text in (("list", "list"), ("declare", "declare Bench outage sev3")):
            for concurrency in (10, 50):
                rounds: dict[str, list[dict]] = {name: [] for name in servers}
                for _ in range(args.rounds):
                    for name, (port, _) in servers.items():
                        warm = requests_for(port, text, min(200, args.requests), response_url)
                        asyncio.run(fire_raw(port, warm, concurrency))
                        if name in urls:
                            wait_drained(urls[name])
                        result = asyncio.run(fire_raw(port, requests_for(port, text, args.requests, response_url),
                                                      concurrency))
                        # The worker's queued work would otherwise spill into the next server's run.
                        result["drain"] = wait_drained(urls[name]) if name in urls else 0.0
                        rounds[name].append(result)
                for name, runs in rounds.items():
                    result = {key: statistics.median(run[key] for run in runs)
                              for key in ("p50", "p99", "rps", "drain")}
                    result["errors"] = sum(run["errors"] for run in runs)
                    results[(name, command, concurrency)] = result
                    print(f"{name:<22}{command:<9}{concurrency:>5}{result['p50']:>9.2f}{result['p99']:>9.2f}"
                          f"{result['rps']:>9.0f}{result['errors']:>8}{result['drain']:>9.1f}", flush=True)
        print("\nratios (p99): fireline / floor, fireline / bare bolt (default)")
        for (name, command, concurrency), result in results.items():
            if name.startswith("fireline"):
                floor = results[("floor", command, concurrency)]["p99"]
                bolt = results[("bare bolt", command, concurrency)]["p99"]
                met = result["p99"] <= 2 * floor and result["p99"] < bolt and result["errors"] == 0
                print(f"  {name:<20} {command:<8} c={concurrency:<3} {result['p99'] / floor:5.2f}x floor   "
                      f"{result['p99'] / bolt:5.2f}x bare bolt   target {'met' if met else 'NOT met'}")
    finally:
        stop([process for _, process in servers.values()])
        recorder.terminate()


if __name__ == "__main__":
    main()
