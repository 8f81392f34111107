"""The job worker in a child process of `fireline serve` / `fireline socket`, at a lower CPU priority.

Why: worker threads inside the serving process compete with Slack's acks for Python's one interpreter
lock, so while an incident keeps the worker busy every ack waits behind it (measured: p99 56 ms
instead of 20 ms at 10 connections on two cores). In a child process at nice +10 the same jobs run,
and the kernel gives the acks the CPU first. The parent wakes the child through a pipe (one byte per
stored job); the child dies with its parent, as the worker threads would.

The child's counters (playbook runs and failures: the child runs every job) reach the parent's
/metrics through prometheus-client's multiprocess mode: each child start gets a fresh directory in
PROMETHEUS_MULTIPROC_DIR, where the child's counters live in memory-mapped files that the parent's
scrape reads (bot.core.metrics). Before this, /metrics never showed a playbook run under `serve`.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.core.registry import Registry
from bot.core.container import Mode, open_container
from bot.app.observability import init_sentry
from bot.service.jobs import Worker, clear_wakers
from bot.core import metrics

if TYPE_CHECKING:
    from bot.core.container import Container

log = logging.getLogger(__name__)

NICENESS = 10
_PR_SET_PDEATHSIG = 1


class Forked:
    """The little of `subprocess.Popen` WorkerProcess uses, for a child made by `os.fork()`."""

    def __init__(self, pid: int, pipe: int) -> None:
        self.pid = pid
        self.stdin = os.fdopen(pipe, "wb", buffering=0)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 0
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"worker child {self.pid}", timeout or 0)
            time.sleep(0.02)
        return self.returncode  # type: ignore[return-value]

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass


class WorkerProcess:
    """Same face as `bot.service.jobs.Worker` (start, wake, state, stop), run as `fireline worker --child-of`.

    Given the serving process's container, the child is forked from it once start-up is done instead of
    started afresh: it shares the server's imported modules and frozen start-up heap (copy-on-write),
    where a fresh interpreter imported the same SQLAlchemy, pydantic, slack_sdk and httpx again.
    Measured (bench/memory.py, proportional size, which counts shared pages once): server + child idle
    139.7 MB started afresh, 95.5 MB forked; after 2,000 incidents 144.7 and 110.0 MB. (Resident sizes
    stay ~170 MB either way: RSS counts a shared page in both processes.) Nothing of the parent's that
    holds a connection is used in the child: the inherited engine is dropped without closing its
    connections (they are the parent's), the HTTP pool and fan-out threads are made anew per process
    id, Sentry is set up again, and the child leaves by `os._exit` so no inherited finaliser closes a
    parent's socket.
    """

    def __init__(self, container: Container | None = None) -> None:
        self.container = container  # given: fork; None: `fireline worker --child-of` as a fresh process
        self.process: subprocess.Popen | Forked | None = None
        self.metrics_dir: str | None = None  # where the child's counters are (read by GET /metrics)

    def start(self) -> None:
        self.metrics_dir = tempfile.mkdtemp(prefix="fireline-worker-metrics-")
        if self.container is not None:
            self.process = self._fork(self.container, self.metrics_dir)
            os.set_blocking(self.process.stdin.fileno(), False)
            return
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir}
        self.process = subprocess.Popen([sys.executable, "-m", "bot.app.cli", "worker", "--child-of", str(os.getpid())],
                                        stdin=subprocess.PIPE, env=env)
        os.set_blocking(self.process.stdin.fileno(), False)  # type: ignore[union-attr]

    @staticmethod
    def _fork(container: Container, metrics_dir: str) -> Forked:
        parent = os.getpid()
        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                os.close(write)
                code = run_forked_child(container, parent, read, metrics_dir)
            except BaseException:  # noqa: BLE001 - reported, then the child leaves like any other
                log.exception("the worker child stopped")
            finally:
                logging.shutdown()
                os._exit(code)
        os.close(read)
        return Forked(pid, write)

    def wake(self) -> None:
        if self.process is None or self.process.stdin is None:
            return
        try:
            os.write(self.process.stdin.fileno(), b".")
        except (BlockingIOError, BrokenPipeError, OSError):
            pass  # a full pipe already means "wake up"; a dead child is reported by `state`

    @property
    def state(self) -> str:
        """"running", "stopped" (the child has exited) or "not started" (for /readyz)."""
        if self.process is None:
            return "not started"
        return "running" if self.process.poll() is None else "stopped"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # the child finishes the job in hand (bounded by Worker.stop), then exits
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.metrics_dir is not None:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
            self.metrics_dir = None


def become_child_of(parent_pid: int) -> None:
    """In the child: lower our CPU priority and die with the parent (Linux), or exit if it is gone already."""
    try:
        os.nice(NICENESS)
    except OSError:
        log.warning("could not lower the worker's CPU priority")
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the pipe's end of file still stops us
        pass
    if os.getppid() != parent_pid:
        raise SystemExit(0)


def run_child(settings, parent_pid: int, registry: Registry) -> int:
    """`fireline worker --child-of PID`: run jobs until the parent closes the pipe or sends SIGTERM."""
    become_child_of(parent_pid)
    init_sentry(settings)
    worker = Worker(open_container(settings, registry, migrate=False, mode=Mode.WORKER), threads=settings.workers)

    def next_wake() -> bool:
        if not os.read(sys.stdin.fileno(), 4096):  # end of file: the parent is gone
            return False
        worker.wake()  # each byte: a job was stored
        return True

    return run_worker(worker, next_wake)


def run_forked_child(container: Container, parent_pid: int, pipe: int, metrics_dir: str) -> int:
    """In a child forked from `fireline serve`: count into the multiprocess files, then work jobs."""
    from prometheus_client import values

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    values.ValueClass = values.get_value_class()  # counters made from now on go to the shared files
    metrics._process.cache_clear()  # noqa: SLF001 - the parent's in-memory counters are not the child's
    container.engine.dispose(close=False)  # the pooled connections are the parent's: leave them alone
    clear_wakers()  # the parent's (its end of our pipe, closed here) are not ours to call
    become_child_of(parent_pid)
    init_sentry(container.settings)
    settings = container.settings
    worker = Worker(open_container(settings, container.registry, migrate=False, mode=Mode.WORKER),
                    threads=settings.workers)

    def next_wake() -> bool:
        if not os.read(pipe, 4096):  # end of file: the parent is gone
            return False
        worker.wake()
        return True

    return run_worker(worker, next_wake)


def run_worker(worker, wait_for_work: Callable[[], bool]) -> int:
    """Run `worker` until `wait_for_work()` says False or SIGTERM arrives; the job in hand is finished.

    Shared by `fireline worker` (waits on a timer) and the child of `serve` (waits on its pipe).
    """

    def terminate(signum, frame):  # noqa: ARG001 - signal handler signature
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, terminate)
    worker.start()
    try:
        while wait_for_work():
            pass
    except SystemExit:
        pass
    finally:
        worker.stop()
    return 0
