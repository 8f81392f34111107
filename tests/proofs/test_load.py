"""Proof under load: concurrent requests share Slack's rate budget, a rolling restart's batch runs together.

The figures are in bench/alert_storm.py and bench/rolling_restart.py; these tests pin the behaviour
the benches found wrong (no timings asserted).
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

from bot.features.alerts import pacing
from bot.store.db import session_scope
from tests.support.factories import make_container


def test_concurrent_requests_never_share_a_slack_slot(db_url, recorder, clock):
    """Found by bench/alert_storm.py: on SQLite two requests read the same free slot and both took it, so
    100 alert threads got 33 distinct posting moments (bursts Slack answers with 429)."""
    container = make_container(db_url, recorder, clock=clock)
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


def test_a_delivery_that_loses_the_race_to_open_a_window_is_counted_not_dropped(db_url, recorder, clock,
                                                                                monkeypatch):
    """Two replicas receive the first two deliveries of a new alert at once. The one whose insert loses
    must count as a repeat of the other's alert; it used to retry with its own delivery id already
    stored, so it was answered `duplicate` and its delivery was never counted."""
    from bot.features.alerts import service
    from bot.features.alerts.payloads import from_generic
    from tests.support.alerts import alerts

    container = make_container(db_url, recorder, clock=clock)
    real = service._linked_incident
    other_answer: list = []
    other = threading.Thread(target=lambda: other_answer.append(service.receive(container, from_generic(
        {"title": "Checkout 502s", "dedup_key": "checkout", "id": "delivery-A"}))))

    def other_replica_first(session, key, incoming):
        if not other.is_alive() and not other_answer:
            # between our read of the window and our insert, the other replica stores the same alert;
            # on SQLite it waits for our transaction instead (one writer at a time), so it comes second
            other.start()
            other.join(1 if container.engine.dialect.name == "sqlite" else 20)
        return real(session, key, incoming)

    monkeypatch.setattr(service, "_linked_incident", other_replica_first)
    received = service.receive(container, from_generic({"title": "Checkout 502s", "dedup_key": "checkout",
                                                        "id": "delivery-B"}))
    other.join(30)
    assert not received.duplicate and not other_answer[0].duplicate
    if container.engine.dialect.name == "postgresql":
        assert (received.new, received.count, other_answer[0].new) == (False, 2, True)  # the race happened
    [alert] = alerts(container)
    assert alert.count == 2
    container.engine.dispose()


def test_progress_edits_are_paced_so_slack_rate_limits_never_slow_a_restart(fly_slack):
    """Found by bench/rolling_restart.py: 30 machines meant 81 chat.update calls in 8 s, where Slack allows
    about one a second (the 429 waits would have slowed the restart). Live lines are now shown at most
    every `progress_live_seconds`; each step and the outcome always are."""
    from tests.support.playbook_harness import executions, newest_button

    slack = fly_slack
    slack.container.knobs.progress_live_seconds = 3600  # only the first live line may show
    slack.command("", command="/restart")
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, action_ts="1.1")
    [execution] = executions(slack.container)
    assert execution.status == "succeeded"
    edits = [c.text() for c in slack.recorder.of("chat.update") if c.data.get("ts") == execution.progress_ts]
    live = [text for text in edits if re.search(r"(?m)^_[^\n]+_$", text)]
    assert len(live) <= 1
    assert len(edits) <= 4 + 1 + 1  # one per step, the outcome, at most one live line
    assert "finished" in edits[-1]


def test_live_progress_lines_still_show_when_due(fly_slack):
    from tests.support.playbook_harness import executions, newest_button

    slack = fly_slack
    slack.container.knobs.progress_live_seconds = 0
    # Edits go out from a thread that sends the newest state (an older one is dropped): a live line shows
    # while the call it names takes time, so the restart takes 0.5 s here, as Fly's does take seconds.
    slack.fake.slow.append(("POST", "/restart$", 0.5))
    slack.command("--machine m1aaaaaaaaaaaa", command="/restart")
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, action_ts="1.1")
    [execution] = executions(slack.container)
    edits = [c.text() for c in slack.recorder.of("chat.update") if c.data.get("ts") == execution.progress_ts]
    assert any("\n_restarting m1aaaaaaaaaaaa_\n" in text for text in edits)
