"""Resident memory of `fireline serve`: idle, after each checkpoint of stored incidents, and after listing them.

    python bench/memory.py [--checkpoints 2000,10000] [--concurrency 10] [--database sqlite|postgres]

Incidents are declared through the server itself (signed slash commands), so every one is stored
with its timeline, channel and cards as in production. The baseline is the idle size of the same
process in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SECRET, database_url, pss_tree_mb, rss_tree_mb, start_server, stop  # noqa: E402

from tests.support.signing import sign, slash_body  # noqa: E402
from tests.support.slack_recorder import SlackRecorder  # noqa: E402


ROWS: list[tuple[str, float, float, float, float, float, float]] = []
# (label, rss, pss, rss / idle, pss / idle, anonymous pss, its ratio to idle)


def show(label: str, pid: int, idle: tuple[float, float, float] | None = None,
         note: str = "") -> tuple[float, float, float]:
    """Print the server's and its worker child's resident sizes; returns (RSS, PSS, anonymous PSS) totals.

    Anonymous PSS leaves out library pages (file-backed), whose share of PSS moved by up to 7 MB between
    runs of the same code on the shared machine with the number of other Python processes mapping the
    same libpython; the heap the server shares with its forked child is all anonymous.
    """
    server, worker = rss_tree_mb(pid)
    pss_server, pss_worker = pss_tree_mb(pid)
    anon_server, anon_worker = pss_tree_mb(pid, "Pss_Anon")
    total, pss, anon = server + worker, pss_server + pss_worker, anon_server + anon_worker
    ratio = f"  {total / idle[0]:.2f}x idle" if idle else ""
    print(f"{label:<30}{total:7.1f} MB (server {server:.1f} + worker {worker:.1f}){ratio}"
          f"{'; ' + note if note else ''}")
    pss_ratio = f"  {pss / idle[1]:.2f}x idle" if idle else ""
    print(f"{'':<30}{pss:7.1f} MB proportional (PSS: server {pss_server:.1f} + worker "
          f"{pss_worker:.1f}; shared pages counted once){pss_ratio}")
    anon_ratio = f"  {anon / idle[2]:.2f}x idle" if idle else ""
    print(f"{'':<30}{anon:7.1f} MB anonymous PSS (server {anon_server:.1f} + worker {anon_worker:.1f}){anon_ratio}")
    ROWS.append((label.rstrip(":"), total, pss, total / idle[0] if idle else 1.0, pss / idle[1] if idle else 1.0,
                 anon, anon / idle[2] if idle else 1.0))
    return total, pss, anon


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default="2000,10000",
                        help="incident counts at which to measure, comma-separated (cumulative)")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    recorder = SlackRecorder()
    env = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_API_URL": recorder.api_url,
           "LOG_LEVEL": "WARNING", "DATABASE_URL": database_url(args.database, tempfile.mkdtemp(), "mem")}
    port, process = start_server("fireline", env)
    url = f"http://127.0.0.1:{port}/slack/events"

    def send(text: str) -> int:
        body = slash_body(text, response_url=recorder.response_url())
        with httpx.Client(timeout=30) as client:
            return client.post(url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                           **sign(body, SECRET)}).status_code

    try:
        time.sleep(2)
        idle = show("idle:", process.pid)
        began = time.perf_counter()
        done = refused = 0  # a refused declare makes no channel: wait only for those accepted
        for checkpoint in sorted(int(n) for n in args.checkpoints.split(",")):
            with ThreadPoolExecutor(args.concurrency) as pool:
                statuses = list(pool.map(send, (f"declare Memory probe {n} sev4" for n in range(done, checkpoint))))
            refused += sum(1 for s in statuses if s != 200)
            done = checkpoint
            while sum(1 for c in list(recorder.calls) if c.method == "conversations.create") < done - refused:
                time.sleep(0.2)
                if time.perf_counter() - began > 3600:
                    break
            time.sleep(2)  # the worker's last jobs settle
            errors = sum(1 for s in statuses if s != 200)
            show(f"after {done:,} incidents:", process.pid, idle,
                 f"{time.perf_counter() - began:.0f} s, {errors} errors")
        for _ in range(20):
            send("list")
        time.sleep(2)
        show("after 20 `/incident list`:", process.pid, idle)
    finally:
        stop([process])
        recorder.close()
    print(f"\nMarkdown ({args.database}; `fireline serve` and its forked worker; ratios to idle in the same run):\n")
    print("| state | RSS MB | PSS MB | RSS / idle | PSS / idle | anonymous PSS MB | anon. / idle |")
    print("|---|---|---|---|---|---|---|")
    for label, rss, pss, rss_ratio, pss_ratio, anon, anon_ratio in ROWS:
        print(f"| {label} | {rss:.1f} | {pss:.1f} | {rss_ratio:.2f}x | {pss_ratio:.2f}x | {anon:.1f} "
              f"| {anon_ratio:.2f}x |")


if __name__ == "__main__":
    main()
