"""`fireline serve` runs its worker in a child process at lower CPU priority (bot/app/worker.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlmodel import Session, select

from bot.store.db import make_engine
from bot.store.models import Incident
from tests.support.signing import SIGNING_SECRET, sign, slash_body

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def serve(db_url: str, recorder) -> tuple[subprocess.Popen, str]:
    """A real `fireline serve`, ready (its /readyz answers 200); returns the process and its base URL."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": recorder.api_url, "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "bot.app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                              cwd=REPO, env=env, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    if not wait_for(ready, 60):
        server.kill()
        said = server.communicate(timeout=10)[1].decode()[-2000:]
        raise AssertionError(f"fireline serve did not become ready: {said}")
    return server, base


def test_serve_works_jobs_in_a_niced_child_that_dies_with_it(db_url, recorder):
    server, base = serve(db_url, recorder)
    try:
        assert httpx.get(f"{base}/readyz").json()["worker"] == "running"
        [child] = children_of(server.pid)
        expected = min(os.getpriority(os.PRIO_PROCESS, server.pid) + 10, 19)  # 19: the lowest priority there is
        assert wait_for(lambda: os.getpriority(os.PRIO_PROCESS, child) == expected, 30)  # set as the child starts

        body = slash_body("declare Checkout is down sev2", response_url=recorder.response_url())
        response = httpx.post(f"{base}/slack/events", content=body,
                              headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)})
        assert response.status_code == 200
        declared = lambda: any("Declared *#1*" in call.text() for call in recorder.responses())  # noqa: E731
        assert wait_for(declared, 30)  # the child did the work
        engine = make_engine(db_url)
        with Session(engine) as session:
            assert [i.title for i in session.exec(select(Incident)).all()] == ["Checkout is down"]
        engine.dispose()

        server.send_signal(signal.SIGKILL)  # the machine dies: the worker must not live on alone
        server.wait(10)
        assert wait_for(lambda: not alive(child), 10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)


def test_readyz_says_when_the_worker_child_has_died(db_url, recorder):
    server, base = serve(db_url, recorder)
    try:
        [child] = children_of(server.pid)
        os.kill(child, signal.SIGKILL)
        assert wait_for(lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 503, 10)
        assert httpx.get(f"{base}/readyz").json()["worker"] == "stopped"
        assert httpx.get(f"{base}/healthz").status_code == 200  # still alive and answering Slack
    finally:
        server.terminate()
        server.wait(15)


def test_a_standalone_worker_runs_queued_jobs_and_stops_on_sigterm(sqlite_container, recorder):
    """`fireline worker` on its own (another machine or process type on the same database)."""
    from bot.service.queue import Intake

    Intake(sqlite_container).enqueue("slack.command", {
        "command": "/incident", "text": "declare Worker alone sev3", "user_id": "U0LEAD", "channel_id": "CGENERAL",
        "response_url": recorder.response_url()}, dedup_key="cmd:standalone")
    env = {**os.environ, "DATABASE_URL": sqlite_container.settings.database_url, "SLACK_BOT_TOKEN": "xoxb-test",
           "SLACK_API_URL": recorder.api_url, "LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen([sys.executable, "-m", "bot.app.cli", "worker"], cwd=REPO, env=env,
                              stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: any("Declared" in call.text() for call in recorder.responses()), 60)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    assert b"running jobs from" in worker.stderr.read()


def scrape(base: str) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    response = httpx.get(f"{base}/metrics", timeout=5)
    assert response.status_code == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def test_metrics_show_what_the_worker_child_counted(sqlite_url, recorder, monkeypatch):
    """Playbooks run in the child (WORKER_PROCESS, the default); their counters must still reach /metrics."""
    monkeypatch.setenv("WORKER_PROCESS", "true")
    server, base = serve(sqlite_url, recorder)
    try:
        body = slash_body("", command="/diagnose", response_url=recorder.response_url())
        response = httpx.post(f"{base}/slack/events", content=body,
                              headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)})
        assert response.status_code == 200
        assert wait_for(lambda: any("Diagnosis" in call.text() for call in recorder.responses()), 30)
        runs = ("fireline_playbook_runs_total", (("playbook", "diagnose"),))
        assert wait_for(lambda: scrape(base).get(runs, 0) > 0, 10), scrape(base)
        samples = scrape(base)
        assert samples[runs] == 1
        # the serving process's own figures are still there, once
        latency = ("fireline_http_request_duration_seconds_count", (("endpoint", "/slack/events"),))
        assert samples[latency] >= 1
        assert samples[("fireline_database_up", ())] == 1
    finally:
        server.terminate()
        server.wait(15)


def proportional_mb(pid: int) -> tuple[float, float]:
    """(resident, proportional) size of a process in MB: pages it shares with another count in part."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    return int(fields["Rss"].split()[0]) / 1024, int(fields["Pss"].split()[0]) / 1024


def test_the_worker_child_shares_the_servers_memory(sqlite_url, recorder):
    """Forked after start-up, the child does not hold its own copy of every module."""
    if not Path("/proc/self/smaps_rollup").exists():
        import pytest

        pytest.skip("needs Linux's /proc/PID/smaps_rollup")
    server, base = serve(sqlite_url, recorder)
    try:
        [child] = children_of(server.pid)
        body = slash_body("declare Checkout is down sev2", response_url=recorder.response_url())
        httpx.post(f"{base}/slack/events", content=body,
                   headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)})
        assert wait_for(lambda: any("Declared *#1*" in call.text() for call in recorder.responses()), 30)
        rss, pss = proportional_mb(child)  # measured once the child has done real work
        # A fresh interpreter shares only the libraries' files (PSS ~0.8x RSS, measured); forked, most of
        # its pages are the server's too (~0.57x).
        assert pss < 0.7 * rss, (rss, pss)
    finally:
        server.terminate()
        server.wait(15)
