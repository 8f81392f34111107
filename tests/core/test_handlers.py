"""Handlers: module-level handlers with their preconditions declared on registration, button
values parsed in one place, one "is resolved" answer, one state-change helper, hook names as constants."""

from __future__ import annotations

import importlib
import io
import re
import threading
import time
from pathlib import Path

import pytest
from sqlmodel import Session, select

import bot
from bot.adapters.console_chat import ConsoleChat
from bot.core.grammar import Args
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.hooks import Hooks
from bot.store.models import Incident, TimelineEvent
from bot.features.pagerduty import response_clock as pd_clock
from bot.core.reply import Reply
from bot.service import incidents as svc
from bot.service.incidents import Actions

RESOLVED = "#1 is resolved."
REOPEN = "Reopen it first with `/incident status investigating #1`."


def console(container, channel: str = "#incidents", user: str = "U0LEAD") -> Context:
    return Context(container, chat=ConsoleChat(io.StringIO()), user_id=user, channel_id=channel, source="console")


def events(container, incident_id: int = 1) -> list[TimelineEvent]:
    with Session(container.engine) as session:
        return list(session.exec(select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
                                 .order_by(TimelineEvent.id)).all())


def stored(container, incident_id: int = 1) -> Incident:
    with Session(container.engine) as session:
        return session.get(Incident, incident_id)


# -- handlers at module level -------------------------------------------------------------------------------------
def test_a_handler_is_a_module_level_function_a_test_can_call(sqlite_container):
    from bot.features.incident import feature as commands

    ctx = console(sqlite_container)
    incident, _ = svc.declare(ctx, "Checkout returns 502", 3, "test")
    reply = commands.sev(ctx, Args(words=["1"]), incident)
    assert f"#{incident.id} is now SEV1" in reply.text and "(was SEV3)" in reply.text
    assert "You acknowledged" in commands.press_ack(ctx, incident).text
    assert stored(sqlite_container, incident.id).acknowledged_by == "U0LEAD"


def test_every_built_in_handler_is_importable_by_its_name(sqlite_container):
    """No closures inside `register()`: each handler is found where its `__module__` and `__qualname__` say."""
    registry = sqlite_container.registry
    handlers = [sub.handler for command in registry.commands.values() for sub in command.subcommands.values()]
    handlers += [command.handler for command in registry.commands.values() if command.handler is not None]
    handlers += [action.handler for action in registry.actions.values()]
    handlers += [fn for fns in registry.hooks.values() for fn in fns]
    handlers += list(registry.jobs.values())
    checked = 0
    for fn in handlers:
        fn = getattr(fn, "func", fn)  # a playbook's command: functools.partial(playbook_command, playbook)
        if fn.__module__ not in ("bot.features.incident.feature", "bot.features.playbooks.feature", "bot.features.timeline.feature",
                                 "bot.features.postmortem.feature", "bot.features.alerts.feature", "bot.adapters.slack.pins",
                                 "bot.features.pagerduty.feature"):
            continue
        assert "<locals>" not in fn.__qualname__, fn.__qualname__
        assert getattr(importlib.import_module(fn.__module__), fn.__qualname__) is fn
        checked += 1
    assert checked > 40


# -- declared preconditions -------------------------------------------------------------------------------------
def test_declared_preconditions_are_checked_before_the_handler(sqlite_container):
    registry = sqlite_container.registry
    seen: list = []

    def go(ctx, args, incident):
        seen.append(incident.id)
        return Reply("went")

    def pressed(ctx, number):
        seen.append(number)
        return Reply("pressed")

    probe = registry.command("probe", "a test command")
    probe.sub("go", "go <text>", "needs an open incident", go, incident="open")
    registry.action("probe_press", pressed, value=int)
    ctx = console(sqlite_container)
    svc.declare(ctx, "Site is down", 1, "test")

    assert registry.dispatch(ctx, "probe", "go #1").text == "went" and seen == [1]
    wrong_channel = registry.dispatch(ctx, "probe", "go now").plain_text()
    assert "isn't an incident channel" in wrong_channel and "`/probe go <text> #N`" in wrong_channel
    assert "There is no incident #2" in registry.dispatch(ctx, "probe", "go #2").plain_text()
    svc.resolve(ctx, 1, None)
    resolved = registry.dispatch(ctx, "probe", "go #1").plain_text()
    assert RESOLVED in resolved and REOPEN in resolved
    assert "does not name a number" in registry.press(ctx, "probe_press", "²").plain_text()
    assert registry.press(ctx, "probe_press", "42").text == "pressed"
    assert seen == [1, 42]
    with pytest.raises(ValueError):
        probe.sub("bad", "bad", "a precondition that does not exist", go, incident="closed")
    with pytest.raises(ValueError):
        registry.action("bad_press", pressed, value=float)


def test_a_resolved_incident_gets_one_answer_that_says_how_to_reopen_it(slack):
    slack.command("declare Site is down sev1")
    slack.command("resolve #1")
    answers = {}
    for text in ("sev 2 #1", "lead <@U0CHEN|chen> #1", "ack #1", "page #1"):
        slack.command(text)
        answers[text] = slack.reply_text()
    for action_id in (Actions.ACK, Actions.LEAD, pd_clock.NO_CHANGE_ACTION):
        slack.press(action_id, "1", action_ts=f"1.{len(answers)}")
        answers[action_id] = slack.reply_text()
    for where, text in answers.items():
        assert RESOLVED in text and REOPEN in text, (where, text)
    assert len(set(answers.values())) == 1, answers
    slack.command("#1", command="/diagnose")  # a playbook says the same, and how to run it standalone
    text = slack.reply_text()
    assert RESOLVED in text and REOPEN in text and "standalone" in text
    assert [e.kind for e in events(slack.container)] == ["declared", "resolved"]


@pytest.mark.parametrize("action_id", [pd_clock.UPDATE_ACTION, pd_clock.NO_CHANGE_ACTION, Actions.ACK, Actions.LEAD,
                                       Actions.PLAYBOOK, Actions.CHECK])
def test_a_button_whose_value_is_not_a_number_gets_a_clear_answer(fuzz_slack, action_id):
    """"²".isdigit() is true and int("²") fails: the nudge's buttons answered that with "Something went wrong"."""
    fuzz_slack.command("declare Site is down sev1")
    fuzz_slack.press(action_id, "²:1" if action_id == Actions.CHECK else "²")
    text = fuzz_slack.reply_text()
    assert "That button does not name an incident" in text and "Something went wrong" not in text, text


@pytest.mark.parametrize("action_id", ["alert_declare", "alert_dismiss"])
def test_an_alert_button_whose_value_is_not_a_number_gets_a_clear_answer(fuzz_slack, action_id):
    fuzz_slack.press(action_id, "²")
    assert "That button does not name an alert" in fuzz_slack.reply_text()


def test_a_button_or_command_naming_no_such_incident_says_so(fuzz_slack):
    fuzz_slack.command("sev 2 #7")
    assert "There is no incident #7" in fuzz_slack.reply_text()
    for action_id in (Actions.ACK, pd_clock.NO_CHANGE_ACTION):
        fuzz_slack.press(action_id, "7")
        assert "There is no incident #7" in fuzz_slack.reply_text()
    fuzz_slack.press(pd_clock.NO_CHANGE_ACTION, "99999999999")  # more digits than an incident number has
    assert "That button does not name an incident" in fuzz_slack.reply_text()


# -- one state-change helper -------------------------------------------------------------------------------------
def test_a_verb_states_its_check_and_its_change_and_the_helper_does_the_rest(sqlite_container):
    ctx = console(sqlite_container)
    incident, _ = svc.declare(ctx, "Site is down", 3, "test")
    heard: list[dict] = []
    sqlite_container.registry.on(Hooks.INCIDENT_NOTED)(lambda ctx, incident, **data: heard.append(data))

    def verb(incident: Incident) -> svc.Change:
        incident.summary = "probed"
        return svc.Change("note", "probed it", hook={"text": "probed it"}, refresh=False)

    svc.change(ctx, incident.id, Hooks.INCIDENT_NOTED, verb)
    assert stored(sqlite_container).summary == "probed"
    assert [(e.kind, e.text) for e in events(sqlite_container)][-1] == ("note", "probed it")
    assert heard == [{"text": "probed it"}]

    def refused(incident: Incident) -> svc.Change:
        incident.summary = "half done"
        raise UserError("not now")

    before = len(events(sqlite_container))
    with pytest.raises(UserError):
        svc.change(ctx, incident.id, Hooks.INCIDENT_NOTED, refused)
    assert stored(sqlite_container).summary == "probed" and len(events(sqlite_container)) == before
    assert len(heard) == 1
    svc.resolve(ctx, incident.id, None)
    with pytest.raises(UserError, match="is resolved"):
        svc.change(ctx, incident.id, Hooks.INCIDENT_NOTED, verb)


def test_two_acknowledgements_at_once_are_applied_one_after_the_other(container, monkeypatch):
    """Both used to read "not acknowledged yet" and both wrote: two acknowledged events, the second ack winning."""
    incident, _ = svc.declare(console(container), "Site is down", 2, "test")
    real_record = svc.record

    def slow_record(session, incident, kind, *args, **kwargs):
        if kind == "acknowledged":
            time.sleep(0.5)  # between the check and the write: where the second press arrives
        return real_record(session, incident, kind, *args, **kwargs)

    monkeypatch.setattr(svc, "record", slow_record)
    outcomes: dict[str, str] = {}

    def press(user: str) -> None:
        try:
            svc.acknowledge(console(container, user=user), incident.id)
            outcomes[user] = "acknowledged"
        except UserError as exc:
            outcomes[user] = exc.message

    first = threading.Thread(target=press, args=("U0CHEN",))
    second = threading.Thread(target=press, args=("U0MARCUS",))
    first.start()
    time.sleep(0.15)
    second.start()
    first.join(20)
    second.join(20)
    assert outcomes["U0CHEN"] == "acknowledged"
    assert "already acknowledged by <@U0CHEN>" in outcomes["U0MARCUS"]
    assert [e.kind for e in events(container)].count("acknowledged") == 1
    assert stored(container).acknowledged_by == "U0CHEN"


# -- hook names --------------------------------------------------------------------------------------------------
def test_hook_names_are_constants_wherever_hooks_are_emitted_or_heard():
    root = Path(bot.__file__).parent
    typed = re.compile(r"""(\.on|\.emit|hooks\.get)\(\s*["']""")
    offenders = [f"{path.relative_to(root)}:{number}: {line.strip()}" for path in sorted(root.rglob("*.py"))
                 for number, line in enumerate(path.read_text().splitlines(), start=1) if typed.search(line)]
    assert offenders == []
    assert Hooks.INCIDENT_DECLARED == "incident.declared"  # plug-ins that write the string still work
