"""Slack's ack under web traffic: a lone `/incident list` while 500 connections load the web pages.

    python bench/web_load.py [--connections 500] [--per-connection 6] [--acks 150] [--incidents 2000]
                             [--database sqlite|postgres]

Runs a real `fireline serve` on 127.0.0.1 (its Slack Web API calls go to a loopback recording server),
seeded with `--incidents` incidents (bench/web_pages.py's seed), and measures the ack of signed
`/incident list` commands sent one at a time over one connection, three ways in the same run:

- baseline: nothing else running;
- team pages: `--connections` signed-in connections, each sending `--per-connection` GET /team/;
- status page: as many connections sending GET /?x=<n>, a new query string each time (cache-busting).

The page load runs in its own process (bounded loops: each connection sends its requests and closes),
so the figures are the server's and not the load generator's. Prints p50/p99 of the acks, their ratio
to the baseline, and the pages answered per second. No timed assertions: the numbers are for a person
to read, on the machine in front of them. Slack gives up on an ack after 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    SECRET,
    database_url,
    percentile,
    read_response,
    recorder_process,
    signed_request,
    start_server,
    stop,
)

from tests.support.signing import slash_body  # noqa: E402

WEB_SECRET = "bench-web-secret-0123456789abcdef"


def seed(url: str, incidents: int) -> str:
    """The schema and `incidents` incidents; returns a signed-in session cookie for /team/."""
    from bench.web_pages import seed as seed_incidents
    from bot.app.assembly import build_container
    from bot.core.settings import Settings
    from bot.adapters.web import auth

    settings = Settings(database_url=url, slack_signing_secret=SECRET, slack_bot_token=None,
                        web_session_secret=WEB_SECRET, provider_status_pages="", _env_file=None)
    container = build_container(settings)
    seed_incidents(container.engine, incidents)
    container.engine.dispose()
    return auth.new_session(settings, "U0USER1", "T1", "Bench Person")[1]


async def _load(port: int, path: str, connections: int, per_connection: int, cookie: str) -> tuple[int, int, float]:
    """`connections` keep-alive connections, each sending `per_connection` GETs; (answered, errors, seconds)."""
    answered = errors = 0
    counter = iter(range(10**9))

    async def one() -> None:
        nonlocal answered, errors
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            errors += per_connection
            return
        try:
            for _ in range(per_connection):
                target = path.format(n=next(counter))
                writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: fireline_session={cookie}"
                             "\r\n\r\n".encode())
                if await read_response(reader) == 200:
                    answered += 1
                else:
                    errors += 1
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    return answered, errors, time.perf_counter() - began


def load_process(port: int, path: str, connections: int, per_connection: int, cookie: str, out) -> None:
    out.send(asyncio.run(_load(port, path, connections, per_connection, cookie)))


async def acks(port: int, count: int, response_url: str, running=lambda: True) -> list[float]:
    """Lone signed `/incident list` commands, one at a time, 20 ms apart; latency of each (ms)."""
    latencies: list[float] = []
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for n in range(count):
            if not running():
                break
            request = signed_request(port, slash_body("list", response_url=response_url,
                                                      trigger_id=f"{time.time_ns()}.{n}"))
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:") and int(line.split(b":", 1)[1]):
                    await reader.readexactly(int(line.split(b":", 1)[1]))
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.02)
    finally:
        writer.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--per-connection", type=int, default=6)
    parser.add_argument("--acks", type=int, default=150)
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="fireline-webload-")
    url = database_url(args.database, tmp, "webload")
    cookie = seed(url, args.incidents)
    recorder_port, recorder = recorder_process()
    env = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": "xoxb-bench", "LOG_LEVEL": "WARNING",
           "SLACK_API_URL": f"http://127.0.0.1:{recorder_port}/api/", "DATABASE_URL": url,
           "WEB_SESSION_SECRET": WEB_SECRET}
    response_url = f"http://127.0.0.1:{recorder_port}/response/cmd"
    port, server = start_server("fireline", env)
    print(f"{args.database}, {args.incidents:,} incidents; acks: lone `/incident list`, {args.acks} per line; "
          f"load: {args.connections} connections x {args.per_connection} requests")
    print(f"{'while':<34}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'p99 / baseline':>16}{'pages/s':>9}{'errors':>8}")
    try:
        asyncio.run(acks(port, 30, response_url))  # warm: connections, caches, the worker
        baseline = None
        for label, path in (("baseline (no page requests)", None), ("team pages (GET /team/)", "/team/"),
                            ("status page (GET /?x=<n>)", "/?x={n}")):
            rate, errors = "", ""
            if path is None:
                latencies = asyncio.run(acks(port, args.acks, response_url))
            else:
                receive, send = multiprocessing.Pipe(duplex=False)
                loader = multiprocessing.Process(target=load_process, args=(port, path, args.connections,
                                                                             args.per_connection, cookie, send))
                loader.start()
                time.sleep(0.5)  # the crowd is connected and waiting on its answers
                latencies = asyncio.run(acks(port, args.acks, response_url, running=loader.is_alive))
                answered, failed, seconds = receive.recv()
                loader.join()
                rate, errors = f"{answered / seconds:.0f}", str(failed)
            if not latencies:
                print(f"{label:<34}the load ended before the first ack: raise --per-connection")
                continue
            p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
            baseline = baseline or p99
            print(f"{label:<34}{p50:>9.1f}{p99:>9.1f}{max(latencies):>9.1f}{p99 / baseline:>15.1f}x{rate:>9}"
                  f"{errors:>8}" + ("" if len(latencies) == args.acks else
                                    f"  (load ended after {len(latencies)} acks)"), flush=True)
    finally:
        stop([server])
        recorder.terminate()


if __name__ == "__main__":
    main()
