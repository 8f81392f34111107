"""End to end: from a signed `/incident declare` to the incident card arriving at Slack (the recorder).

    python bench/e2e_declare.py [--count 100] [--database sqlite|postgres|both]

Runs `fireline serve` with its Web API calls going to a loopback recording server, sends declares
one after another, and measures until the card's chat.postMessage to #incidents arrives.
Prints p50/p99 (ms) per database, and the ack time alone as the baseline of the same run.
"""

from __future__ import annotations

import argparse
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


def card_count(recorder: SlackRecorder) -> int:
    return sum(1 for call in list(recorder.calls) if call.method == "chat.postMessage"
               and call.data.get("channel") == "#incidents")


def run(database: str, count: int, tmp: str) -> tuple[list[float], list[float]]:
    recorder = SlackRecorder()
    env = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_API_URL": recorder.api_url,
           "LOG_LEVEL": "WARNING", "DATABASE_URL": database_url(database, tmp, "e2e")}
    port, process = start_server("fireline", env)
    card_latency, ack_latency = [], []
    try:
        with httpx.Client(timeout=10) as client:
            for n in range(count + 5):
                before = card_count(recorder)
                body = slash_body(f"declare Bench outage {n} sev3", response_url=recorder.response_url())
                started = time.perf_counter()
                response = client.post(f"http://127.0.0.1:{port}/slack/events", content=body,
                                       headers={"Content-Type": "application/x-www-form-urlencoded",
                                                **sign(body, SECRET)})
                acked = time.perf_counter()
                assert response.status_code == 200, response.text
                deadline = started + 10
                while card_count(recorder) == before and time.perf_counter() < deadline:
                    time.sleep(0.0005)
                done = time.perf_counter()
                if n >= 5:  # the first few warm up connections and caches
                    ack_latency.append((acked - started) * 1000)
                    card_latency.append((done - started) * 1000)
    finally:
        stop([process])
        recorder.close()
    return card_latency, ack_latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="fireline-e2e-")
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    print(f"{'database':<10}{'ack p50':>9}{'ack p99':>9}{'card p50':>10}{'card p99':>10}   (ms, {args.count} declares)")
    for database in databases:
        cards, acks = run(database, args.count, tmp)
        print(f"{database:<10}{statistics.median(acks):>9.1f}{percentile(acks, 0.99):>9.1f}"
              f"{statistics.median(cards):>10.1f}{percentile(cards, 0.99):>10.1f}")


if __name__ == "__main__":
    main()
