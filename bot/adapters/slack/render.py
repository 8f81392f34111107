"""Reply -> Block Kit, built with slack_sdk's models (no raw dicts elsewhere)."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.core.reply import Reply
from bot.core.text import without_bidi

SECTION_LIMIT = 2900
MESSAGE_BLOCKS = 50  # Slack refuses a message of more (invalid_blocks), so a long reply's text is cut instead
UNIQUE_SEPARATOR = "~"


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
    result: list[Block] = []
    rest: list[Block] = []
    for start in range(0, len(reply.fields), 10):
        fields = [MarkdownTextObject(text=without_bidi(f"*{label}*\n{value}")[:1990])
                  for label, value in reply.fields[start:start + 10]]
        rest.append(SectionBlock(fields=fields))
    if reply.footer:
        rest.append(ContextBlock(elements=[MarkdownTextObject(text=without_bidi(reply.footer)[:2900])]))
    rest += _button_blocks(reply)
    chunks = _chunks([without_bidi(line) for line in (reply.text, *reply.lines)], SECTION_LIMIT)
    room = max(MESSAGE_BLOCKS - len(rest), 1)
    if len(chunks) > room:
        chunks = [*chunks[:room - 1], f"_...and {len(chunks) - room + 1} more sections, not shown._"]
    for chunk in chunks:
        result.append(SectionBlock(text=MarkdownTextObject(text=chunk)))
    return (result + rest)[:MESSAGE_BLOCKS]


def _button_blocks(reply: Reply) -> list[Block]:
    result: list[Block] = []
    for start in range(0, len(reply.buttons), 25):
        elements = []
        for index, button in enumerate(reply.buttons[start:start + 25], start=start):
            # Slack wants action ids unique within a message; the suffix is stripped on the way back.
            elements.append(ButtonElement(text=without_bidi(button.label)[:75], action_id=f"{button.action_id}"
                                          f"{UNIQUE_SEPARATOR}{index}", value=button.value[:2000] or "-",
                                          style=button.style))
        result.append(ActionsBlock(elements=elements))
    return result


def blocks_json(reply: Reply) -> list[dict]:
    return [block.to_dict() for block in blocks(reply)]


def fallback_text(reply: Reply) -> str:
    return without_bidi(reply.text)[:3000]


def base_action_id(action_id: str) -> str:
    return action_id.split(UNIQUE_SEPARATOR, 1)[0]
