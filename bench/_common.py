"""Shared bench plumbing: start servers on loopback, sign requests, wait for them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.ports import free_port  # noqa: E402,F401 - the benches import these from here
from tests.support.processes import jobs_waiting, read_response, stop, wait_drained, wait_up  # noqa: E402,F401

SECRET = "bench-signing-secret"
PG_URL = os.environ.get("FIRELINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def start_server(kind: str, env: dict[str, str]) -> tuple[int, subprocess.Popen]:
    """kind: "fireline" (`fireline serve`) or a baseline of bench/_baselines.py."""
    port = free_port()
    if kind == "fireline":
        cmd = [sys.executable, "-m", "bot.app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    else:
        cmd = [sys.executable, str(REPO / "bench" / "_baselines.py"), kind, str(port)]
    process = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    wait_up(port, process)
    return port, process


def database_url(kind: str, tmp: str, tag: str) -> str:
    """A fresh SQLite file or a fresh PostgreSQL schema."""
    if kind == "sqlite":
        return f"sqlite:///{tmp}/{tag}.db"
    import psycopg

    schema = f"bench_{tag}_{os.getpid()}"
    with psycopg.connect(PG_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        connection.execute(f'CREATE SCHEMA "{schema}"')
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * fraction) - 1)] if fraction < 1 else ordered[-1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pss_mb(pid: int, field: str = "Pss") -> float:
    """Proportional set size: pages shared with another process (the worker child maps the same
    extension modules and libraries as the server) count once in all, split between the sharers.
    What the two processes take from the machine together is the sum of their PSS, not of their RSS.
    `field="Pss_Anon"`: the anonymous part only (the heap, which the server shares with its forked child
    alone), without library pages whose share depends on how many other Python processes run."""
    path = Path(f"/proc/{pid}/smaps_rollup")
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def rss_tree_mb(pid: int) -> tuple[float, float]:
    """Resident size of a process and of its children (`fireline serve` and its worker)."""
    return rss_mb(pid), sum(rss_mb(child) for child in children(pid))


def pss_tree_mb(pid: int, field: str = "Pss") -> tuple[float, float]:
    """Proportional set size of a process and of its children (`field`: see `pss_mb`)."""
    return pss_mb(pid, field), sum(pss_mb(child, field) for child in children(pid))


def signed_request(port: int, body: str) -> bytes:
    """One whole HTTP/1.1 POST to /slack/events, signed now (valid for Slack's 5 minutes)."""
    from tests.support.signing import sign

    payload = body.encode()
    headers = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/x-www-form-urlencoded",
               "Content-Length": str(len(payload)), **sign(body, SECRET)}
    head = "POST /slack/events HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + payload


async def fire_raw(port: int, requests: list[bytes], concurrency: int) -> dict:
    """Send prepared requests over `concurrency` keep-alive connections; latency per request.

    A bare asyncio client: an HTTP library's own overhead (httpx costs milliseconds per request on two
    cores) would otherwise be measured instead of the servers. Requests are built and signed beforehand.
    """
    import asyncio

    latencies: list[float] = []
    errors = 0
    pending = iter(requests)

    async def one_connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for request in pending:
                started = time.perf_counter()
                writer.write(request)
                status = await read_response(reader)
                latencies.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99), "rps": len(requests) / elapsed,
            "errors": errors + len(requests) - len(latencies)}


RECORDER_SCRIPT = """
import sys, time
sys.path.insert(0, sys.argv[1])
from tests.support.slack_recorder import SlackRecorder
recorder = SlackRecorder()
print(recorder.port, flush=True)
while True:
    time.sleep(3600)
"""


def recorder_process() -> tuple[int, subprocess.Popen]:
    """A recording Slack Web API in its own process, so serving Fireline's calls does not slow the client."""
    process = subprocess.Popen([sys.executable, "-c", RECORDER_SCRIPT, str(REPO)], stdout=subprocess.PIPE)
    return int(process.stdout.readline()), process


