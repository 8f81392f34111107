"""One grammar for every front end: `/incident sev 1 #12` parses the same from Slack or a terminal."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from bot.text import ascii_digits, clean, spaces_to_ascii, words_of

_INCIDENT_REF = re.compile(r"^#([0-9]{1,9})$")  # matched after ascii_digits (bot.text: the digits rule)
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
        return [self.channel_word, *self.words] if self.channel_word else list(self.words)

    @property
    def rest(self) -> str:
        return " ".join(self.words).strip()

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


def tokenize(text: str) -> list[str]:
    """Split like a shell, but never fail on a stray quote (people type `don't`).

    Cleaned first, and invisible characters count as space (bot.text): a word of zero-width spaces is no word.
    """
    text = spaces_to_ascii(clean(text))
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2018", "'").replace("\u2019", "'")
    try:
        return words_of(shlex.split(text))
    except ValueError:
        return words_of(text.split())


def channel_text(word: str) -> str:
    """A Slack channel mention as the words it shows (`<#C1|ops>` -> `#ops`, `<#C1>` -> `#C1`); else the word."""
    match = _SLACK_CHANNEL.match(word)
    return f"#{match.group(2) or match.group(1)}" if match else word


def parse_args(words: list[str]) -> Args:
    """`#N` anywhere names the incident. A channel mention names it only as the first word (`update #inc-4 ...`);
    anywhere else it is words, kept as `#name`: `<#C0000001>` in a title used to vanish, and `update moved to
    #inc-2` sent the update to incident 2."""
    args = Args()
    for index, word in enumerate(words):
        ref = _INCIDENT_REF.match(ascii_digits(word))
        channel = _SLACK_CHANNEL.match(word)
        if ref and args.incident_ref is None:
            args.incident_ref = int(ref.group(1))
        elif channel and index == 0:
            args.channel_ref, args.channel_word = channel.group(1), channel_text(word)
        else:
            args.words.append(channel_text(word))
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
    """A user as typed: Slack's escaped `<@U123|name>`, or `@name` / `name` in the console."""
    match = _SLACK_USER.match(word)
    if match:
        return match.group(1)
    if _SLACK_GROUP.match(word) or _SLACK_CHANNEL.match(word) or word.startswith("<"):
        return None
    name = word.lstrip("@")
    return name if re.fullmatch(r"[\w.\-]{1,64}", name) else None


def parse_severity(word: str) -> int | None:
    """`sev1`, `SEV-1`, `1`, `p1` (full-width digits too, bot.text) -> 1; anything else -> None."""
    match = re.fullmatch(r"(?:sev|p)?[-_ ]?([1-4])", ascii_digits(word.strip().lower()))
    return int(match.group(1)) if match else None
