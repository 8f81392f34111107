"""`/oncall` answers from its database cache, so a slow PagerDuty never slows the answer.

Prints, on the same machine, with a local PagerDuty stand-in that takes --delay seconds per answer:
  direct     asking PagerDuty's /oncalls on every command (what a cache-less bot does)
  cached     `/oncall` through the registry from a fresh cache (no request leaves Fireline)
  stale      `/oncall` with a stale cache: the cached answer plus a queued refresh row

Run: .venv/bin/python bench/oncall_bench.py [--delay 0.5] [--repeat 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app.assembly import build_container  # noqa: E402
from bot.core.chat import ConsoleChat  # noqa: E402
from bot.core.clock import utcnow  # noqa: E402
from bot.core.context import Context  # noqa: E402
from bot.features.pagerduty import oncall  # noqa: E402
from bot.features.pagerduty.config import rest_client  # noqa: E402
from bot.core.settings import Settings  # noqa: E402

BODY = (b'{"oncalls": [{"escalation_level": 1, "user": {"id": "PU1", "summary": "Chen Li"}, '
        b'"start": "2026-11-23T09:00:00Z", "end": "2030-11-30T09:00:00Z"}], "more": false}')


def slow_pagerduty(delay: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            return None

        def do_GET(self) -> None:  # noqa: N802
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def line(name: str, samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
    return f"{name:<8} median {statistics.median(samples):8.2f} ms   p95 {p95:8.2f} ms   (n={len(samples)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.5, help="seconds the PagerDuty stand-in takes")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    server = slow_pagerduty(args.delay)
    now = [utcnow()]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp}/bench.db",
                            pagerduty_api_url=f"http://127.0.0.1:{server.server_address[1]}",
                            pagerduty_api_token="bench-token", pagerduty_escalation_policy_id="PPOL001")
        container = build_container(settings, clock=lambda: now[0])
        ctx = Context(container, chat=ConsoleChat(sys.stderr), user_id="bench", channel_id="#incidents",
                      source="console")
        direct = timed(lambda: rest_client(container).list_oncalls("PPOL001"), max(3, args.repeat // 10))
        oncall.refresh(container)
        cached = timed(lambda: container.registry.dispatch(ctx, "oncall", ""), args.repeat)
        now[0] += timedelta(minutes=container.settings.pagerduty_oncall_refresh_minutes + 1)
        stale = timed(lambda: container.registry.dispatch(ctx, "oncall", ""), args.repeat)
        container.engine.dispose()
    server.shutdown()
    print(f"PagerDuty stand-in answering in {args.delay:.2f} s")
    print(line("direct", direct))
    print(line("cached", cached))
    print(line("stale", stale))


if __name__ == "__main__":
    main()
