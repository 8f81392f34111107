"""What Slack's ack says to a slash command, shared by Bolt's listener and the HTTP fast path.

A command is either answered in the ack itself (help, an unknown subcommand: no database needed) or
stored as a job and acknowledged with an empty 200, the worker answering through `response_url`.
Both front doors (`bot.adapters.slack.bolt` for Socket Mode and `bot.adapters.slack.fast_ack` for HTTP) decide the same
way and say the same thing when the job could not be stored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import OperationalError

from bot.core.grammar import parse
from bot.core.registry import Registry
from bot.core.errors import INTERNAL, TRY_AGAIN
from bot.core.reply import Reply
from bot.service.queue import IntakeTimeout
from bot.adapters.slack.render import blocks_json, fallback_text
from bot.adapters.slack.modals import wants_form

log = logging.getLogger(__name__)

COMMAND_JOB = "slack.command"
SLOW_STORE = ("Fireline's database is slow right now, so this may or may not have been taken. "
              "If nothing happens within a minute, try again.")
COMMAND_FIELDS = ("command", "text", "user_id", "user_name", "channel_id", "channel_name", "response_url",
                  "trigger_id", "team_id")


OTHER_WORKSPACE = Reply.error("This Fireline belongs to another Slack workspace, so it does nothing here.",
                              "Use the Fireline your own workspace installed (`/incident help` there).")


def team_of(body: Mapping[str, Any]) -> str:
    """The workspace a signed Slack payload comes from: `team_id` on slash commands and events, `team.id` on
    buttons, modals and shortcuts (`user.team_id` or `view.team_id` where Slack leaves `team` empty)."""
    if isinstance(body.get("team_id"), str):
        return body["team_id"]
    for part, key in (("team", "id"), ("user", "team_id"), ("view", "team_id")):
        value = body.get(part)
        if isinstance(value, Mapping) and isinstance(value.get(key), str) and value[key]:
            return value[key]
    return ""


def from_other_workspace(settings, body: Mapping[str, Any]) -> bool:
    """A request from a workspace other than SLACK_TEAM_ID (the one Sign in with Slack admits), refused at the door
    by both front doors before anything runs: the signing secret is the app's, so a distributed or re-installed app
    is signed the same from every workspace it is in, and only the team id tells them apart."""
    team = team_of(body)
    return bool(settings.slack_team_id and team and team != settings.slack_team_id)


def ack_payload(reply: Reply) -> dict[str, Any]:
    """A reply as the body of Slack's ack (or a response_url post)."""
    kind = "in_channel" if reply.visibility == "channel" else "ephemeral"
    return {"response_type": kind, "text": fallback_text(reply), "blocks": blocks_json(reply)}


def answered_in_ack(registry: Registry, name: str, text: str) -> bool:
    """Help, an unknown command or an unknown subcommand: answered at once, nothing stored."""
    spec = registry.commands.get(name)
    if spec is None or opens_form(name, text):
        return True
    if not spec.subcommands:
        return False
    sub = _plain_first_word(text)
    if sub is None:  # quotes, odd spacing or nothing at all: ask the full grammar
        sub = parse(name, text, has_subcommands=True).sub
    return sub in (None, "help") or sub not in spec.subcommands


def opens_form(name: str, text: str) -> bool:
    """`/incident` alone or `/incident declare` without a title: the ack opens the declare modal (bot.adapters.slack.modals)."""
    return wants_form(name, text)


def _plain_first_word(text: str) -> str | None:
    """The subcommand when the text starts with a plain ASCII word, as the grammar would read it.

    Saves a shell-style split of the whole text on every ack; anything less plain returns None.
    """
    first = text.lstrip(" ").split(" ", 1)[0]
    return first.lower() if first.isascii() and first.isalnum() else None


def command_job(command: Mapping[str, Any], request_id: str | None) -> tuple[dict[str, Any], str | None]:
    """The job payload for a slash command, and its dedup key (a retried trigger runs once)."""
    payload = {key: command.get(key) for key in COMMAND_FIELDS}
    payload["request_id"] = request_id
    trigger = command.get("trigger_id")
    return payload, (f"cmd:{trigger}" if trigger else None)


def store_failed_reply(exc: BaseException, name: str) -> Reply:
    """What the person sees when their command could not be stored: never a traceback."""
    if isinstance(exc, IntakeTimeout):
        log.warning("storing /%s took too long", name)
        return Reply.error(SLOW_STORE)
    if isinstance(exc, OperationalError):
        log.warning("could not store /%s for later: database unavailable", name)
        return Reply.error(TRY_AGAIN)
    log.error("could not store /%s for later", name, exc_info=exc)
    return Reply.error(INTERNAL)
