"""The typed wiring: each front end builds its Contexts (frozen, with a Source), the container says its mode,
and who may confirm follows from the context's source alone."""

from __future__ import annotations

import dataclasses
import io

import pytest

from bot.features.alerts.service import paced
from bot.adapters.console import Console, console_context
from bot.adapters.console_chat import ConsoleChat
from bot.adapters.slack.context import ack_context, slack_context
from bot.adapters.slack.slack_chat import SLACK_CLIENT
from bot.core.container import Container, Mode
from bot.core.context import Source, job_context, pagerduty_context, webhook_context
from bot.service.responders import may_confirm
from bot.adapters.slack.slack_chat import SlackChat


def test_the_container_has_typed_fields_and_no_extras(sqlite_container):
    names = {f.name for f in dataclasses.fields(Container)}
    assert "extras" not in names and not hasattr(sqlite_container, "extras")
    assert {"mode", "chat_for_jobs", "parts", "knobs"} <= names
    # what one feature or front end makes is its own Part, never a field of the container
    assert not names & {"console_chat", "slack_client", "intake", "metrics_registry", "pagerduty_rest",
                        "pagerduty_events"}
    assert sqlite_container.mode is Mode.TEST and sqlite_container.knobs.fly_timeout == 15.0


def test_a_context_is_frozen(sqlite_container):
    ctx = slack_context(sqlite_container, {"user_id": "U0LEAD", "channel_id": "C1"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(ctx, "source", Source.PAGERDUTY)  # noqa: B010 - as the PagerDuty webhook did; a type checker refuses the plain assignment


def test_each_front_end_has_its_factory_and_source(sqlite_container):
    slack = slack_context(sqlite_container, {"user_id": "U0LEAD", "channel_id": "C1", "channel_name": "inc-1"})
    assert (slack.source, slack.user_id, slack.channel_id, slack.channel_name) == (Source.SLACK, "U0LEAD", "C1",
                                                                                   "inc-1")
    assert isinstance(slack.chat, SlackChat) and sqlite_container.parts.get(SLACK_CLIENT) is slack.chat.client
    assert ack_context(sqlite_container, "U1", "C1").source is Source.SLACK
    assert job_context(sqlite_container).source is Source.JOB and job_context(sqlite_container).user_id == "fireline"
    assert pagerduty_context(sqlite_container, user_id="pagerduty").source is Source.PAGERDUTY
    assert webhook_context(sqlite_container).source is Source.WEBHOOK
    chat = ConsoleChat(io.StringIO())
    console = console_context(sqlite_container, chat, user_id="console", channel_id="#incidents")
    assert console.source is Source.CONSOLE and console.is_console and console.chat is chat
    assert isinstance(Source.JOB, str) and Source("pagerduty") is Source.PAGERDUTY


def test_the_console_sets_the_mode_and_later_work_prints_there(sqlite_container):
    assert paced(sqlite_container)  # Slack's rate limits apply outside the console
    out = io.StringIO()
    console = Console(sqlite_container, out)
    assert sqlite_container.mode is Mode.CONSOLE and not paced(sqlite_container)
    for ctx in (job_context(sqlite_container), webhook_context(sqlite_container)):
        assert ctx.chat is console.chat and ctx.source is Source.CONSOLE
    pd = pagerduty_context(sqlite_container, user_id="pagerduty")
    assert pd.chat is console.chat and pd.source is Source.PAGERDUTY  # printed here, never echoed to PagerDuty


@pytest.mark.parametrize("make", [
    lambda c: job_context(c, user_id="U0LEAD"),
    lambda c: pagerduty_context(c, user_id="U0LEAD"),
    lambda c: job_context(c, user_id="U0LEAD", source=Source.WEBHOOK),
])
def test_only_a_person_may_confirm_even_with_a_listed_id(settings_factory, clock, make):
    from bot.app.assembly import build_container

    container = build_container(settings_factory("sqlite://", responders="U0LEAD"), clock=clock, migrate=False)
    assert may_confirm(slack_context(container, {"user_id": "U0LEAD"})).allowed
    decision = may_confirm(make(container))
    assert not decision.allowed and decision.why == "only a person may confirm"
    assert may_confirm(make(container), "anyone").allowed
