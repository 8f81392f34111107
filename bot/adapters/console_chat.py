"""The chat port in a terminal: what Slack would show, printed; buttons remembered so `!Label` can press them."""

from __future__ import annotations

import itertools
import re
from typing import TextIO

from bot.core.chat import MessageRef
from bot.core.reply import Button, Reply
from bot.core.text import without_bidi


def render_text(reply: Reply) -> str:
    """Slack mrkdwn -> readable terminal text: mentions as @id, entities decoded, buttons as [Label].

    A header is the first line and its fields follow it, as
    Slack shows them; the menu's actions come after `more:`, and `!Label` presses them like buttons.
    A checklist is `[x]`/`[ ]` lines, numbered; `!tick N` ticks or unticks step N.
    """
    if reply.header:
        head = [reply.header, *(f"  {label}: {value}" for label, value in reply.fields)]
        out = [*head, *("  " + line for line in reply.lines)]
    else:
        out = [reply.text, *("  " + line for line in reply.lines)]
        out += [f"  {label}: {value}" for label, value in reply.fields]
    if reply.checklist:
        out += [f"  {item.line(number)}" for number, item in enumerate(reply.checklist.items, start=1)]
        out.append("  tick or untick a step: !tick N")
    if reply.footer:
        out.append(f"  ({reply.footer})")
    if reply.buttons or reply.overflow:
        shown = " ".join(f"[{b.label}]" for b in reply.buttons)
        if reply.overflow:
            shown += ("  " if shown else "") + "more: " + " ".join(f"[{b.label}]" for b in reply.overflow)
        out.append("  " + shown)
    text = "\n".join(out)
    text = re.sub(r"<@([A-Z0-9]+)(?:\|[^>]*)?>", r"@\1", text)
    text = re.sub(r"<#[A-Z0-9]+\|([^>]*)>", r"#\1", text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    text = re.sub(r":[a-z_]+: ?", "", text)
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", text)  # *bold* reads fine as plain words
    return without_bidi(text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")).strip()


class ConsoleChat:
    """Prints what Slack would show; remembers buttons so `!Label` can press the newest one."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.buttons: list[Button] = []
        self.channels: dict[str, str] = {}
        self.messages: dict[str, Reply] = {}
        self._ts = itertools.count(1)

    def _show(self, where: str, reply: Reply) -> None:
        self.buttons.extend(reply.actions)
        body = render_text(reply)
        if where:
            body = f"[{where}]\n  " + body.replace("\n", "\n  ")
        print(body, file=self.out)

    def create_channel(self, name: str, private: bool = False) -> tuple[str, str]:
        taken = set(self.channels.values())
        final = name
        for n in itertools.count(2):
            if final not in taken:
                break
            final = f"{name[:76]}-{n}"
        channel_id = f"#{final}"  # stable across console runs on the same database
        self.channels[channel_id] = final
        print(f"* created channel #{final}", file=self.out)
        return channel_id, final

    def invite(self, channel_id: str, user_ids: list[str]) -> None:
        return None

    def post(self, channel: str, reply: Reply, thread_ts: str | None = None) -> MessageRef:
        name = self.channel_name(channel) or channel.lstrip("#")
        self._show(f"#{name}" + (" thread" if thread_ts else ""), reply)
        ref = MessageRef(channel, str(next(self._ts)))
        self.messages[ref.ts] = reply
        return ref

    def update(self, ref: MessageRef, reply: Reply) -> None:
        self.messages[ref.ts] = reply
        self.buttons.extend(reply.actions)

    def post_ephemeral(self, channel: str, user_id: str, reply: Reply) -> None:
        self._show("", reply)

    def upload(self, channel: str, filename: str, content: str, title: str) -> None:
        name = self.channel_name(channel) or channel
        print(f"[#{name}] uploaded {filename}: {title} ({len(content.splitlines())} lines)", file=self.out)

    def channel_name(self, channel_id: str) -> str | None:
        return self.channels.get(channel_id)

    def archive(self, channel_id: str) -> None:
        print(f"* archived channel #{self.channel_name(channel_id) or channel_id.lstrip('#')}", file=self.out)

    def user_email(self, user_id: str) -> str | None:
        return None

    def display_name(self, user_id: str) -> str | None:
        return None  # the console's user is CONSOLE_USER, already a name

    def find_button(self, label: str) -> Button | None:
        wanted = label.strip().lower()
        for button in reversed(self.buttons):
            if button.label.lower() == wanted:
                return button
        return None
