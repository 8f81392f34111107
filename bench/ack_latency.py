"""Ack latency of `fireline serve` against two baselines on the same server stack, measured in one run.

    python bench/ack_latency.py [--requests 1500] [--database sqlite|postgres|both]

Fires signed slash commands (`/incident list` and `/incident declare`) at 10 and 50 concurrent
connections at: the floor (signature check + 200), a bare slack-bolt app that only acks (default
settings, and with process_before_response=True), and Fireline. Prints p50/p99 (ms), requests/s,
errors, and Fireline's ratios to the floor and to bare Bolt. Target: Fireline's p99 within 2x of
the floor and below bare Bolt's, no errors.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SECRET, database_url, percentile, start_server, stop  # noqa: E402

from tests.support.signing import sign, slash_body  # noqa: E402
from tests.support.slack_recorder import SlackRecorder  # noqa: E402


async def fire(port: int, texts: list[str], concurrency: int, total: int, response_url: str) -> dict:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        async def one_worker() -> None:
            nonlocal errors
            for n in counter:
                body = slash_body(texts[n % len(texts)], response_url=response_url, trigger_id=f"{time.time_ns()}.{n}")
                headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, SECRET)}
                started = time.perf_counter()
                try:
                    response = await client.post(f"http://127.0.0.1:{port}/slack/events", content=body,
                                                 headers=headers)
                    if response.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append((time.perf_counter() - started) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(one_worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"p50": statistics.median(latencies), "p99": percentile(latencies, 0.99),
            "rps": total / elapsed, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="requests per server and level")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="sqlite")
    args = parser.parse_args()
    recorder = SlackRecorder()
    tmp = tempfile.mkdtemp(prefix="fireline-bench-")
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    base_env = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_API_URL": recorder.api_url,
                "LOG_LEVEL": "WARNING"}
    servers: dict[str, tuple] = {}
    try:
        servers["floor"] = start_server("floor", base_env)
        servers["bare bolt"] = start_server("bolt", base_env)
        servers["bare bolt (pbr)"] = start_server("bolt-pbr", base_env)
        for database in databases:
            url = database_url(database, tmp, "ack")
            servers[f"fireline ({database})"] = start_server("fireline", {**base_env, "DATABASE_URL": url})
        print(f"{'server':<22}{'command':<9}{'conc':>5}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'errors':>8}")
        results: dict[tuple[str, str, int], dict] = {}
        for command, texts in (("list", ["list"]), ("declare", ["declare Bench outage sev3"])):
            for concurrency in (10, 50):
                for name, (port, _) in servers.items():
                    asyncio.run(fire(port, texts, concurrency, min(200, args.requests), recorder.response_url()))
                    result = asyncio.run(fire(port, texts, concurrency, args.requests, recorder.response_url()))
                    results[(name, command, concurrency)] = result
                    print(f"{name:<22}{command:<9}{concurrency:>5}{result['p50']:>9.2f}{result['p99']:>9.2f}"
                          f"{result['rps']:>9.0f}{result['errors']:>8}")
        print("\nratios (p99): fireline / floor, fireline / bare bolt (default)")
        for (name, command, concurrency), result in results.items():
            if name.startswith("fireline"):
                floor = results[("floor", command, concurrency)]["p99"]
                bolt = results[("bare bolt", command, concurrency)]["p99"]
                print(f"  {name:<20} {command:<8} c={concurrency:<3} {result['p99'] / floor:5.2f}x floor   "
                      f"{result['p99'] / bolt:5.2f}x bare bolt")
    finally:
        stop([process for _, process in servers.values()])
        recorder.close()


if __name__ == "__main__":
    main()
