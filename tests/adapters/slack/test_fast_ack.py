"""Slash commands acked without Bolt's dispatch (bot/adapters/slack/fast_ack.py), through the real HTTP app."""

from __future__ import annotations

import json
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st
from slack_bolt import App
from sqlmodel import Session, select

from bot.core.grammar import parse
from bot.store.models import Job
from bot.adapters.slack.ack import _plain_first_word
from bot.adapters.slack.fast_ack import FastCommandAck
from tests.support.signing import slash_body


def command_jobs(container) -> list[Job]:
    with Session(container.engine) as session:
        return list(session.exec(select(Job).where(Job.kind == "slack.command").order_by(Job.id)).all())


def count_bolt_dispatches(monkeypatch) -> list[str]:
    seen: list[str] = []
    real = App.dispatch

    def counting(self, request):
        seen.append(request.body.get("command") or request.body.get("type") or "?")
        return real(self, request)

    monkeypatch.setattr(App, "dispatch", counting)
    return seen


def test_commands_that_become_jobs_skip_bolt_and_still_run(slack, monkeypatch):
    dispatched = count_bolt_dispatches(monkeypatch)
    response = slack.command("declare Checkout is down sev1", run=False)
    assert (response.status_code, response.text) == (200, "")
    [job] = command_jobs(slack.container)
    assert job.payload["text"] == "declare Checkout is down sev1" and job.payload["user_id"] == "U0LEAD"
    assert job.payload["request_id"] == response.headers["x-request-id"]
    assert dispatched == []
    slack.run_jobs()
    assert "Declared *#1*" in slack.reply_text()


def test_help_and_unknown_subcommands_are_answered_in_the_ack_by_bolt(slack, monkeypatch):
    dispatched = count_bolt_dispatches(monkeypatch)
    help_answer = slack.command("help", run=False)
    unknown = slack.command("delcare Site down", run=False)
    assert dispatched == ["/incident", "/incident"]
    assert "/incident declare" in help_answer.text
    assert "is not a `/incident` subcommand" in json.loads(unknown.text)["text"]
    assert command_jobs(slack.container) == []


def test_slack_retries_and_repeated_triggers_store_one_job(slack):
    body = slash_body("list", response_url=slack.recorder.response_url(), trigger_id="123.456")
    first = slack.post(body, "application/x-www-form-urlencoded")
    retried = slack.post(body, "application/x-www-form-urlencoded", headers={"X-Slack-Retry-Num": "1"})
    again = slack.post(body, "application/x-www-form-urlencoded")  # the same trigger without the header
    assert [r.status_code for r in (first, retried, again)] == [200, 200, 200]
    assert [job.payload["trigger_id"] for job in command_jobs(slack.container)] == ["123.456"]


def test_a_bad_signature_stores_nothing_even_for_a_command(slack):
    body = slash_body("declare Forged sev1", response_url=slack.recorder.response_url())
    response = slack.post(body, "application/x-www-form-urlencoded", secret="not-the-secret")
    assert response.status_code == 401
    assert command_jobs(slack.container) == []


def test_a_slow_database_says_it_may_not_have_been_taken(slack, monkeypatch):
    import sqlite3

    from bot.service.queue import Intake

    monkeypatch.setattr("bot.adapters.slack.fast_ack.STORE_SECONDS", 0.2)
    holder = None
    if slack.container.engine.dialect.name == "sqlite":  # the worker holding SQLite's write lock
        holder = sqlite3.connect(slack.container.engine.url.database, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        threading.Timer(0.6, holder.execute, args=("COMMIT",)).start()
    else:
        real = Intake._store_together

        def slow(self, batch, **kwargs):
            time.sleep(0.6)
            return real(self, batch, **kwargs)

        monkeypatch.setattr(Intake, "_store_together", slow)
    response = slack.command("declare Slow disk sev2", run=False)
    assert response.status_code == 200
    assert "may or may not have been taken" in json.loads(response.text)["text"]
    deadline = time.monotonic() + 5
    while not command_jobs(slack.container) and time.monotonic() < deadline:  # "may": it is, once it can be
        time.sleep(0.05)
    assert [job.payload["text"] for job in command_jobs(slack.container)] == ["declare Slow disk sev2"]
    if holder is not None:
        holder.close()


def test_a_write_lock_held_past_the_writers_patience_says_try_again(sqlite_container, recorder, monkeypatch):
    import sqlite3

    from tests.support.factories import slack_harness

    monkeypatch.setattr("bot.service.job_writers.SqliteJobWriter.LOCK_TIMEOUT_SECONDS", 0.3)
    holder = sqlite3.connect(sqlite_container.engine.url.database, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for slack in slack_harness(sqlite_container, recorder):
            response = slack.command("declare Locked out sev2", run=False)
            assert "can't reach its database" in json.loads(response.text)["text"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert command_jobs(sqlite_container) == []


def test_only_slash_command_forms_take_the_fast_path():
    form = FastCommandAck.command_form
    plain = slash_body("list").encode()
    assert form(plain, {"content-type": "application/x-www-form-urlencoded"})["command"] == "/incident"
    assert form(plain, {"content-type": "application/json"}) is None
    assert form(b"payload=%7B%7D&command=%2Fincident", {"content-type": "application/x-www-form-urlencoded"}) is None
    assert form(b"ssl_check=1&token=x&command=%2Fx", {"content-type": "application/x-www-form-urlencoded"}) is None
    assert form(b"command=incident", {"content-type": "application/x-www-form-urlencoded"}) is None
    assert form(b"command=%2Fincident&text=\xff", {"content-type": "application/x-www-form-urlencoded"}) is None
    # escaped bytes that are not UTF-8 read as replacement characters, as Bolt reads them
    assert form(b"command=%2Fincident&text=%FF", {"content-type": "application/x-www-form-urlencoded"})["text"] \
        == "\ufffd"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_the_quick_subcommand_read_agrees_with_the_grammar(text):
    quick = _plain_first_word(text)
    assert quick is None or quick == parse("incident", text).sub


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=30)), max_size=8),
       st.lists(st.sampled_from(["&", "&&", "=", "+", "%", "%2", "%zz", "%E2%82", "=&"]), max_size=4))
def test_reading_the_form_agrees_with_parse_qsl(pairs, junk):
    from urllib.parse import parse_qsl, urlencode

    from bot.adapters.slack.fast_ack import read_form

    for text in (urlencode(pairs), urlencode(pairs) + "".join(junk), "".join(junk) + urlencode(pairs)):
        expected: dict[str, str] = {}
        for key, value in parse_qsl(text, keep_blank_values=True):
            expected.setdefault(key, value)
        assert read_form(text) == expected


def _asgi_post(app, chunks: list[bytes], headers: dict[str, str], disconnect_after: int | None = None):
    """Call the ASGI app directly with the body in chunks; returns what it sent."""
    import asyncio

    messages = [{"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
                for n, chunk in enumerate(chunks)]
    if disconnect_after is not None:
        messages = messages[:disconnect_after] + [{"type": "http.disconnect"}]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/slack/events", "raw_path": b"/slack/events", "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    return sent


def test_the_command_lane_answers_before_starlettes_routing_with_the_usual_headers(slack, monkeypatch):
    from starlette.routing import Router

    from bot.core import metrics

    def no_routing(*args, **kwargs):
        raise AssertionError("a slash command that becomes a job must not need the router")

    before = metrics.sample_value("fireline_http_request_duration_seconds_count", {"endpoint": "/slack/events"})
    monkeypatch.setattr(Router, "__call__", no_routing)
    response = slack.command("declare Lane test sev3", run=False, headers={"X-Request-Id": "req-lane-1"})
    assert (response.status_code, response.text, response.headers["x-request-id"]) == (200, "", "req-lane-1")
    assert [job.payload["request_id"] for job in command_jobs(slack.container)] == ["req-lane-1"]
    after = metrics.sample_value("fireline_http_request_duration_seconds_count", {"endpoint": "/slack/events"})
    assert after == before + 1


def test_the_command_lane_reads_a_body_sent_in_pieces_and_passes_the_rest_on_intact(slack):
    from tests.support.signing import SIGNING_SECRET, sign

    app = slack.client.app
    body = slash_body("declare Chunked sev3", response_url=slack.recorder.response_url())
    headers = {"content-type": "application/x-www-form-urlencoded", **sign(body, SIGNING_SECRET)}
    raw = body.encode()
    sent = _asgi_post(app, [raw[:50], raw[50:120], raw[120:]], headers)
    assert sent[0]["status"] == 200
    assert [job.payload["text"] for job in command_jobs(slack.container)] == ["declare Chunked sev3"]

    helped = slash_body("help", response_url=slack.recorder.response_url())  # Bolt's, after the lane read it
    sent = _asgi_post(app, [helped.encode()[:30], helped.encode()[30:]],
                      {"content-type": "application/x-www-form-urlencoded", **sign(helped, SIGNING_SECRET)})
    assert sent[0]["status"] == 200 and b"/incident declare" in b"".join(m.get("body", b"") for m in sent[1:])


def test_a_client_gone_mid_body_gets_no_answer_and_stores_nothing(slack):
    from tests.support.signing import SIGNING_SECRET, sign

    body = slash_body("declare Half a request sev1", response_url=slack.recorder.response_url())
    headers = {"content-type": "application/x-www-form-urlencoded", **sign(body, SIGNING_SECRET)}
    raw = body.encode()
    assert _asgi_post(slack.client.app, [raw[:40], raw[40:]], headers, disconnect_after=1) == []
    assert command_jobs(slack.container) == []
