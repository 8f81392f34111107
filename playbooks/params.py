"""Reading the words after `/restart`, `/rollback` and `/scale`: numbers, regions, machines, batches.

Shared so every Fly playbook refuses bad input the same way: a sentence saying what was wrong and
what to type instead, never a traceback (`"²".isdigit()` is true, yet `int("²")` fails, so numbers
are matched against ASCII digits here, with a length cap).
"""

from __future__ import annotations

import re

from playbooks.framework import PlaybookArgs, Refused

REGION = re.compile(r"[a-z]{3}")  # Fly region codes: iad, lhr, fra, ...


# The digits rule of bot.core.text (playbooks import nothing from bot/, so it is restated here; a test holds the two
# together): full-width digits read as 0-9, nothing else is a digit (`"²".isdigit()` is true, `int("٢")` is 2).
FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def whole_number(word: str | None, max_digits: int = 6) -> int | None:
    """`word` as a non-negative integer, or None when it is not digits 0-9 (full-width ones count) or too long."""
    if word is None:
        return None
    word = word.translate(FULL_WIDTH_DIGITS)
    if not re.fullmatch(rf"[0-9]{{1,{max_digits}}}", word):
        return None
    return int(word)


def parse_batch(args: PlaybookArgs, example: str) -> int:
    """`--batch N` (1 to 50 machines changed together); `example` is the command shown in the hint."""
    value = args.flag("batch")
    if value is None:
        return 1
    number = whole_number(value, 3)
    if number is None or not 1 <= number <= 50:
        raise Refused(f"`--batch {value[:10]}` is not a batch size.",
                      f"Give a number of machines per batch from 1 to 50, for example `/{example} --batch 2`.")
    return number


def parse_region(args: PlaybookArgs, example: str) -> str | None:
    """`--region R`, lower-cased; a word that cannot be a Fly region is refused before anything is planned."""
    value = args.flag("region")
    if value is None:
        return None
    region = value.lower()
    if not REGION.fullmatch(region):
        raise Refused(f"`--region {value[:20]}` is not a Fly region code.",
                      f"Regions are three letters (`fly platform regions` lists them), for example "
                      f"`/{example} --region lhr`.")
    return region


def parse_machines(args: PlaybookArgs) -> list[str]:
    """Every `--machine ID` (repeated, or comma-separated)."""
    machines = []
    while (value := args.flag("machine")) is not None:
        machines += [part for part in value.split(",") if part]
    return machines


def reject_leftovers(args: PlaybookArgs, command: str, usage: str) -> None:
    """Whatever words are left were not understood: say which, and the usage."""
    if not args.words:
        return
    dangling = next((w for w in args.words if w.startswith("--") and "=" not in w and len(w) > 2), None)
    if dangling and re.search(re.escape(dangling) + r"(?![\w-])", usage):
        raise Refused(f"`{dangling[:30]}` needs a value.", f"Usage: `/{command} {usage}`.")
    raise Refused(f"`/{command}` does not understand `{' '.join(args.words)[:60]}`.",
                  f"Usage: `/{command} {usage}`.")


__all__ = ["parse_batch", "parse_machines", "parse_region", "reject_leftovers", "whole_number"]
