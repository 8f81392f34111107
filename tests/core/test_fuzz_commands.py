"""Hostile input, fuzzed: any command text, any button payload, any signed body. Never a 500,
never a traceback to a user, and rejected input changes nothing stored."""

from __future__ import annotations

import io
import json
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.console import console_context
from bot.adapters.console_chat import ConsoleChat
from bot.core import log_context
from bot.core.reply import Reply
from tests.support.signing import action_body

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

words = st.one_of(
    st.sampled_from(["declare", "sev", "ack", "lead", "status", "update", "note", "show", "list", "resolve", "help",
                     "#1", "#0", "#99999999999", "sev1", "sev9", "<!channel>", "<@U123|x>", "<#C1|inc>", "--region",
                     '"', "'", "\\", "\u202e", "💥", "mitigating", "resolved", "@chen", "\x00"]),
    st.text(max_size=30),
)
command_text = st.lists(words, max_size=8).map(" ".join)


def snapshot(container) -> tuple:
    with container.engine.connect() as connection:
        return tuple(connection.exec_driver_sql(f"select count(*) from {table}").scalar()
                     for table in ("incidents", "timeline_events"))


@FUZZ
@given(text=command_text)
def test_any_command_text_gets_a_reply_not_a_traceback(sqlite_container, text):
    out = io.StringIO()
    ctx = console_context(sqlite_container, ConsoleChat(out), user_id="fuzzer", channel_id="#incidents")
    with log_context.scope():  # as every front end does: one unit of work
        reply = sqlite_container.registry.dispatch(ctx, "incident", text)
    assert isinstance(reply, Reply)
    rendered = reply.plain_text() + out.getvalue()
    assert "Traceback" not in rendered and "Something went wrong" not in rendered, (text, rendered)


playbook_values = st.one_of(
    st.sampled_from(["²", "٣", "9" * 5000, "-1", "0", "v²", "²gb"]),  # numbers that are not, or are too big
    st.sampled_from(["1", "6", "2048", "2gb", "v41", "iad", "FRA", "iadd", "performance-2x", "dedicated-cpu-1x",
                     "13:10", "2026-11-25", "#1", "#0", "\x00", "💥", ""]),
    st.text(max_size=12),
)
# /scale's subcommands, then flags with values (or dangling), in any order: the shapes people type
playbook_text = st.tuples(
    st.sampled_from(["", "count", "vm", "memory", "advice", "help", "nope"]),
    st.lists(st.tuples(st.sampled_from(["", "--batch", "--region", "--machine", "--with-db-restore", "--batch="]),
                       playbook_values), max_size=4),
).map(lambda t: " ".join([t[0], *(f"{flag}{value}" if flag.endswith("=") else f"{flag} {value}"
                                  for flag, value in t[1])]))


@FUZZ
@given(command=st.sampled_from(["restart", "rollback", "scale", "diagnose"]),
       text=playbook_text)
def test_any_playbook_command_gets_a_reply_not_a_traceback(sqlite_container, command, text):
    """Dry run (no FLY_API_TOKEN): each plans against the example fleet, or says what to type instead."""
    out = io.StringIO()
    ctx = console_context(sqlite_container, ConsoleChat(out), user_id="fuzzer", channel_id="#incidents")
    with log_context.scope():
        reply = sqlite_container.registry.dispatch(ctx, command, text)
    assert isinstance(reply, Reply)
    rendered = reply.plain_text() + out.getvalue()
    assert "Traceback" not in rendered and "Something went wrong" not in rendered, (command, text, rendered)


@FUZZ
@given(action_id=st.one_of(st.sampled_from(["incident_ack", "incident_lead", "incident_check", "incident_playbook",
                                            "playbook_confirm", "nope"]), st.text(max_size=20)),
       value=st.one_of(st.sampled_from(["1", "0", "-1", "1:99", "x:y", "", "99999999999", "²", "²:x:²", "1:x:٣"]),
                       st.text(max_size=20)))
def test_any_button_payload_is_answered_without_500(fuzz_slack, action_id, value):
    before = snapshot(fuzz_slack.container)
    response = fuzz_slack.press(action_id, value)
    assert response.status_code == 200
    for call in fuzz_slack.recorder.responses():
        assert "Traceback" not in call.text() and "Something went wrong" not in call.text(), (action_id, value)
    fuzz_slack.recorder.reset()
    after = snapshot(fuzz_slack.container)
    assert after[0] == before[0]  # no button creates incidents


@FUZZ
@given(body=st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                      st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5).map(
                          urllib.parse.urlencode),
                      st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                                   lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c,
                                                                                      max_size=3),
                                   max_leaves=10).map(lambda v: "payload=" + urllib.parse.quote(json.dumps(v)))),
       content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain"]))
def test_any_signed_body_never_500_and_stores_nothing(fuzz_slack, body, content_type):
    before = snapshot(fuzz_slack.container)
    response = fuzz_slack.post(body, content_type)
    assert response.status_code < 500, (body, response.status_code, response.text)
    assert "Traceback" not in response.text
    fuzz_slack.run_jobs()
    assert snapshot(fuzz_slack.container) == before


def test_forged_payload_without_signature_is_refused(slack):
    body = action_body("incident_ack", "1")
    assert slack.post(body, "application/x-www-form-urlencoded", signed=False).status_code == 401
