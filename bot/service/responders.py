"""Who may confirm a destructive playbook: the whole rule is `may_confirm` below, and nowhere else.

In order: a playbook declared `who = "anyone"` may be confirmed by anyone; the console user always
may; otherwise only a person in Slack (never a timer, a webhook or PagerDuty) who is listed in
RESPONDERS, directly or as a member of a listed user group. The words people see for the rule
(`who_may_confirm`) and the values a playbook may declare (`WHO`) are here too.

RESPONDERS lists Slack user ids (`U0123`) and user groups, as a handle (`@oncall`), an id
(`S0123`) or Slack's own mention (`<!subteam^S0123|@oncall>`). The console user is always
allowed (whoever has the terminal has the server). Group members are asked from Slack and kept
for a minute, so a burst of presses costs one API call.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from bot.core.container import Part
from bot.core.context import Context, Source
from bot.core.reply import mention

log = logging.getLogger(__name__)

GROUP_CACHE = timedelta(minutes=1)
# A user group's members as Slack last said: group key -> (fresh until, members).
GROUPS: Part[dict[str, tuple]] = Part("responders.groups", lambda container: {})
_SUBTEAM = re.compile(r"^<!subteam\^([A-Z0-9]+)(?:\|@?([^>]*))?>$")


RESPONDERS, ANYONE = "responders", "anyone"
WHO = (RESPONDERS, ANYONE)  # what a playbook's `who` may say (bot.app.plugins refuses anything else)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    why: str  # for the audit trail: "console user", "listed in RESPONDERS", "member of @oncall", or the refusal


def describe_responders(entries: list[str]) -> str:
    shown = []
    for entry in entries:
        subteam = _SUBTEAM.match(entry)
        if subteam:
            shown.append("@" + (subteam.group(2) or subteam.group(1)))
        elif entry.startswith(("U", "W")) and entry.isalnum():
            shown.append(mention(entry))
        else:
            shown.append(entry if entry.startswith("@") else f"@{entry}")
    return ", ".join(shown) or "nobody"


def group_key(entry: str) -> str | None:
    """A user-group reference as `S123` or `handle`, or None for a user id."""
    subteam = _SUBTEAM.match(entry)
    if subteam:
        return subteam.group(1)
    if entry.startswith("@"):
        return entry[1:].lower()
    if entry.startswith("S") and entry.isalnum() and entry.isupper():
        return entry
    return None


def group_members(ctx: Context, key: str) -> set[str]:
    cache = ctx.app.parts.get(GROUPS)
    cached = cache.get(key)
    if cached and cached[0] > ctx.now():
        return cached[1]
    lookup = getattr(ctx.chat, "group_members", None)
    members: set[str] = set()
    if lookup is not None:
        try:
            members = set(lookup(key) or ())
        except Exception as exc:  # a Slack failure means "not shown to be a member", never "allowed"
            log.warning("could not read the members of user group %s: %s", key, exc)
            return set()
    cache[key] = (ctx.now() + GROUP_CACHE, members)
    return members


def who_may_confirm(who: str, responders: str) -> str:
    """The rule in words, for a plan's footer (`responders`: `describe_responders` of RESPONDERS).

    The console's own user may always confirm too, but the plan is read in Slack, where that user is nobody.
    """
    return "anyone" if who == ANYONE else f"RESPONDERS ({responders})"


def may_confirm(ctx: Context, who: str = RESPONDERS) -> Decision:
    if who == ANYONE:
        return Decision(True, "anyone may run this playbook")
    if ctx.is_console:
        return Decision(True, "the console user")
    if ctx.source != Source.SLACK or not ctx.user_id:
        return Decision(False, "only a person may confirm")
    entries = ctx.app.settings.responder_list
    if not entries:
        return Decision(False, "RESPONDERS is empty, so nobody may confirm playbooks from Slack")
    if ctx.user_id in entries:
        return Decision(True, "listed in RESPONDERS")
    for entry in entries:
        key = group_key(entry)
        if key and ctx.user_id in group_members(ctx, key):
            return Decision(True, f"member of {describe_responders([entry])}")
    return Decision(False, f"not in RESPONDERS ({describe_responders(entries)})")
