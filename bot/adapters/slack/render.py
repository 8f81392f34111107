"""Reply -> Block Kit, built with slack_sdk's models (no raw dicts elsewhere)."""

from __future__ import annotations

import hashlib
import re

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    PlainTextObject,
    SectionBlock,
)

from bot.core.reply import Button, Checklist, Reply
from bot.core.text import without_bidi

SECTION_LIMIT = 2900
MESSAGE_BLOCKS = 50  # Slack refuses a message of more (invalid_blocks), so a long reply's text is cut instead
UNIQUE_SEPARATOR = "~"
HEADER_LIMIT = 150  # a header block's plain text
OVERFLOW_MIN, OVERFLOW_MAX = 2, 5  # Slack refuses an overflow menu of fewer or more options
OVERFLOW_ACTION = "more"
OVERFLOW_SEPARATOR = " "  # an option's value is `<action_id> <value>`: action ids have no spaces
OPTION_VALUE = 150
OPTION_TEXT = 75  # an option's text and its description
CHECKBOXES_MAX = 10  # options in one checkboxes element


def _chunks(lines: list[str], limit: int) -> list[str]:
    out, current = [], ""
    for line in lines:
        line = line[:limit]
        if current and len(current) + len(line) + 1 > limit:
            out.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


def blocks(reply: Reply) -> list[Block]:
    """Header, then (under a header) the fields as its summary, the text, footer and actions.

    Without a header the text comes first and the fields after it, as they always have.
    """
    head: list[Block] = []
    if reply.header:
        head.append(HeaderBlock(text=PlainTextObject(text=_cut(without_bidi(reply.header), HEADER_LIMIT),
                                                     emoji=True)))
    fields: list[Block] = []
    for start in range(0, len(reply.fields), 10):
        texts = [MarkdownTextObject(text=without_bidi(f"*{label}*\n{value}")[:1990])
                 for label, value in reply.fields[start:start + 10]]
        fields.append(SectionBlock(fields=texts))
    rest: list[Block] = _checklist_blocks(reply.checklist) if reply.checklist else []
    if reply.footer:
        rest.append(ContextBlock(elements=[MarkdownTextObject(text=without_bidi(reply.footer)[:2900])]))
    rest += _button_blocks(reply)
    if reply.header:
        head += fields
    else:
        rest = fields + rest
    body = [*reply.lines] if reply.header else [reply.text, *reply.lines]  # the header already says `text`
    chunks = _chunks([without_bidi(line) for line in body], SECTION_LIMIT)
    room = max(MESSAGE_BLOCKS - len(rest) - len(head), 1)
    if len(chunks) > room:
        chunks = [*chunks[:room - 1], f"_...and {len(chunks) - room + 1} more sections, not shown._"]
    sections: list[Block] = [SectionBlock(text=MarkdownTextObject(text=chunk)) for chunk in chunks]
    return (head + sections + rest)[:MESSAGE_BLOCKS]


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters, never ending inside an escaped `&amp;`/`&lt;`/`&gt;` or an `:emoji:` code
    (Slack would show the broken half as typed)."""
    if len(text) <= limit:
        return text
    head = re.sub(r"(&[a-z]{0,3}|:[a-z0-9_+-]*)$", "", text[:limit - 1])
    return head + "\u2026"


def _checklist_blocks(checklist: Checklist) -> list[Block]:
    """One `checkboxes` element per ten items, ticked ones as its `initial_options`.

    The block id changes with what is ticked: Slack keeps the boxes a person sees as they were when an
    edited message reuses a block id (slackapi/java-slack-sdk#762, "initial_options are ignored during
    update"), so an edit made after someone else's tick would not show it.
    """
    result: list[Block] = []
    for start in range(0, len(checklist.items), CHECKBOXES_MAX):
        items = checklist.items[start:start + CHECKBOXES_MAX]
        options = [Option(value=item.value[:OPTION_VALUE],
                          text=MarkdownTextObject(text=_cut(without_bidi(item.label), OPTION_TEXT)),
                          description=PlainTextObject(text=_cut(without_bidi(item.note), OPTION_TEXT))
                          if item.note else None)
                   for item in items]
        ticked = [option for option, item in zip(options, items, strict=True) if item.checked]
        state = hashlib.sha1("|".join(f"{i.value}={i.checked}:{i.note}" for i in items).encode()).hexdigest()[:12]
        element = CheckboxesElement(action_id=f"{checklist.action_id}{UNIQUE_SEPARATOR}{start}", options=options,
                                    initial_options=ticked or None)
        result.append(ActionsBlock(block_id=f"checklist-{start}-{state}", elements=[element]))
    return result


def _in_menu(reply: Reply) -> list[Button]:
    """The overflow's options, or none when Slack would refuse the menu: then they are shown as buttons.

    Slack takes 2 to 5 options; one option is a button anyway, and past five (or with a value too long
    for an option's 150 characters) every action stays visible rather than some being dropped.
    """
    menu = reply.overflow
    if not OVERFLOW_MIN <= len(menu) <= OVERFLOW_MAX:
        return []
    if any(len(_option_value(b)) > OPTION_VALUE for b in menu):
        return []
    return menu


def _option_value(button: Button) -> str:
    return f"{button.action_id}{OVERFLOW_SEPARATOR}{button.value or '-'}"


def _button_blocks(reply: Reply) -> list[Block]:
    result: list[Block] = []
    menu = _in_menu(reply)
    shown = reply.buttons + [b for b in reply.overflow if not menu]
    for start in range(0, len(shown), 25):
        elements: list = []
        for index, button in enumerate(shown[start:start + 25], start=start):
            # Slack wants action ids unique within a message; the suffix is stripped on the way back.
            elements.append(ButtonElement(text=without_bidi(button.label)[:75], action_id=f"{button.action_id}"
                                          f"{UNIQUE_SEPARATOR}{index}", value=button.value[:2000] or "-",
                                          style=button.style))
        result.append(ActionsBlock(elements=elements))
    if menu:
        overflow = OverflowMenuElement(action_id=OVERFLOW_ACTION, options=[
            Option(text=PlainTextObject(text=without_bidi(b.label)[:75], emoji=True), value=_option_value(b))
            for b in menu])
        if result and len(result[-1].elements) < 25:
            result[-1] = ActionsBlock(elements=[*result[-1].elements, overflow])
        else:
            result.append(ActionsBlock(elements=[overflow]))
    return result


def pressed(action: dict, body: dict | None = None) -> tuple[str, str]:
    """(action id, value) of a pressed button, of the chosen option of the overflow menu, or of a ticked box.

    A `checkboxes` action carries every box now ticked, not the one clicked: the clicked ones are the
    difference from the message's own `initial_options`, which Slack sends back in `message.blocks`.
    Each becomes `<option value>:on` or `:off` (comma-separated), so a second delivery of the same click
    asks for the same state again rather than flipping it back.
    """
    if action.get("type") == "checkboxes":
        return base_action_id(action.get("action_id", "")), _ticked(action, body or {})
    if action.get("type") == "overflow" or base_action_id(action.get("action_id", "")) == OVERFLOW_ACTION:
        chosen = str((action.get("selected_option") or {}).get("value") or "")
        action_id, _, value = chosen.partition(OVERFLOW_SEPARATOR)
        return action_id, value
    return base_action_id(action.get("action_id", "")), action.get("value", "")


def _ticked(action: dict, body: dict) -> str:
    now = {str(o.get("value")) for o in action.get("selected_options") or [] if isinstance(o, dict)}
    shown: set[str] | None = None
    for block in ((body.get("message") or {}).get("blocks") or []):
        if not isinstance(block, dict) or block.get("block_id") != action.get("block_id"):
            continue
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == action.get("action_id"):
                shown = {str(o.get("value")) for o in element.get("initial_options") or [] if isinstance(o, dict)}
    if shown is None:  # no message to compare with (an ephemeral copy): only ticks can be told apart
        return ",".join(f"{value}:on" for value in sorted(now))
    changes = [f"{value}:on" for value in sorted(now - shown)] + [f"{value}:off" for value in sorted(shown - now)]
    return ",".join(changes)


def blocks_json(reply: Reply) -> list[dict]:
    return [block.to_dict() for block in blocks(reply)]


def fallback_text(reply: Reply) -> str:
    return without_bidi(reply.text)[:3000]


def base_action_id(action_id: str) -> str:
    return action_id.split(UNIQUE_SEPARATOR, 1)[0]
