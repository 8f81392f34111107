"""Alert storm: 1,000 signed alerts over 100 dedup keys in one burst at `POST /webhooks/alerts`.

    python bench/alert_storm.py [--alerts 1000] [--keys 100] [--concurrency 20]
                                [--database sqlite|postgres|both] [--drain-timeout 400]

Runs `fireline serve` (its Slack Web API calls go to a loopback recording server), fires the burst
with `--concurrency` connections, then waits for the paced thread posts to drain. Prints, per
database: the HTTP answers (no 5xx allowed), alerts/s accepted, the alerts stored (rows and the
sum of their repeat counts, read from the database) and the alerts shown at the recorder (threads,
and alerts listed in digests), with the time the paced jobs took to show them all. Posting is paced
at Slack's one message per second per channel (two messages per thread: the alert and the analysis),
and a channel is booked at most a minute ahead: ~31 threads, the rest in a digest a minute later.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SECRET, database_url, start_server, stop  # noqa: E402

from bot.features.alerts.webhook import sign as sign_alert  # noqa: E402
from tests.support.slack_recorder import SlackRecorder  # noqa: E402

ALERT_SECRET = "bench-alert-secret"


def bodies(count: int, keys: int) -> list[bytes]:
    return [json.dumps({"title": f"Synthetic check {n % keys} failed on cgraph-api", "source": "checkly",
                        "dedup_key": f"storm-{n % keys}", "text": f"delivery {n}"}).encode()
            for n in range(count)]


async def burst(port: int, payloads: list[bytes], concurrency: int) -> tuple[Counter, float]:
    statuses: Counter = Counter()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in payloads:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, limits=limits) as client:
        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                try:
                    response = await client.post("/webhooks/alerts", content=body, headers={
                        "Content-Type": "application/json", "X-Fireline-Signature": sign_alert(body, ALERT_SECRET)})
                    statuses[response.status_code] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return statuses, time.perf_counter() - started


def stored(url: str) -> tuple[int, int]:
    """(alert rows, sum of their counts): every delivery is either a row or a counted repeat."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows, total = connection.execute(text("SELECT count(*), coalesce(sum(count), 0) FROM alerts")).one()
    finally:
        engine.dispose()
    return int(rows), int(total)


def threads(recorder: SlackRecorder) -> int:
    return sum(1 for call in list(recorder.calls) if call.method == "chat.postMessage"
               and not call.data.get("thread_ts") and "Synthetic check" in call.text()
               and "more alerts*" not in call.text())


def digested(recorder: SlackRecorder) -> int:
    """Alerts listed in digest messages: past a minute of threads, a channel gets one message a minute."""
    found = (re.search(r"\*(\d+) more alerts\*", call.text()) for call in list(recorder.calls)
             if call.method == "chat.postMessage")
    return sum(int(match.group(1)) for match in found if match)


def run(database: str, args: argparse.Namespace, tmp: str) -> dict[str, object]:
    recorder = SlackRecorder()
    url = database_url(database, tmp, "storm")
    env = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_API_URL": recorder.api_url,
           "ALERTS_WEBHOOK_SECRET": ALERT_SECRET, "LOG_LEVEL": "WARNING", "DATABASE_URL": url}
    port, process = start_server("fireline", env)
    try:
        statuses, seconds = asyncio.run(burst(port, bodies(args.alerts, args.keys), args.concurrency))
        burst_done = time.perf_counter()
        rows, total = stored(url)
        deadline = burst_done + args.drain_timeout
        while threads(recorder) + digested(recorder) < args.keys and time.perf_counter() < deadline \
                and process.poll() is None:
            time.sleep(0.2)
        drained = time.perf_counter() - burst_done
        posted, listed = threads(recorder), digested(recorder)
    finally:
        stop([process])
        recorder.close()
    return {"statuses": statuses, "seconds": seconds, "rows": rows, "total": total, "threads": posted, "listed": listed,
            "drain": drained, "errors_5xx": sum(n for code, n in statuses.items()
                                                 if not isinstance(code, int) or code >= 500)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--drain-timeout", type=float, default=400.0, help="seconds to wait for the threads")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="fireline-storm-")
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    print(f"{args.alerts} alerts over {args.keys} dedup keys, {args.concurrency} concurrent connections")
    failed = False
    for database in databases:
        result = run(database, args, tmp)
        answers = ", ".join(f"{code}: {n}" for code, n in sorted(result["statuses"].items(), key=str))
        ok = (result["errors_5xx"] == 0 and result["rows"] == args.keys and result["total"] == args.alerts
              and result["threads"] + result["listed"] == args.keys)
        failed = failed or not ok
        print(f"{database}:")
        print(f"  answers        {answers}  (5xx or transport errors: {result['errors_5xx']})")
        print(f"  throughput     {args.alerts / result['seconds']:.0f} alerts/s "
              f"({result['seconds'] * 1000:.0f} ms for the burst)")
        print(f"  stored         {result['rows']} alerts holding {result['total']} deliveries "
              f"(expected {args.keys} holding {args.alerts})")
        print(f"  shown          {result['threads']} threads + {result['listed']} alerts in digests at the recorder "
              f"(expected {args.keys} in all), drained {result['drain']:.1f} s after the burst")
        print(f"  verdict        {'OK' if ok else 'FAILED'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
