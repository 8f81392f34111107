"""Slack's text as the person typed it: the one inbound rule, applied where Slack text enters Fireline.

Slack sends what people type escaped (`&` `<` `>` as `&amp;` `&lt;` `&gt;`) and marked up: links
(`<https://x|label>`, `<https://x>`), people (`<@U123>`, `<@U123|name>`), channels (`<#C123|name>`),
broadcasts (`<!here>`), user groups (`<!subteam^S123|@team>`) and dates (`<!date^...|fallback>`). Stored
as sent, that markup reached every other front end raw: `&amp;amp;` on the card, `inc-5-...-https-cgraph`
as a channel name, `&lt;` on the web timeline and in PagerDuty. So it is turned back into what the
person saw while typing, once, here: entities decoded, a link as its label (or its URL), a person as
`@` and their display name (bot/adapters/slack/people.py), a channel as `#name`, a broadcast or group as `@here`,
`@team`, a date as its fallback. Each front end escapes on the way out (bot.core.reply.escape for Block Kit,
Jinja2's autoescape for HTML); the console's text is already plain and never comes through here.

A person or channel mention stays one word for the grammar and keeps its id (bot.core.text.Marked), so
`/incident lead @Dana Lead` still names that person, while a note reads `@Dana Lead`. A `<` the person
typed arrives as `&lt;` and is never mistaken for markup: entities are decoded in the same single pass
that reads the markup, so `&amp;lt;` stays the `&lt;` that was typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.core.text import Mark, Marked, clean

NameOf = Callable[[str], "str | None"]

_TOKEN = re.compile(r"<([^<>]*)>|&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_ENTITY = re.compile(r"&(amp|lt|gt);")
_USER = re.compile(r"@([UW][A-Z0-9]+)(?:\|(.*))?", re.DOTALL)
_CHANNEL = re.compile(r"#([CGD][A-Z0-9]+)(?:\|(.*))?", re.DOTALL)
_BROADCASTS = ("here", "channel", "everyone")


def _entities(text: str) -> str:
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def _markup(inner: str, name_of: NameOf | None) -> tuple[str, str | None, str | None]:
    """One `<...>` as (what it shows, the user id it names, the channel id it names)."""
    user = _USER.fullmatch(inner)
    if user:
        uid, label = user.group(1), _entities(user.group(2) or "").lstrip("@")
        name = (name_of(uid) if name_of else None) or label or uid
        return f"@{name}", uid, None
    channel = _CHANNEL.fullmatch(inner)
    if channel:
        return f"#{_entities(channel.group(2) or '') or channel.group(1)}", None, channel.group(1)
    target, _, label = inner.partition("|")
    label = _entities(label)
    if target.startswith("!"):
        word = target[1:]
        if word.startswith("subteam^"):
            return label or f"@{word.split('^', 1)[1]}", None, None
        if word.startswith("date^"):
            return label, None, None
        if word in _BROADCASTS:
            return f"@{word}", None, None
        return label, None, None
    return label or _entities(target), None, None


def from_slack(text: str | None, name_of: NameOf | None = None) -> Marked:
    """Slack's text (a command, a message) -> what the person typed, people by name (`name_of(id)`, else as Slack
    labelled them, else the id). Also `bot.core.text.clean`'d: storable as it is."""
    text = clean(text or "")
    if "<" not in text and "&" not in text:
        return Marked(text)
    out: list[str] = []
    marks: list[Mark] = []
    length, last = 0, 0
    for match in _TOKEN.finditer(text):
        before = text[last:match.start()]
        out.append(before)
        length += len(before)
        last = match.end()
        if match.group(2):
            shown = _ENTITIES[match.group(2)]
            out.append(shown)
            length += 1
            continue
        shown, user, channel = _markup(match.group(1), name_of)
        shown = clean(shown)
        out.append(shown)
        marks.append(Mark(length, length + len(shown), user=user, channel=channel))
        length += len(shown)
    out.append(text[last:])
    return Marked("".join(out), [mark for mark in marks if mark.end > mark.start])


def plain(text: str | None, name_of: NameOf | None = None) -> str:
    """`from_slack` as a plain string (a message's text for the timeline, a modal's pre-filled title)."""
    return str(from_slack(text, name_of))


__all__ = ["from_slack", "plain"]
