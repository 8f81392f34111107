"""Job claims on one PostgreSQL from 1, 2 and 4 replicas' workers: claims per second with no-op jobs.

    python bench/job_claims.py [--jobs 2000] [--threads 2] [--replicas 1,2,4] [--database postgres|sqlite]

What the queue itself costs, without Slack: each replica is a container with its own engine (its own
connection pool, as a `fireline serve` process has), `--threads` worker threads each, running
`bot.service.jobs.run_due` until `--jobs` queued no-op jobs are done. Every job must run exactly once.
The ratio is against the 1-replica round of the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore", category=DeprecationWarning)

from _common import database_url  # noqa: E402

from bot.app.assembly import build_container  # noqa: E402
from bot.service import jobs  # noqa: E402
from bot.store.db import session_scope  # noqa: E402
from tests.support.factories import make_settings  # noqa: E402


def one_round(database: str, replicas: int, args: argparse.Namespace, tmp: str) -> tuple[float, int]:
    url = database_url(database, tmp, f"claims{replicas}")
    containers = [build_container(make_settings(url), migrate=n == 0) for n in range(replicas)]
    ran: Counter[int] = Counter()
    lock = threading.Lock()

    def noop(container, payload, job=None):  # noqa: ANN001, ARG001
        with lock:
            ran[payload["n"]] += 1

    for container in containers:
        container.registry.jobs["bench.noop"] = noop
    with session_scope(containers[0].engine) as session:
        for n in range(args.jobs):
            jobs.enqueue(session, "bench.noop", {"n": n})
    threads = [threading.Thread(target=jobs.run_due, args=(c,), kwargs={"limit": args.jobs})
               for c in containers for _ in range(args.threads)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    for container in containers:
        container.engine.dispose()
    twice = sum(1 for count in ran.values() if count != 1) + args.jobs - len(ran)
    return args.jobs / elapsed, twice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--replicas", default="1,2,4")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="fireline-claims-")
    print(f"{args.jobs} no-op jobs, {args.threads} worker threads a replica, {args.database}")
    print("| replicas | claims/s | vs 1 | not run exactly once |")
    print("|---:|---:|---:|---:|")
    base = None
    for n in [int(x) for x in args.replicas.split(",")]:
        rate, wrong = one_round(args.database, n, args, tmp)
        base = base or rate
        print(f"| {n} | {rate:.0f} | {rate / base:.2f}x | {wrong} |", flush=True)


if __name__ == "__main__":
    main()
