"""Peak resident memory of `fireline serve` while an unsigned client streams a 100 MB body at it.

    python bench/oversized_body.py [--megabytes 100] [--path /slack/events] [--checkout DIR]

Three requests, each on its own connection, none signed: the body streamed chunked (no
Content-Length), the body streamed under a Content-Length that says so, and a Content-Length of
400,000,000 with the body never sent. For each: the answer, how much the client managed to send before
the server answered and closed, and the peak resident size of the server and its worker child (sampled
every 5 ms) against the idle size measured in the same run. `--checkout DIR` runs the server from
another checkout (an older commit, to compare).
"""

from __future__ import annotations

import argparse
import select
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
from _common import SECRET, database_url, rss_tree_mb, start_server, stop  # noqa: E402

CHUNK = 64 * 1024


class PeakRss:
    """Samples the server's and its children's resident size in a thread; `.peak` is the largest total."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, sum(rss_tree_mb(self.pid)))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.3)  # the last allocation settles
        self._stop.set()
        self._thread.join()


def answer_of(sock: socket.socket, wait: float) -> str | None:
    """The status line, if the server has answered within `wait` seconds."""
    ready, _, _ = select.select([sock], [], [], wait)
    if not ready:
        return None
    data = sock.recv(65536)
    return data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "connection closed, no answer"


def stream(port: int, path: str, total: int, mode: str) -> tuple[str, int, float]:
    """Send one unsigned request; returns (answer, bytes of body sent, seconds)."""
    headers = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/x-www-form-urlencoded"}
    if mode == "chunked":
        headers["Transfer-Encoding"] = "chunked"
    elif mode == "declared":
        headers["Content-Length"] = str(total)
    else:  # "lie": declares 400 MB, sends nothing
        headers["Content-Length"] = "400000000"
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    began = time.perf_counter()
    sent = 0
    answer = None
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode())
        chunk = b"a" * CHUNK
        framed = f"{CHUNK:x}\r\n".encode() + chunk + b"\r\n" if mode == "chunked" else chunk
        while mode != "lie" and sent < total:
            answer = answer_of(sock, 0)
            if answer:
                break
            try:
                sock.sendall(framed)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += CHUNK
        if mode == "chunked" and sent >= total:
            try:
                sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass
        answer = answer or answer_of(sock, 30) or "no answer in 30 s"
    return answer, sent, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--path", default="/slack/events")
    parser.add_argument("--checkout", help="run the server from this checkout instead of this one")
    args = parser.parse_args()
    if args.checkout:
        _common.REPO = Path(args.checkout).resolve()
    env = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_API_URL": "http://127.0.0.1:9/api/",
           "LOG_LEVEL": "WARNING", "ALERTS_WEBHOOK_SECRET": "bench-alerts", "PAGERDUTY_WEBHOOK_SECRET": "bench-pd",
           "DATABASE_URL": database_url("sqlite", tempfile.mkdtemp(), "oversized")}
    port, process = start_server("fireline", env)
    total = args.megabytes * 1024 * 1024
    try:
        time.sleep(2)
        idle = sum(rss_tree_mb(process.pid))
        print(f"{'idle':<44}{idle:7.1f} MB")
        for mode, label in (("chunked", f"{args.megabytes} MB chunked, no Content-Length"),
                            ("declared", f"{args.megabytes} MB under its Content-Length"),
                            ("lie", "Content-Length 400,000,000, nothing sent")):
            with PeakRss(process.pid) as peak:
                answer, sent, seconds = stream(port, args.path, total, mode)
            print(f"{label:<44}{peak.peak:7.1f} MB peak ({peak.peak / idle:.2f}x idle, +{peak.peak - idle:.1f} MB); "
                  f"{answer!r} after {sent / 1024 / 1024:.1f} MB sent, {seconds:.2f} s")
        print(f"{'after':<44}{sum(rss_tree_mb(process.pid)):7.1f} MB")
    finally:
        stop([process])


if __name__ == "__main__":
    main()
