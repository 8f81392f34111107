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

A second Fireline line per database, `worker paused`, fires the same run with Fireline's worker
process stopped (SIGSTOP, then SIGCONT and a drain after it): the ack path alone, on the same terms
as the baselines, which do no work after their ack. The difference between the two lines is what the
work the commands create, running at the same time on the same cores, costs the acks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    SECRET,
    children,
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


PAUSED = ", worker paused"


@contextlib.contextmanager
def worker_paused(server_pid: int, url: str) -> Iterator[None]:
    """Stop `fireline serve`'s worker child for the duration, never while it holds SQLite's write lock."""
    workers = children(server_pid)
    for _ in range(100):
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        if not url.startswith("sqlite") or _write_lock_free(url.removeprefix("sqlite:///")):
            break
        for pid in workers:  # stopped mid-transaction: let it finish, then try again
            os.kill(pid, signal.SIGCONT)
        time.sleep(0.05)
    else:
        raise SystemExit("could not stop the worker outside a write transaction in 100 tries")
    try:
        yield
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)


def _write_lock_free(path: str) -> bool:
    connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


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
        lines = list(servers) + [name + PAUSED for name in urls]
        print(f"{'server':<36}{'command':<9}{'conc':>5}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'errors':>8}"
              f"{'drain s':>9}")
        results: dict[tuple[str, str, int], dict] = {}
        for command, text in (("list", "list"), ("declare", "declare Bench outage sev3")):
            for concurrency in (10, 50):
                rounds: dict[str, list[dict]] = {name: [] for name in lines}
                for _ in range(args.rounds):
                    for name in lines:
                        server = name.removesuffix(PAUSED)
                        port, process = servers[server]
                        warm = requests_for(port, text, min(200, args.requests), response_url)
                        asyncio.run(fire_raw(port, warm, concurrency))
                        if server in urls:
                            wait_drained(urls[server])
                        requests = requests_for(port, text, args.requests, response_url)
                        with (worker_paused(process.pid, urls[server]) if name.endswith(PAUSED)
                              else contextlib.nullcontext()):
                            result = asyncio.run(fire_raw(port, requests, concurrency))
                        # The worker's queued work would otherwise spill into the next server's run.
                        result["drain"] = wait_drained(urls[server]) if server in urls else 0.0
                        rounds[name].append(result)
                for name, runs in rounds.items():
                    result = {key: statistics.median(run[key] for run in runs)
                              for key in ("p50", "p99", "rps", "drain")}
                    result["errors"] = sum(run["errors"] for run in runs)
                    results[(name, command, concurrency)] = result
                    print(f"{name:<36}{command:<9}{concurrency:>5}{result['p50']:>9.2f}{result['p99']:>9.2f}"
                          f"{result['rps']:>9.0f}{result['errors']:>8}{result['drain']:>9.1f}", flush=True)
        print("\nratios (p99): fireline / floor, fireline / bare bolt (default)")
        for (name, command, concurrency), result in results.items():
            if name.startswith("fireline"):
                floor = results[("floor", command, concurrency)]["p99"]
                bolt = results[("bare bolt", command, concurrency)]["p99"]
                met = result["p99"] <= 2 * floor and result["p99"] < bolt and result["errors"] == 0
                verdict = "(the ack path alone)" if name.endswith(PAUSED) else "target " + ("met" if met else "NOT met")
                print(f"  {name:<34} {command:<8} c={concurrency:<3} {result['p99'] / floor:5.2f}x floor   "
                      f"{result['p99'] / bolt:5.2f}x bare bolt   {verdict}")
    finally:
        stop([process for _, process in servers.values()])
        recorder.terminate()


if __name__ == "__main__":
    main()
