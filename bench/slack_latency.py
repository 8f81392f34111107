"""Production-shaped Slack: every Web API call takes 80 ms and every new connection 60 ms more.

    python bench/slack_latency.py [--declares 20] [--alerts 10] [--latency-ms 80] [--connect-ms 60]
                                  [--machines 9] [--database sqlite|postgres|both]

On loopback Slack answers in a fraction of a millisecond, so how Fireline talks to it (a connection
per call, calls one after another) never shows. Here the recording Slack stand-in
(`tests/support/slack_recorder.py`) answers after `--latency-ms` and charges `--connect-ms` for
every connection it accepts (a TLS handshake's order), keeps connections alive as Slack does, and
counts them. Each figure is printed next to its critical-path bound: the calls that must follow
one another whatever could run in parallel, times the latency (a kept connection costs nothing
more; the first of each process is warm-up, not measured):

- declare -> channel card: conversations.create, then chat.postMessage in the new channel (2 calls);
- declare -> #incidents card: the card shows the channel, so also create, then post (2 calls);
- alert thread: the alert's message, then its analysis in that thread (2 calls);
- rolling restart: Fly's own chain per batch (lease, restart, wait for started, checks, health,
  release; Fly at `--fly-ms` per call) while the progress message is edited at Slack's latency.

Measured: median (and slowest) from the signed request to Slack's answer to the call that shows it,
`fireline serve` running as in production (its worker child included). Connections: how many the
stand-in accepted during the measured part (after the warm-up).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore", category=DeprecationWarning)

from _common import SECRET, database_url, start_server, stop  # noqa: E402

from tests.support.signing import sign, slash_body  # noqa: E402
from tests.support.slack_recorder import Call, SlackRecorder  # noqa: E402

ALERT_SECRET = "bench-alert-secret"


def _first(recorder: SlackRecorder, since: int, match) -> Call | None:  # noqa: ANN001
    return next((c for c in list(recorder.calls)[since:] if match(c) and c.answered is not None), None)


def _wait(recorder: SlackRecorder, since: int, match, timeout: float = 15) -> Call:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        call = _first(recorder, since, match)
        if call is not None:
            return call
        time.sleep(0.0005)
    raise SystemExit(f"timed out; calls were {recorder.methods()[since:]}")


def _quiet(recorder: SlackRecorder, settle: float) -> None:
    """Wait until no call has arrived for `settle` seconds (a declare's follow-up calls are done)."""
    while True:
        last = max((c.at for c in list(recorder.calls)), default=0.0)
        if time.monotonic() - last >= settle:
            return
        time.sleep(0.02)


def is_card(call: Call) -> bool:
    return call.method == "chat.postMessage" and not call.data.get("thread_ts")


def serve_round(database: str, args: argparse.Namespace, tmp: str) -> dict[str, object]:
    latency = args.latency_ms / 1000
    recorder = SlackRecorder(latency=latency, connect_cost=args.connect_ms / 1000)
    env = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_API_URL": recorder.api_url,
           "ALERTS_WEBHOOK_SECRET": ALERT_SECRET, "LOG_LEVEL": "WARNING",
           "DATABASE_URL": database_url(database, tmp, f"slack{args.latency_ms:.0f}")}
    port, process = start_server("fireline", env)
    channel_card, incidents_card, thread_root, thread_done, per_declare = [], [], [], [], []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            def declare(n: int) -> tuple[float, float, list[str]]:
                since = len(recorder.calls)
                body = slash_body(f"declare Latency probe {n} sev3", response_url=recorder.response_url())
                started = time.monotonic()
                response = client.post("/slack/events", content=body, headers={
                    "Content-Type": "application/x-www-form-urlencoded", **sign(body, SECRET)})
                assert response.status_code == 200, response.text
                own = _wait(recorder, since, lambda c: is_card(c) and c.data.get("channel", "").startswith("CINC"))
                main = _wait(recorder, since, lambda c: is_card(c) and c.data.get("channel") == "#incidents")
                _quiet(recorder, settle=max(0.3, 3 * latency))
                return own.answered - started, main.answered - started, recorder.methods()[since:]

            def alert(n: int) -> tuple[float, float]:
                since = len(recorder.calls)
                body = json.dumps({"title": f"Latency probe check {n} failed", "source": "checkly",
                                   "dedup_key": f"latency-{n}", "text": "probe"}).encode()
                from bot.features.alerts.webhook import sign as sign_alert

                started = time.monotonic()
                response = client.post("/webhooks/alerts", content=body, headers={
                    "Content-Type": "application/json", "X-Fireline-Signature": sign_alert(body, ALERT_SECRET)})
                assert response.status_code < 300, response.text
                root = _wait(recorder, since, lambda c: is_card(c) and "Latency probe check" in c.text())
                reply = _wait(recorder, since, lambda c: c.method == "chat.postMessage"
                              and bool(c.data.get("thread_ts")), timeout=30)
                _quiet(recorder, settle=max(0.3, 3 * latency))
                time.sleep(1.0)  # the channel's posting lane (one message a second) is free again
                return root.answered - started, reply.answered - started

            for n in range(args.warmup):  # warm-up: connections, caches, the people cache
                declare(-1 - n)
                alert(-1 - n)
            opened = recorder.connections
            for n in range(args.declares):
                own, main, methods = declare(n)
                channel_card.append(own * 1000)
                incidents_card.append(main * 1000)
                per_declare = methods
            for n in range(args.alerts):
                root, reply = alert(n)
                thread_root.append(root * 1000)
                thread_done.append(reply * 1000)
            connections = recorder.connections - opened
    finally:
        stop([process])
        recorder.close()
    return {"channel card": channel_card, "#incidents card": incidents_card, "alert thread": thread_done,
            "connections": connections, "calls": per_declare,
            "per": f"{args.declares} declares + {args.alerts} alerts"}


def restart_round(database: str, args: argparse.Namespace, tmp: str) -> dict[str, object]:
    """The rolling-restart bench (bench/rolling_restart.py) with Slack at production latency too."""
    from rolling_restart import CHAIN, REGIONS, SlowFly
    from sqlmodel import col, select

    from bot.app.assembly import build_container
    from bot.store.db import session_scope
    from bot.store.models import PlaybookExecution
    from bot.features.playbooks import executions
    from bot.service import jobs
    from bot.features.playbooks.render import button_value
    from bot.adapters.slack.bolt import slack_context
    from tests.support.fly_fixtures import fly_settings

    fake = SlowFly()
    fake.latency = args.fly_ms / 1000
    for n in range(args.machines):
        fake.add(f"m{n:02d}{'a' * 12}", REGIONS[n % len(REGIONS)])
    recorder = SlackRecorder(latency=args.latency_ms / 1000, connect_cost=args.connect_ms / 1000)
    url = database_url(database, tmp, "slackrestart")
    container = build_container(fly_settings(url, recorder, fake, responders="UBENCH"))
    try:
        ctx = slack_context(container, {"user_id": "UBENCH", "channel_id": "CBENCH",
                                        "response_url": recorder.response_url()})
        container.registry.dispatch(ctx, "restart", f"--batch {args.batch}")
        with session_scope(container.engine) as session:
            execution = session.exec(select(PlaybookExecution).order_by(col(PlaybookExecution.id).desc())).first()
        executions.confirm(ctx, button_value(execution))
        opened = recorder.connections
        started = time.perf_counter()
        jobs.run_due(container)
        wall = time.perf_counter() - started
        edits = len(recorder.of("chat.update"))
        connections = recorder.connections - opened
    finally:
        container.engine.dispose()
        recorder.close()
        fake.close()
    batches = math.ceil(args.machines / args.batch)
    return {"wall": wall * 1000, "bound": batches * len(CHAIN) * args.fly_ms, "edits": edits,
            "connections": connections}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--declares", type=int, default=20)
    parser.add_argument("--alerts", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=80.0)
    parser.add_argument("--connect-ms", type=float, default=60.0)
    parser.add_argument("--machines", type=int, default=9)
    parser.add_argument("--batch", type=int, default=3)
    parser.add_argument("--fly-ms", type=float, default=100.0)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="fireline-slack-latency-")
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    bound = 2 * args.latency_ms
    print(f"Slack +{args.latency_ms:.0f} ms per call, +{args.connect_ms:.0f} ms per new connection; "
          f"ms, median (slowest)")
    print(f"{'database':<10}{'path':<22}{'bound':>7}{'measured':>18}{'ratio':>7}{'connections':>13}")
    for database in databases:
        result = serve_round(database, args, tmp)
        for path in ("channel card", "#incidents card", "alert thread"):
            values = result[path]
            median = statistics.median(values)
            conns = f"{result['connections']} ({result['per']})" if path == "channel card" else ""
            print(f"{database:<10}{path:<22}{bound:>7.0f}{median:>9.0f} ({max(values):>5.0f}){median / bound:>6.2f}x"
                  f"  {conns}")
        restart = restart_round(database, args, tmp)
        print(f"{database:<10}{'rolling restart':<22}{restart['bound']:>7.0f}{restart['wall']:>9.0f}        "
              f"{restart['wall'] / restart['bound']:>6.2f}x  {restart['connections']} "
              f"({args.machines} machines, {restart['edits']} progress edits)")
        print(f"{'':<10}calls of the last declare: {', '.join(result['calls'])}")


if __name__ == "__main__":
    main()
