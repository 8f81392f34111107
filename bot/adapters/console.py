"""`fireline console`: the Slack commands in a terminal, no Slack needed.

Each input line runs as if the console user typed it in Slack: `/incident declare ...` (the
leading slash and the `/incident` are optional), `!Label` presses the newest button with that
label, `:channel NAME` moves to another channel, `:workflows test declared sev1` rehearses the workflows in
force on the incident at hand (touching nothing), `:clock 2026-12-07T10:00 Europe/Paris` stops the console's
clock at that moment and `:clock +30m` moves it on, running what fell due (reminders, waits, postmortem dates).
Exits 0 at the end of input.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core import log_context
from bot.adapters.console_chat import ConsoleChat, render_text
from bot.core.grammar import parse_severity
from bot.features.incident.feature import DeclareForm, declare_form, suggest
from bot.features.workflows.seen import rehearse_here
from bot.core.registry import guarded
from bot.core.container import Container, Mode
from bot.core.context import Context, Source
from bot.store.db import session_scope
from bot.core.hooks import Hooks
from bot.core.reply import Reply, escape
from bot.core.chat import Chat
from bot.service import jobs, reads
from bot.adapters.slack.modals import wants_form
from bot.core.text import clean
from bot.core.errors import UserError
from bot.core.clock import Clock, as_utc
from playbooks.workflows.loader import parse_duration

BANNER = ("Fireline console. Type `/incident help`, `/incident declare <title> [sev1-4]`, "
          "`!Label` to press a button, `:channel NAME` to switch channel, "
          "`:workflows test declared sev1` to rehearse the workflows, `:clock +30m` to move time on, Ctrl-D to quit.")


def _no_answer(reply: Reply | None) -> None:
    return None


def console_context(container: Container, chat: Chat, *, user_id: str, channel_id: str, channel_name: str = "",
                    respond: Callable[[Reply], None] = _no_answer) -> Context:
    """A line typed at `fireline console`: its person may confirm a playbook like a person in Slack."""
    return Context(container, chat=chat, user_id=user_id, channel_id=channel_id, channel_name=channel_name,
                   respond=respond, source=Source.CONSOLE)


class ConsoleClock:
    """The console's time: the wall clock until `:clock` sets it, then standing still until `:clock +30m` moves it.

    A workflow's `remind after 15m`, a `wait 1d` or a postmortem due in 48 h cannot be watched in a terminal on
    the wall clock, and `business_hours` answers differently at each hour: a set clock lets a person (and
    docs/workflows.md, whose sessions tests/docs replays) see them happen, the same on every run."""

    def __init__(self, wall: Clock) -> None:
        self.wall = wall
        self.fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed if self.fixed is not None else self.wall()


CLOCK_HINT = "Type `:clock 2026-12-07T10:00 Europe/Paris` to set it, or `:clock +30m` to move it on."


class Console:
    def __init__(self, container: Container, out: TextIO) -> None:
        self.container = container
        self.out = out
        self.chat = ConsoleChat(out)
        container.mode = Mode.CONSOLE
        chat = self.chat
        container.chat_for_jobs = lambda _: chat  # timers and queued jobs print here too (bot.core.context.job_context)
        self.clock = ConsoleClock(container.clock)
        container.clock = self.clock
        incidents = container.settings.incidents_channel_name
        self.channel_id = f"#{incidents}"
        self.chat.channels[self.channel_id] = incidents
        self.user = container.settings.console_user
        self._load_known_channels()
        self._tty = False
        self._lines: Iterator[str] = iter(())

    def _load_known_channels(self) -> None:
        """Incident channels from earlier console runs on the same database stay reachable."""
        with session_scope(self.container.engine) as session:
            for channel_id, name in reads.incident_channels(session, None):  # the console's operator sees all
                self.chat.channels[channel_id] = name

    def context(self) -> Context:
        return console_context(self.container, self.chat, user_id=self.user, channel_id=self.channel_id,
                               channel_name=self.chat.channel_name(self.channel_id) or "", respond=self.show)

    def show(self, reply: Reply | None) -> None:
        if reply is not None:
            self.chat.buttons.extend(reply.actions)
            print(render_text(reply), file=self.out)

    def run_line(self, line: str) -> None:
        with log_context.scope():
            self._run_line(line)

    def _run_line(self, line: str) -> None:
        line = line.strip()
        if not line or line.startswith("#!"):
            return
        if line.startswith(":channel"):
            self.switch_channel(line.split(maxsplit=1)[1] if " " in line else "")
            return
        if line.startswith(":clock"):
            self.show(guarded(lambda: self.set_clock(line[len(":clock"):].strip())))
            jobs.run_due(self.container)
            return
        if line.startswith(":workflows"):  # a rehearsal: prints, touches nothing, runs no queued job
            self.show(guarded(lambda: rehearse_here(self.context(), line[len(":workflows"):])))
            return
        if line.startswith(":say"):  # a person's message in this channel, as Slack's message event
            self.container.registry.emit(Hooks.CHANNEL_MESSAGE, self.context(), channel_id=self.channel_id,
                                         text=line[4:].strip())
            print(f"[#{self.chat.channel_name(self.channel_id) or self.channel_id}] {self.context().user_id}: "
                  f"{line[4:].strip()}", file=self.out)
        elif line.startswith("!"):
            before = set(self.chat.channels)
            button = self.chat.find_button(line[1:])
            if button is None:
                self.show(Reply.error(f"No button labelled [{line[1:].strip()}] has been shown yet."))
                return
            self.show(self.container.registry.press(self.context(), button.action_id, button.value))
            self.follow(before)  # [Declare incident] on an alert opens a channel, as the command does
        else:
            command, _, text = line.lstrip("/").partition(" ")
            if command.lower() not in self.container.registry.commands:
                command, text = "incident", line.lstrip("/")
            before = set(self.chat.channels)
            if command.lower() == "incident" and text.split()[:1] == ["declare"] and wants_form("incident", text):
                self.show(self.declare_prompts(text))
            else:
                self.show(self.container.registry.dispatch(self.context(), command, text))
            self.follow(before)
        jobs.run_due(self.container)

    def follow(self, before: set[str]) -> None:
        """Follow the declarer into the new incident channel, as Slack invites them."""
        created = [c for c in self.chat.channels if c not in before]
        if created:
            self.channel_id = created[-1]
            print(f"* you are now in #{self.chat.channels[self.channel_id]} "
                  "(`:channel incidents` to go back)", file=self.out)

    def set_clock(self, words: str) -> Reply:
        """`:clock` says the time; `:clock +1h30m` moves it on; `:clock 2026-12-07T10:00 [Europe/Paris]` sets it."""
        now = self.clock()
        if words.startswith("+"):
            try:
                seconds = parse_duration(words[1:].strip())
            except ValueError:
                seconds = None
            if not seconds:
                raise UserError(f"`{escape(words[:20])}` is not a duration.", "Write `:clock +90s`, `+30m`, `+2h`, "
                                "`+1h30m` or `+1d`.")
            self.clock.fixed = now + timedelta(seconds=seconds)
            return Reply(f"* the console's clock is now {self._said(self.clock.fixed)}")
        if not words:
            return Reply(f"* the console's clock is {self._said(now)}" + (
                "" if self.clock.fixed else " (the wall clock)"), lines=[CLOCK_HINT])
        tokens = words.split()
        if len(tokens) > 1 and tokens[1][:1].isdigit():  # `2026-12-07 10:00`
            tokens[:2] = [f"{tokens[0]}T{tokens[1]}"]
        when, zone = tokens[0], " ".join(tokens[1:])
        try:
            tz = ZoneInfo(zone or "UTC")
            moment = datetime.fromisoformat(when).replace(tzinfo=tz)
        except (ValueError, ZoneInfoNotFoundError):
            raise UserError(f"`{escape(words[:40])}` is not a time.", CLOCK_HINT) from None
        self.clock.fixed = as_utc(moment)
        self.zone = tz
        return Reply(f"* the console's clock is now {self._said(self.clock.fixed)}")

    zone = ZoneInfo("UTC")

    def _said(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        text = local.strftime("%a %Y-%m-%d %H:%M")
        return text + ("" if self.zone.key == "UTC" else f" {self.zone.key} ({moment.strftime('%H:%M UTC')})")

    def ask(self, prompt: str) -> str | None:
        """The console's modal: one question, the next input line as the answer (None at the end of input)."""
        print(prompt, end="", file=self.out)
        self.out.flush()
        if self._tty:
            try:
                return input()
            except EOFError:
                return None
        answer = next(self._lines, None)
        print(file=self.out)
        return None if answer is None else answer.rstrip("\n")

    def declare_prompts(self, text: str) -> Reply | None:
        """`/incident declare` with no title: ask for the title, then the SEV (Enter takes the suggested one)."""
        ctx = self.context()
        title = " ".join(clean(self.ask("Title (what is broken)? ") or "").split())
        if not title:
            return Reply.error("No title, so nothing was declared.",
                               "Type `/incident declare <what is broken> [sev1-4]`.")
        words = text.split()
        given = parse_severity(words[1]) if len(words) == 2 else None
        level, why = suggest(ctx, title)
        level = given or level
        hint = f"Severity 1-4, Enter for SEV{level}" + ("" if given else f" (suggested: it {why})") + "? "
        answer = (self.ask(hint) or "").strip()
        if answer:
            chosen = parse_severity(answer if answer.lower().startswith(("sev", "p")) else f"sev{answer}")
            if chosen is None:
                return Reply.error(f"`{escape(answer[:20])}` is not a severity, so nothing was declared.",
                                   "Answer 1, 2, 3 or 4, or press Enter for the suggested one.")
            level, given = chosen, chosen
        return guarded(lambda: declare_form(ctx, DeclareForm(title=title, level=given)))

    def switch_channel(self, name: str) -> None:
        name = name.strip().lstrip("#")
        for channel_id, channel_name in self.chat.channels.items():
            if channel_name == name:
                self.channel_id = channel_id
                print(f"* you are now in #{name}", file=self.out)
                return
        self.show(Reply.error(f"No channel #{name} here.", "Channels: " + ", ".join(
            f"#{n}" for n in self.chat.channels.values())))

    def run(self, lines: TextIO) -> int:
        self._tty = lines.isatty()
        self._lines = iter(lines)
        if self._tty:
            print(BANNER, file=self.out)
            while True:
                try:
                    line = input(f"#{self.chat.channel_name(self.channel_id)}> ")
                except EOFError:
                    print(file=self.out)
                    return 0
                self.run_line(line)
        for line in self._lines:
            self.run_line(line)
            self.out.flush()
        return 0


def run_console(container: Container, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    return Console(container, out or sys.stdout).run(stdin or sys.stdin)
