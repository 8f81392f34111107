"""Structured logs: every line carries the incident number and request id when known; secrets never."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from bot.core import log_context
from bot.core.logging_setup import make_handler
from bot.service import jobs
from bot.core.settings import SettingsError, load_settings
from tests.support.factories import make_settings


@pytest.fixture
def captured(container):
    """The process's real handler (filters and formatter of `setup_logging`) writing to a buffer."""

    def attach(log_format: str = "text") -> io.StringIO:
        stream = io.StringIO()
        handler = make_handler(container.settings.model_copy(update={"log_format": log_format}), stream)
        root = logging.getLogger()
        root.addHandler(handler)
        old_level = root.level
        root.setLevel(logging.INFO)
        attached.append((handler, old_level))
        return stream

    attached: list = []
    yield attach
    for handler, old_level in attached:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(old_level)


def lines_of(stream: io.StringIO, needle: str) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if needle in line]


def test_slack_command_lines_carry_incident_and_request_id(slack, captured):
    stream = captured("text")
    response = slack.command("declare Checkout is down sev1", headers={"X-Request-Id": "req-abc-1"}, run=False)
    assert response.headers["x-request-id"] == "req-abc-1"
    slack.run_jobs()
    [declared] = lines_of(stream, "timeline: declared by U0LEAD")
    assert "[incident=#1 request_id=req-abc-1]" in declared  # logged by the job, after the ack
    slack.command("ack", channel_id="CINC0001", headers={"Fly-Request-Id": "01HFLY-iad"}, run=False)
    slack.run_jobs()
    [acked] = lines_of(stream, "timeline: acknowledged")
    assert "[incident=#1 request_id=01HFLY-iad]" in acked


def test_request_ids_are_generated_and_unsafe_ones_replaced(slack, captured):
    captured("text")
    generated = slack.command("help").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", generated)
    hostile = slack.command("help", headers={"X-Request-Id": "x\" injected=1 <!channel>"})
    assert "injected" not in hostile.headers["x-request-id"]


def test_json_lines_are_objects_with_the_fields_and_no_secrets(slack, captured):
    stream = captured("json")
    slack.command("declare API slow sev3", headers={"X-Request-Id": "req-json"}, run=False)
    slack.run_jobs()
    with log_context.scope(request_id="req-leak", incident=1):
        logging.getLogger("bot.test").warning("posting with xoxb-test-token-abc to https://hooks.slack.com/x/y")
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    declared = next(e for e in entries if e["message"] == "timeline: declared by U0LEAD")
    assert declared["incident"] == 1 and declared["request_id"] == "req-json"
    assert declared["level"] == "INFO" and declared["logger"] == "bot.service.incidents"
    leak = next(e for e in entries if e["logger"] == "bot.test")
    assert "xoxb-" not in leak["message"] and "hooks.slack.com" not in leak["message"]
    assert leak["message"] == "posting with [redacted] to [redacted]"


def test_json_exceptions_are_one_line_and_redacted(captured):
    stream = captured("json")
    try:
        raise RuntimeError("Fly said no to Bearer abc.def.ghi")
    except RuntimeError:
        logging.getLogger("bot.test").exception("call failed")
    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert "RuntimeError" in entry["exception"] and "abc.def.ghi" not in entry["exception"]


def test_nothing_known_nothing_shown_and_nothing_leaks_between_units(container, captured, clock):
    stream = captured("text")
    with log_context.scope(request_id="first", incident=5):
        logging.getLogger("bot.test").info("inside")
    logging.getLogger("bot.test").info("outside")
    inside, outside = lines_of(stream, "inside")[0], lines_of(stream, "outside")[0]
    assert "[incident=#5 request_id=first]" in inside
    assert "incident=" not in outside and "request_id=" not in outside


def test_timer_jobs_log_their_incident_and_job_id(container, captured, clock):
    from bot.store.db import session_scope

    stream = captured("text")

    @container.registry.job("test.nudge")
    def nudge(app, payload, job=None):
        logging.getLogger("bot.test").info("nudging")

    with session_scope(container.engine) as session:
        job = jobs.enqueue(session, "test.nudge", {"incident_id": 3}, now=clock())
    jobs.run_due(container)
    [line] = lines_of(stream, "nudging")
    assert f"[incident=#3 request_id=job-{job.id}]" in line


def test_console_lines_get_their_own_request_id(container, captured):
    from bot.adapters.console import Console

    stream = captured("text")
    console = Console(container, io.StringIO())
    console.run_line("/incident declare One sev2")
    console.run_line("/incident declare Two sev2")
    first, second = lines_of(stream, "timeline: declared")
    ids = [re.search(r"request_id=(\w+)", line).group(1) for line in (first, second)]
    assert "incident=#1 " in first and "incident=#2 " in second and ids[0] != ids[1]


def test_log_format_setting(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert make_settings("sqlite://").log_format == "text"
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert load_settings(_env_file=None).log_format == "json"
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        load_settings(_env_file=None)


def test_generated_request_ids_are_plain_unique_and_new_after_a_fork():
    import os

    from bot.core import log_context

    ids = [log_context.new_request_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(rid) == 16 and log_context.clean_request_id(rid) == rid for rid in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a forked server process must not repeat its parent's ids
        os.write(write, log_context.new_request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read), os.close(write)
    assert child[:8] != ids[0][:8] and child not in ids


def test_a_serving_process_keeps_start_up_objects_out_of_full_collections():
    import gc

    from bot.app.runtime import settle_heap

    try:
        settle_heap()
        assert gc.get_freeze_count() > 10_000  # the imported app, not a handful of objects
    finally:
        gc.unfreeze()
