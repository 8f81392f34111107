"""Text people and senders type, made safe to store and to show: one set of rules for every front end.

Slack commands, button values, alert webhooks, Slack messages from integrations and PagerDuty events
all pass `clean()` before anything is parsed or stored. Measured against PostgreSQL: a NUL byte in a
title raised `DataError: PostgreSQL text fields cannot contain NUL (0x00) bytes` and the person was
told "something went wrong, try again" on every retry; a lone surrogate (JSON `"\\ud800"`) cannot be
encoded as UTF-8 at all. Neither carries meaning in a title, so both are dropped (the surrogate shown
as U+FFFD), with the other C0/C1 control characters (a terminal escape like ESC `[2J` would clear the
console's screen). Tabs and newlines stay.

Invisible format characters (Unicode category Cf: zero-width space, BOM, word joiner, bidi controls, ...)
count as space where space matters: a title of zero-width spaces declared `#22` with a title nobody could
see. They are trimmed from the edges of words and a word of nothing else is no word; inside a word they
stay, because there they mean something (the zero-width joiner in 👩‍💻, the non-joiner in Persian). Bidi
controls that stay are neutralised where text is shown (`bot.core.reply.escape`), not where it is stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def clean(text: str) -> str:
    """Storable text: no NUL or other control characters (tab and newline kept), no lone surrogates."""
    if text.isascii() and text.isprintable():  # the common case: ~0.2 µs per command
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROLS.sub("", text)
    return _SURROGATES.sub("\ufffd", text)


def is_blank(ch: str) -> bool:
    """Whitespace, or an invisible format character (category Cf) that counts as space."""
    return ch.isspace() or unicodedata.category(ch) == "Cf"


# Explicit bidi embeddings, overrides and isolates, and the directional marks: U+202E shows "gnp.exe" as
# "exe.png". Shown text drops them (each Reply's text through `bot.core.reply.escape`, and each renderer's output).
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")


def without_bidi(text: str) -> str:
    """`text` as it may be shown: no bidi controls (stored text keeps them, as typed)."""
    return text if text.isascii() else _BIDI.sub("", text)


_OTHER_SPACES = re.compile(r"[^\S\t\n ]")  # NBSP, ideographic space, ...: separators like the ASCII space


def strip_blank(text: str) -> str:
    """`text` without whitespace or format characters at either end ("" when it holds nothing else)."""
    start, end = 0, len(text)
    while start < end and is_blank(text[start]):
        start += 1
    while end > start and is_blank(text[end - 1]):
        end -= 1
    return text[start:end]


def spaces_to_ascii(text: str) -> str:
    """Every Unicode space separator (NBSP, U+3000, ...) as an ASCII space, so words split where they look split."""
    return text if text.isascii() else _OTHER_SPACES.sub(" ", text)


def one_line(text: str) -> str:
    """`text` on one line: newlines, tabs and runs of any space become one space (for titles shown as one line)."""
    return " ".join(text.split())


# Digits: one rule for every number a person types (`#26`, `sev1`, `--batch 2`, `/scale count 6`, `-20m`).
# Full-width digits (U+FF10-FF19, what a CJK input method types in full-width mode) are the digits 0-9 and
# read as them; nothing else is a digit, though Python's `\d` and `int()` take Arabic-Indic `٢` and
# `"²".isdigit()` is true (`#２６` resolved to #26 while `sev１` and `--batch ２` were refused). Titles keep
# what was typed: only the word being read as a number is translated.
FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def ascii_digits(word: str) -> str:
    """`word` with full-width digits as ASCII ones (everything else unchanged)."""
    return word if word.isascii() else word.translate(FULL_WIDTH_DIGITS)


def whole_number(word: str | None, max_digits: int = 9) -> int | None:
    """`word` as a non-negative integer under the digits rule, or None (also when longer than max_digits)."""
    if word is None:
        return None
    word = ascii_digits(word)
    if not (0 < len(word) <= max_digits and word.isascii() and word.isdigit()):
        return None
    return int(word)


def clean_tree(value: Any) -> Any:
    """`clean()` applied to every string (keys too) in parsed JSON, without recursion (any depth json accepts)."""
    if isinstance(value, str):
        return clean(value)
    if not isinstance(value, dict | list):
        return value
    root: list[Any] = [value]
    stack: list[tuple[Any, Iterable[Any]]] = [(root, [0])]
    while stack:
        container, keys = stack.pop()
        for key in list(keys):
            item = container[key]
            if isinstance(item, str):
                container[key] = clean(item)
            elif isinstance(item, list):
                stack.append((item, range(len(item))))
            elif isinstance(item, dict):
                fixed = {clean(k) if isinstance(k, str) else k: v for k, v in item.items()}
                container[key] = fixed
                stack.append((fixed, list(fixed)))
    return root[0]


@dataclass(frozen=True)
class Mark:
    """A span of text that is one word however it reads (`@Dana Lead`), and whom or which channel it names."""

    start: int
    end: int
    user: str | None = None
    channel: str | None = None


class Marked(str):
    """Text as a person typed it, with the spans a chat front end knows more about (bot.adapters.slack.text).

    The grammar keeps each span one word and hands its id to the command (`/incident lead @Dana Lead`
    names a person by id, though the text reads as a name). A plain `str` (the console) has no marks.
    """

    marks: tuple[Mark, ...]

    def __new__(cls, text: str, marks: Iterable[Mark] = ()) -> Marked:
        made = super().__new__(cls, text)
        made.marks = tuple(marks)
        return made


__all__ = ["BIDI_CONTROLS", "FULL_WIDTH_DIGITS", "Mark", "Marked", "ascii_digits", "clean", "clean_tree", "is_blank",
           "one_line", "spaces_to_ascii", "strip_blank", "whole_number", "without_bidi"]
