"""Text people and senders type, made safe to store and to show: one set of rules for every front end.

Slack commands, button values, alert webhooks, Slack messages from integrations and PagerDuty events
all pass `clean()` before anything is parsed or stored. Measured against PostgreSQL: a NUL byte in a
title raised `DataError: PostgreSQL text fields cannot contain NUL (0x00) bytes` and the person was
told "something went wrong, try again" on every retry; a lone surrogate (JSON `"\\ud800"`) cannot be
encoded as UTF-8 at all. Neither carries meaning in a title, so both are dropped (the surrogate shown
as U+FFFD), with the other C0/C1 control characters (a terminal escape like ESC `[2J` would clear the
console's screen). Tabs and newlines stay.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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


__all__ = ["clean", "clean_tree"]
