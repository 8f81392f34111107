"""Proof under load: concurrent requests share Slack's rate budget, a rolling restart's batch runs together.

The figures are in bench/alert_storm.py and bench/rolling_restart.py; these tests pin the behaviour
the benches found wrong (no timings asserted).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from bot.alerts import pacing
from bot.container import build_container
from bot.db import session_scope
from tests.conftest import make_settings


def test_concurrent_requests_never_share_a_slack_slot(db_url, recorder, clock):
    """Found by bench/alert_storm.py: on SQLite two requests read the same free slot and both took it, so
    100 alert threads got 33 distinct posting moments (bursts Slack answers with 429)."""
    container = build_container(make_settings(db_url, recorder), clock=clock)
    start = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    threads_n, each = 8, 6
    barrier = threading.Barrier(threads_n)
    taken: list[datetime] = []
    errors: list[BaseException] = []

    def take() -> None:
        try:
            barrier.wait(10)
            for _ in range(each):
                with session_scope(container.engine) as session:
                    taken.append(pacing.reserve(session, "post:incidents", start, timedelta(seconds=1), slots=2))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=take) for _ in range(threads_n)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    container.engine.dispose()
    assert errors == []
    moments = sorted(taken)
    assert len(set(moments)) == threads_n * each, "two requests were given the same slot"
    assert moments == [start + timedelta(seconds=2 * n) for n in range(threads_n * each)]


def test_a_batch_restarts_and_waits_for_its_machines_together(fly_slack):
    """Found by bench/rolling_restart.py: a batch's machines were restarted, waited for and released one call
    after another (3.3x the least time against a 100 ms Fly). Each call here waits until the batch's other
    machine sent the same call: done one after another, the first would wait in vain."""
    slack, fake = fly_slack, fly_slack.fake
    together = {"/restart": threading.Barrier(2, timeout=10), "/wait": threading.Barrier(2, timeout=10),
                "/lease": threading.Barrier(2, timeout=10)}
    alone: list[str] = []
    answer = fake.handle

    def handle(method, path, query, body, headers):
        for suffix, barrier in together.items():
            if path.endswith(suffix) and (method, suffix) != ("GET", "/lease"):
                try:
                    barrier.wait()
                except threading.BrokenBarrierError:
                    alone.append(f"{method} {path}")
                if suffix == "/lease" and method == "POST":
                    barrier.reset()  # the releases (DELETE) meet again at the end of the batch
        return answer(method, path, query, body, headers)

    fake.handle = handle
    slack.command("--batch 2 --region iad", command="/restart")
    action_id, value = newest_button_value(slack)
    slack.press(action_id, value, action_ts="1.1")
    from tests.support.playbook_harness import executions

    [execution] = executions(slack.container)
    assert execution.status == "succeeded", execution.results
    assert alone == []
    assert sorted(r.path.split("/")[5] for r in fake.calls("POST", "/restart$")) == ["m1aaaaaaaaaaaa",
                                                                                     "m2bbbbbbbbbbbb"]


def newest_button_value(slack) -> tuple[str, str]:
    from tests.support.playbook_harness import newest_button

    return newest_button(slack.recorder, "Confirm")
