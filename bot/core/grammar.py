"""One grammar for every front end: `/incident sev 1 #12` parses the same from Slack or a terminal."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.core.text import ascii_digits, clean, spaces_to_ascii, strip_blank

_INCIDENT_REF = re.compile(r"^#([0-9]{1,9})$")  # matched after ascii_digits (bot.core.text: the digits rule)
_SLACK_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_SLACK_CHANNEL = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|([^>]*))?>$")
_SLACK_GROUP = re.compile(r"^<!subteam\^([A-Z0-9]+)(?:\|([^>]*))?>$")


@dataclass
class Args:
    """The words after the subcommand, with `#N` pulled out wherever it stood."""

    words: list[str] = field(default_factory=list)
    incident_ref: int | None = None
    channel_ref: str | None = None  # a channel mention like <#C123|inc-4-db> as the first word: the incident
    channel_word: str | None = None  # that mention as text (`#inc-4-db`), for commands whose words are all text
    raw: str = ""  # the text as typed, before shell-style splitting (`/alert {json}` needs its quotes)

    def all_words(self) -> list[str]:
        """The words with the channel mention put back as text (a title names no incident: it keeps it)."""
        return [Word(self.channel_word), *self.words] if self.channel_word else list(self.words)

    @property
    def rest(self) -> str:
        """The words as the text they were typed as (quotes kept)."""
        return text_of(self.words)

    def flag(self, name: str) -> str | None:
        """Value of `--name VALUE` (removed from words), or None."""
        for i, word in enumerate(self.words):
            if word == f"--{name}" and i + 1 < len(self.words):
                value = self.words[i + 1]
                del self.words[i : i + 2]
                return value
            if word.startswith(f"--{name}="):
                del self.words[i]
                return word.split("=", 1)[1]
        return None

    def switch(self, name: str) -> bool:
        """True if `--name` was given (and removes it)."""
        if f"--{name}" in self.words:
            self.words.remove(f"--{name}")
            return True
        return False


@dataclass
class ParsedCommand:
    command: str  # "incident", "restart", ...
    sub: str | None  # "declare", ... (lower-cased), or None when the text is empty
    args: Args


class Word(str):
    """A word of a command: its value (quotes around a group of words removed), the word as typed (quotes kept,
    for text), and the person or channel it names when Slack said so (bot.core.text.Marked)."""

    typed: str
    user: str | None
    channel: str | None
    names: bool  # a person or a channel mention is in it (whole, or inside quotes)
    marked: bool  # the whole word is one Slack mention, link, group or broadcast (only `user` is a person)

    def __new__(cls, value: str, typed: str | None = None, user: str | None = None,
                channel: str | None = None, names: bool = False, marked: bool = False) -> Word:
        made = super().__new__(cls, value)
        made.typed, made.user, made.channel = value if typed is None else typed, user, channel
        made.names, made.marked = names or bool(user or channel), marked or bool(user or channel)
        return made


_CLOSING = {'"': '"\u201d', "\u201c": '\u201d"', "'": "'\u2019", "\u2018": "\u2019'"}


def tokenize(text: str) -> list[Word]:
    """Split at spaces; a group of words in quotes is one word, as in a shell, but nothing is ever refused.

    A quote opens a group only at the start of a word (or after `=`, as in `--text="..."`) and only when it is
    closed later, so `don't` and a lone `"` are just characters. Each word keeps how it was typed: text (a
    note, a title) is what was typed, quotes included (a shell-style split would store `said "restart it"` as
    `said restart it`), while arguments (`statuspage "Web app"`, `--text "..."`) read the group's value.
    Cleaned first (bot.core.text); invisible characters count as space at the ends of words, and the spans of
    `Marked` text (a Slack mention shown as `@Dana Lead`) are one word each, with the id they name.
    """
    marks = {mark.start: mark for mark in getattr(text, "marks", ())}
    naming = [mark for mark in marks.values() if mark.user or mark.channel]
    text = spaces_to_ascii(text if marks else clean(text))
    words: list[Word] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start, value, whole = i, [], None
        while i < n and not text[i].isspace():
            mark = marks.get(i)
            if mark is not None:
                value.append(text[mark.start:mark.end])
                whole = mark if i == start else None
                i = mark.end
                continue
            char = text[i]
            closers = _CLOSING.get(char)
            if closers and (i == start or text[i - 1] == "="):
                close = min((j for j in (text.find(c, i + 1) for c in closers) if j > i), default=-1)
                if close > 0:
                    value.append(text[i + 1:close])
                    whole = None
                    i = close + 1
                    continue
            value.append(char)
            whole = None
            i += 1
        typed = strip_blank(text[start:i])
        shown = strip_blank("".join(value))
        if shown:
            names = any(start <= mark.start < i for mark in naming)
            words.append(Word(shown, typed, whole.user if whole else None, whole.channel if whole else None, names,
                              marked=whole is not None))
    return words


def text_of(words: list[str]) -> str:
    """Words as the text they were typed as (quotes kept), for titles, notes and updates."""
    return " ".join(getattr(word, "typed", word) for word in words).strip()


def channel_text(word: str) -> str:
    """A Slack channel mention as the words it shows (`<#C1|ops>` -> `#ops`, `<#C1>` -> `#C1`); else the word."""
    match = _SLACK_CHANNEL.match(word)
    return f"#{match.group(2) or match.group(1)}" if match else word


def parse_args(words: list[Word]) -> Args:
    """`#N` anywhere names the incident. A channel mention names it only as the first word (`update #inc-4 ...`);
    anywhere else it is words, kept as `#name`: `<#C0000001>` in a title used to vanish, and `update moved to
    #inc-2` sent the update to incident 2."""
    args = Args()
    for index, word in enumerate(words):
        ref = _INCIDENT_REF.match(ascii_digits(word))
        channel = getattr(word, "channel", None)
        if channel is None and (legacy := _SLACK_CHANNEL.match(word)):
            channel, word = legacy.group(1), Word(channel_text(word))
        if ref and args.incident_ref is None:
            args.incident_ref = int(ref.group(1))
        elif channel and index == 0:
            args.channel_ref, args.channel_word = channel, str(word)
        else:
            args.words.append(word)
    return args


def parse(command: str, text: str, *, has_subcommands: bool = True) -> ParsedCommand:
    command = command.lstrip("/").lower()
    words = tokenize(text or "")
    if has_subcommands and words:
        return ParsedCommand(command, words[0].lower(), parse_args(words[1:]))
    args = parse_args(words)
    args.raw = (text or "").strip()
    return ParsedCommand(command, None, args)


def parse_user(word: str) -> str | None:
    """A user as typed: a Slack mention (a word that names its id), Slack's `<@U123|name>`, or `@name` / `name`
    in the console."""
    if getattr(word, "marked", False):  # `@ops` from a Slack group mention is no person; `@Dana Lead` is
        return word.user
    match = _SLACK_USER.match(word)
    if match:
        return match.group(1)
    if _SLACK_GROUP.match(word) or _SLACK_CHANNEL.match(word) or word.startswith("<"):
        return None
    name = word.lstrip("@")
    return name if re.fullmatch(r"[\w.\-]{1,64}", name) else None


def parse_severity(word: str) -> int | None:
    """`sev1`, `SEV-1`, `1`, `p1` (full-width digits too, bot.core.text) -> 1; anything else -> None."""
    match = re.fullmatch(r"(?:sev|p)?[-_ ]?([1-4])", ascii_digits(word.strip().lower()))
    return int(match.group(1)) if match else None
