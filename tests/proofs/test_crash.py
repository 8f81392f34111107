"""A Fireline process killed with SIGKILL in the middle of a rolling restart, then a new one started.

Real processes (`fireline serve`, whose worker runs the execution job), a real loopback Fly that
holds the second batch's restart until the process is dead, Slack at the recorder. After the
restart of Fireline the execution is `interrupted` (never redone) and its channel is told what
was restarted, what was in progress and what was not touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.store.models import Job, MitigationLock, PlaybookExecution
from tests.support.fake_fly import APP, DB_APP
from tests.support.fly_fixtures import TOKEN
from tests.support.playbook_harness import executions, newest_button
from tests.support.signing import SIGNING_SECRET

REPO = Path(__file__).resolve().parents[2]
M1, M2, M3, M4 = "m1aaaaaaaaaaaa", "m2bbbbbbbbbbbb", "m3cccccccccccc", "m4dddddddddddd"

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(db_url: str, recorder, fake) -> subprocess.Popen:
    """`fireline serve` as its own process, configured like the in-test container (same database)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "FLY_", "PAGERDUTY_"))}
    env.update({"DATABASE_URL": db_url, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_BOT_TOKEN": "xoxb-test-token-abc",
                "SLACK_API_URL": recorder.api_url, "INCIDENTS_CHANNEL": "incidents", "FLY_API_URL": fake.url,
                "FLY_GRAPHQL_URL": f"{fake.url}/graphql", "FLY_API_TOKEN": TOKEN, "FLY_APP": APP,
                "FLY_DB_APP": DB_APP, "HEALTH_URL": f"{fake.url}/health", "RESPONDERS": "U0LEAD",
                "PAGERDUTY_API_URL": "http://127.0.0.1:9", "PAGERDUTY_EVENTS_URL": "http://127.0.0.1:9",
                "LOG_LEVEL": "WARNING"})
    process = subprocess.Popen([sys.executable, "-m", "bot.app.cli", "serve", "--host", "127.0.0.1", "--port",
                                str(_free_port())], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    return process


def wait_for(condition, what: str, process: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"fireline exited while waiting for {what}: {process.stderr.read().decode()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def test_sigkill_mid_rolling_restart_is_reported_as_interrupted_by_the_next_process(fly_slack, clock):
    slack, fake, recorder = fly_slack, fly_slack.fake, fly_slack.recorder
    clock.now = datetime.now(UTC)  # the plan is confirmed by the serving process, on the real clock
    held, release = threading.Event(), threading.Event()
    answer = fake.handle

    def handle(method, path, query, body, headers):
        if method == "POST" and path.endswith(f"{M3}/restart"):  # batch 2: held until the process is dead
            held.set()
            release.wait(30)
        return answer(method, path, query, body, headers)

    fake.handle = handle
    slack.command("", command="/restart", channel_id="COPS")
    action_id, value = newest_button(recorder, "Confirm")
    slack.press(action_id, value, channel_id="COPS", action_ts="1.1", run=False)  # the serving process runs it

    first = serve(slack.container.settings.database_url, recorder, fake)
    try:
        wait_for(held.is_set, "the second batch's restart", first)
        with Session(slack.container.engine) as session:
            running = session.exec(select(PlaybookExecution)).one()
        assert running.status == "running" and [r["status"] for r in running.results] == [
            "ok", "running", "pending", "pending"]
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        release.set()
        if first.poll() is None:
            first.kill()
            first.wait(10)
    assert first.returncode == -signal.SIGKILL
    recorder.reset()

    second = serve(slack.container.settings.database_url, recorder, fake)
    try:
        wait_for(lambda: any("INTERRUPTED" in call.text() for call in recorder.of("chat.postMessage")),
                 "the interruption to be announced", second)
    finally:
        second.terminate()
        second.wait(10)

    [execution] = executions(slack.container)
    assert execution.status == "interrupted"
    assert [r["status"] for r in execution.results] == ["ok", "unknown", "skipped", "skipped"]
    [said] = [call for call in recorder.of("chat.postMessage") if "INTERRUPTED" in call.text()]
    assert said.data["channel"] == execution.progress_channel and said.data["thread_ts"] == execution.progress_ts
    text = said.text()
    assert "was INTERRUPTED after 1 of 4 steps" in text
    assert f"Restarted: {M1}" in text
    assert f"Not restarted: {M2}, {M4}" in text
    assert "In progress when it stopped, so its effect is unknown" in text and f"2. Batch 2: Restart {M3}" in text
    with Session(slack.container.engine) as session:
        assert session.get(MitigationLock, APP) is None  # the next mitigation may run
        job = session.exec(select(Job).where(Job.kind == "playbook.execute")).one()
        assert job.status == "running"  # the dead worker's claim; never picked up again
    # never silently redone: only M1's and M3's restarts ever reached Fly
    assert sorted(r.path.split("/")[5] for r in fake.calls("POST", "/restart$")) == [M1, M3]
