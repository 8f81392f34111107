"""What a command answers, independent of where it is shown (Slack Block Kit or the console).

All text here is Slack mrkdwn that is already safe: anything a person or an alert typed goes
through `escape()` first, so `<!channel>` or `<@U123>` in a title is shown, never pings, and an RTL
override (U+202E) is dropped from what is shown. Each renderer drops bidi controls from its output too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.core.text import without_bidi


def escape(text: str) -> str:
    """Neutralise Slack control sequences (mentions, links, broadcasts) and bidi controls in untrusted text."""
    return without_bidi(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str | None) -> str:
    """A user mention for ids we trust (from Slack's own payloads); the console shows @name."""
    if not user_id:
        return "nobody"
    if user_id.startswith(("U", "W")) and user_id[1:].isalnum() and user_id.isupper():
        return f"<@{user_id}>"
    if user_id.startswith("pagerduty:"):  # an agent named by a PagerDuty webhook
        return f"{escape(user_id.split(':', 1)[1].strip() or 'someone')} (PagerDuty)"
    return "@" + escape(user_id)


class Visibility(StrEnum):
    EPHEMERAL = "ephemeral"  # only the person who asked sees it
    CHANNEL = "channel"  # everyone in the channel


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str
    value: str = ""
    style: str | None = None  # "primary" | "danger" | None


@dataclass(frozen=True)
class CheckItem:
    """One box of a checklist: `label` is mrkdwn, `note` says who ticked it and when (or who owns the step)."""

    label: str
    value: str
    checked: bool = False
    note: str = ""

    def line(self, number: int | None = None) -> str:
        """As text: `[x] 2. label (note)`, `[ ]` when unticked; the number only where `!tick N` uses it (the
        console). The one text form of a box, for the console and the notification fallback."""
        numbered = f"{number}. " if number is not None else ""
        return f"[{'x' if self.checked else ' '}] {numbered}{self.label}" + (f" ({self.note})" if self.note else "")


@dataclass
class Checklist:
    """Boxes people tick in place: Slack draws a `checkboxes` element, the console `[x]`/`[ ]` lines with
    `!tick N`, the web a list. Ticking one sends `action_id` with `<item value>:on` or `<item value>:off`."""

    action_id: str
    items: list[CheckItem]

    def tick_buttons(self) -> list[Button]:
        """The console's way to tick: `!tick N` flips item N from what it showed."""
        return [Button(f"tick {number}", self.action_id, f"{item.value}:{'off' if item.checked else 'on'}")
                for number, item in enumerate(self.items, start=1)]


@dataclass
class Reply:
    """A message: a title line, body lines, label/value fields, buttons and a menu of secondary actions.

    `header`, when set, is the message's headline (Slack draws it large, as a header block) and `text`
    is then only what a notification shows: the headline already says it. `overflow` holds the actions
    few people need at that moment; Slack folds them into one "more" menu, so the two or three likely
    buttons stand out instead of a row of equal ones (Slack's own guidance for app messages).
    `checklist`: boxes ticked in place on a shared message (the SEV1 playbook), after the lines.
    """

    text: str
    lines: list[str] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    visibility: Visibility = Visibility.EPHEMERAL
    footer: str | None = None
    header: str | None = None
    overflow: list[Button] = field(default_factory=list)
    checklist: Checklist | None = None

    @classmethod
    def error(cls, text: str, *hints: str) -> Reply:
        return cls(text=f":warning: {text}", lines=list(hints))

    @property
    def actions(self) -> list[Button]:
        """Every action a person can take on this message: the buttons, then the menu's."""
        ticks = self.checklist.tick_buttons() if self.checklist else []
        return [*self.buttons, *self.overflow, *ticks]

    def public(self) -> Reply:
        self.visibility = Visibility.CHANNEL
        return self

    def plain_text(self) -> str:
        """Fallback text for notifications and the console: all parts, one per line."""
        parts = [self.header or self.text, *self.lines]
        parts += [f"{label}: {value}" for label, value in self.fields]
        if self.checklist:
            parts += [item.line() for item in self.checklist.items]
        if self.footer:
            parts.append(self.footer)
        return "\n".join(parts)
