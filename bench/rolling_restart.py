"""Rolling restart of 30 machines, batches of 3, against a loopback Fly that adds 100 ms to every call.

    python bench/rolling_restart.py [--machines 30] [--batch 3] [--latency-ms 100] [--database sqlite|postgres]

The real `/restart` playbook runs end to end in this process: the plan (`/restart --batch 3`),
Confirm by a responder, then the durable execution job, with Fly's Machines API and the health
endpoint served by a loopback fake that sleeps `--latency-ms` before every answer, and Slack's Web
API at the recording server. Prints the wall time of the execution and its ratio to the least time
the calls allow: per batch, the calls that must follow one another whatever runs in parallel
(take the lease, restart, wait for `started`, read the checks, ask HEALTH_URL, release the lease:
6 round trips) x batches x latency. A ratio near 1 means nothing waits that need not.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore", category=DeprecationWarning)  # the test client's httpx notice

from _common import database_url  # noqa: E402
from sqlmodel import col, select  # noqa: E402

from bot.app.assembly import build_container  # noqa: E402
from bot.store.db import session_scope  # noqa: E402
from bot.store.models import PlaybookExecution  # noqa: E402
from bot.features.playbooks import executions  # noqa: E402
from bot.service import jobs  # noqa: E402
from bot.features.playbooks.render import button_value  # noqa: E402
from bot.adapters.slack.bolt import slack_context  # noqa: E402
from tests.support.fake_fly import FakeFly  # noqa: E402
from tests.support.fly_fixtures import fly_settings  # noqa: E402
from tests.support.slack_recorder import SlackRecorder  # noqa: E402

CHAIN = ("take the lease", "restart", "wait for started", "read the checks", "ask HEALTH_URL", "release the lease")
REGIONS = ("iad", "lhr", "fra")


class SlowFly(FakeFly):
    """The test suite's fake Fly, `latency` seconds slower on every call (outside its lock, so calls overlap)."""

    latency: float = 0.1

    def handle(self, method, path, query, body, headers):
        time.sleep(self.latency)
        return super().handle(method, path, query, body, headers)


def run(machines: int, batch: int, latency: float, database: str) -> dict[str, float]:
    fake = SlowFly()
    fake.latency = latency
    for n in range(machines):
        fake.add(f"m{n:02d}{'a' * 12}", REGIONS[n % len(REGIONS)])
    recorder = SlackRecorder()
    url = database_url(database, tempfile.mkdtemp(prefix="fireline-restart-"), "restart")
    container = build_container(fly_settings(url, recorder, fake, responders="UBENCH"))
    try:
        ctx = slack_context(container, {"user_id": "UBENCH", "channel_id": "CBENCH",
                                        "response_url": recorder.response_url()})
        started = time.perf_counter()
        container.registry.dispatch(ctx, "restart", f"--batch {batch}")
        planned = time.perf_counter()
        with session_scope(container.engine) as session:
            execution = session.exec(select(PlaybookExecution).order_by(col(PlaybookExecution.id).desc())).first()
        executions.confirm(ctx, button_value(execution))
        before = len(fake.requests)
        confirmed = time.perf_counter()
        jobs.run_due(container)
        done = time.perf_counter()
        with session_scope(container.engine) as session:
            final = session.get(PlaybookExecution, execution.id)
        calls = len(fake.requests) - before
        restarted = len(fake.calls("POST", "/restart$"))
        edits = len(recorder.of("chat.update"))
    finally:
        container.engine.dispose()
        recorder.close()
        fake.close()
    batches = math.ceil(machines / batch)
    return {"plan": planned - started, "execution": done - confirmed, "status": final.status, "calls": calls,
            "restarted": restarted, "edits": edits, "batches": batches, "minimum": batches * len(CHAIN) * latency,
            "sequential": calls * latency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=30)
    parser.add_argument("--batch", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    result = run(args.machines, args.batch, latency, args.database)
    print(f"rolling restart: {args.machines} machines, batches of {args.batch}, Fly +{args.latency_ms:.0f} ms per "
          f"call, {args.database}")
    print(f"  outcome          {result['status']}, {result['restarted']} machines restarted, "
          f"{result['calls']} Fly/health calls")
    print(f"  plan             {result['plan']:.2f} s")
    print(f"  Slack            {result['edits']} edits of the progress message")
    print(f"  execution        {result['execution']:.2f} s wall")
    print(f"  least possible   {result['minimum']:.2f} s = {result['batches']} batches x {len(CHAIN)} calls in a row "
          f"({', '.join(CHAIN)}) x {args.latency_ms:.0f} ms")
    print(f"  ratio            {result['execution'] / result['minimum']:.2f}x the least possible "
          f"(every call one after another would take {result['sequential']:.1f} s)")
    sys.exit(0 if result["status"] == "succeeded" and result["restarted"] == args.machines else 1)


if __name__ == "__main__":
    main()
