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
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.signing import sign, slash_body  # noqa: E402
from tests.support.slack_recorder import SlackRecorder  # noqa: E402

SECRET = "bench-signing-secret"
PG_URL = os.environ.get("FIRELINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on {port} exited: {process.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on {port} did not start")


def start(kind: str, env: dict[str, str]) -> tuple[int, subprocess.Popen]:
    port = free_port()
    if kind == "fireline":
        cmd = [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    else:
        cmd = [sys.executable, str(REPO / "bench" / "_baselines.py"), kind, str(port)]
    process = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    wait_up(port, process)
    return port, process


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
    return {"p50": statistics.median(latencies), "p99": latencies[int(len(latencies) * 0.99) - 1],
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
    servers: dict[str, tuple[int, subprocess.Popen]] = {}
    try:
        servers["floor"] = start("floor", base_env)
        servers["bare bolt"] = start("bolt", base_env)
        servers["bare bolt (pbr)"] = start("bolt-pbr", base_env)
        for database in databases:
            if database == "sqlite":
                url = f"sqlite:///{tmp}/bench.db"
            else:
                import psycopg

                schema = f"bench_{os.getpid()}"
                with psycopg.connect(PG_URL, autocommit=True) as connection:
                    connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                    connection.execute(f'CREATE SCHEMA "{schema}"')
                url = f"{PG_URL}?options=-csearch_path%3D{schema}"
            servers[f"fireline ({database})"] = start("fireline", {**base_env, "DATABASE_URL": url})
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
        for _, process in servers.values():
            process.terminate()
        for _, process in servers.values():
            process.wait(10)
        recorder.close()


if __name__ == "__main__":
    main()
