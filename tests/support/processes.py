"""Servers started as processes, and the jobs they leave: the one copy the tests (tests/support/replicas.py) and
the benches (bench/_common.py) share."""

from __future__ import annotations

import socket
import subprocess
import time
from datetime import timedelta


def wait_up(port: int, process: subprocess.Popen, timeout: float = 90) -> None:
    """Return once `process` accepts connections on `port`; raise with the end of its stderr if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on {port} exited: {process.stderr.read().decode()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on {port} did not start in {timeout:.0f} s")


def stop(processes: list[subprocess.Popen], timeout: float = 15) -> None:
    """Terminate them all, then wait for each; one that does not leave in `timeout` seconds is killed."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def jobs_waiting(url: str, within: float = 0) -> int:
    """Jobs due (or due within `within` seconds) or running in a Fireline database (timers set for later do not
    count)."""
    import sqlalchemy as sa

    from bot.core.clock import utcnow
    from bot.store.models import Job

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            due = sa.or_(Job.status == "running", sa.and_(Job.status == "pending", Job.run_at <= utcnow() + timedelta(seconds=within)))
            return connection.execute(sa.select(sa.func.count()).select_from(Job).where(due)).scalar_one()
    finally:
        engine.dispose()


def wait_drained(url: str, timeout: float = 600, within: float = 0) -> float:
    """Wait until Fireline's workers have done the work due (or due within `within` seconds); returns the seconds
    waited (at most `timeout`)."""
    began = time.monotonic()
    while jobs_waiting(url, within) and time.monotonic() - began < timeout:
        time.sleep(0.1)
    return time.monotonic() - began


async def read_response(reader) -> int:
    """Read one HTTP/1.1 answer (head, then its Content-Length body) off a kept-alive connection; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])
