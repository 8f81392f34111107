"""The plug-in point: commands, subcommands, buttons, background jobs, hooks, `fireline` subcommands and
`fireline check` lines register here.

Front ends only call `dispatch()` / `press()`; features (and team plug-ins) only call the
decorators. Nothing in here knows about Slack.
"""

from __future__ import annotations

import difflib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.exc import DBAPIError, OperationalError

from bot.core import log_context
from bot.core.grammar import Args, parse
from bot.core.errors import INTERNAL, TRY_AGAIN, IntegrationError, StoreUnavailable, UserError
from bot.core.reply import Button, Reply, escape
from bot.core.text import clean, whole_number
from playbooks.framework import Refused

if TYPE_CHECKING:
    import argparse

    from bot.core.check import Status
    from bot.core.context import Context
    from bot.core.settings import Settings

log = logging.getLogger(__name__)

# `(ctx, args)`, or `(ctx, args, incident)` when registered with `incident=`.
Handler = Callable[..., Reply]
# `(ctx, value)`: the value as declared on registration (`str`, `int`, or the Incident with `incident=`).
ActionHandler = Callable[..., Reply | None]
JobHandler = Callable[..., None]
HookHandler = Callable[..., None]
CardField = Callable[["Context", Any], "tuple[str, str] | None"]
CliRun = Callable[["Settings", "argparse.Namespace", "Registry"], int]
CliArguments = Callable[["argparse.ArgumentParser"], None]
CheckFn = Callable[["Settings"], "Status"]
# `(container, *args)`: a piece of a playbook's Env, bound to the container by the playbooks feature's build_env.
EnvPiece = Callable[..., Any]
# The Env fields (playbooks.framework.Env) features fill: "providers" (started -> the providers' report lines),
# "sentry" (() -> one line of Sentry's error rate). The other fields are the playbooks feature's own.
ENV_PIECES = ("providers", "sentry", "metrics")

# A handler's incident precondition: "any" = the incident it names (`#N`, or the incident channel it runs in),
# "open" = the same, refused with the one "is resolved" answer when it is resolved.
IncidentNeed = Literal["any", "open"]
# What a button's value is: `str` as sent (e.g. signed tokens the feature checks itself), `int`, or an id of
# an "incident" / "alert". Parsed here, once, by `button_number`.
ValueKind = type[str] | type[int] | Literal["incident", "alert"]
_VALUE_NAMES = {int: "a number", "incident": "an incident", "alert": "an alert"}
# Not isdigit(): "²".isdigit() is true and int("²") fails. At most 9 digits, like `#N` in the grammar: a row id
# fits PostgreSQL's integer, where a larger number is a database error instead of "there is no #N".


def button_number(value: str, names: str = "an incident") -> int:
    """The one parser of numbers in button values (Slack sends any string a client puts there)."""
    number = whole_number((value or "").strip())  # the one digits rule (bot.core.text): "２" yes, "²" no
    if number is None:
        raise UserError(f"That button does not name {names}; it may be from an older Fireline.",
                        "Run the command again for fresh buttons.")
    return number


@dataclass
class IncidentResolver:
    """How a handler's `incident=` precondition becomes an Incident: the service's lookups, which apply the
    visibility rule, handed over at assembly (`bot.service.lookups.register`), so the core imports no service."""

    # (ctx, number, channel, usage, *, open_only, command): `#N`, else `<#C...>`, else the channel typed in.
    by_words: Callable[..., Any]
    # (ctx, number, *, open_only): a button's incident number.
    by_number: Callable[..., Any]


def _resolver(resolver: IncidentResolver | None) -> IncidentResolver:
    if resolver is None:  # a registry assembled without bot.service.lookups.register
        raise RuntimeError("incident= needs an incident resolver: register bot.service.lookups on this registry")
    return resolver


@dataclass
class Subcommand:
    name: str
    handler: Handler
    usage: str
    help: str
    incident: IncidentNeed | None = None
    command: str = ""

    def run(self, ctx: Context, args: Args, resolver: IncidentResolver | None = None) -> Reply:
        if self.incident is None:
            return self.handler(ctx, args)
        target = _resolver(resolver).by_words(ctx, args.incident_ref, args.channel_ref, self.usage,
                                              open_only=self.incident == "open", command=self.command)
        return self.handler(ctx, args, target)


@dataclass
class Action:
    """A button: its handler and what its value must be (checked before the handler runs)."""

    action_id: str
    handler: ActionHandler
    value: ValueKind = str
    incident: IncidentNeed | None = None

    def run(self, ctx: Context, raw: str, resolver: IncidentResolver | None = None) -> Reply | None:
        if self.value is str:
            return self.handler(ctx, raw)
        number = button_number(raw, _VALUE_NAMES[self.value])
        if self.incident is not None:
            return self.handler(ctx, _resolver(resolver).by_number(ctx, number, open_only=self.incident == "open"))
        return self.handler(ctx, number)


@dataclass
class Command:
    """A slash command. With subcommands (`/incident declare`) or one handler (`/oncall`)."""

    name: str
    help: str
    usage: str = ""
    handler: Handler | None = None
    subcommands: dict[str, Subcommand] = field(default_factory=dict)

    def sub(self, name: str, usage: str, help: str, handler: Handler | None = None, *,
            incident: IncidentNeed | None = None) -> Callable[[Handler], Handler]:
        """Add `/<command> <name>`; as a decorator, or with the handler given (`incident.sub("ack", ..., ack)`).

        With `incident=`, the handler is called as `(ctx, args, incident)` with the incident the words name.
        """
        if incident not in (None, "any", "open"):
            raise ValueError(f"incident= is 'any' or 'open', not {incident!r}")

        def decorate(fn: Handler) -> Handler:
            self.subcommands[name] = Subcommand(name, fn, usage, help, incident, self.name)
            return fn

        if handler is not None:
            decorate(handler)
        return decorate

    def help_reply(self, note: str | None = None) -> Reply:
        lines = []
        if self.subcommands:
            for sub in self.subcommands.values():
                lines.append(f"`/{self.name} {sub.usage}`  {sub.help}")
        else:
            lines.append(f"`/{self.name} {self.usage}`".replace(" `", "`"))
        reply = Reply(text=note or f"*/{self.name}*: {self.help}", lines=lines)
        if note:
            reply.lines.insert(0, f"*/{self.name}*: {self.help}")
        return reply


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    return None


@dataclass
class CliCommand:
    """A `fireline` subcommand: `run(settings, args, registry)` returns the exit status."""

    name: str
    help: str
    add_arguments: CliArguments
    run: CliRun


@dataclass
class CardButton:
    """A button features add to every incident card (e.g. Diagnose)."""

    label: str
    action_id: str
    style: str | None = None
    likely: bool = False  # shown as a button; the others wait in the card's "more" menu


class Registry:
    """What the features registered, by kind; each kind has its one way in:

    - `command(name)` / `.sub(...)`, `simple_command(...)`: slash commands and subcommands;
    - `action(action_id)`, `view(callback_id)`, `placeholder(...)`: buttons and modals;
    - `job(kind)`, `on(hook)`: durable jobs and hooks;
    - `card_button(...)`, `card_field(fn)`: what every incident card shows;
    - `env_piece(name)(fn)`: a named piece of a playbook's Env (`ENV_PIECES`), e.g. deploy_watch's Sentry line,
      so the playbooks feature builds the Env without importing the features that know those things;
    - `cli(name)`, `check(name)`: `fireline` subcommands and `fireline check` lines;
    - `incident_resolver`: how `incident=` becomes an Incident, set by the service (bot.service.lookups.register).
    """

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self.actions: dict[str, Action] = {}
        self.jobs: dict[str, JobHandler] = {}
        self.hooks: dict[str, list[HookHandler]] = defaultdict(list)
        self.card_buttons: list[CardButton] = []
        # Playbooks by name (playbooks.framework.Playbook); bot.features.playbooks.feature.add_playbook fills it.
        self.playbooks: dict[str, Any] = {}
        self.card_fields: list[CardField] = []
        # What each plug-in source gave (bot.app.plugins.LoadedPlugin), filled by bot.app.plugins.load_plugins.
        self.plugins: list[Any] = []
        # Buttons a feature shows before another feature handles them: what a press says meanwhile.
        self.placeholders: dict[str, str] = {}
        # Modals (callback_id -> what it is) whose submissions a feature handles in its `slack.app` listener.
        self.views: dict[str, str] = {}
        # Named pieces of a playbook's Env (`env_piece`); a piece no feature gave is left out of the Env.
        self.env_pieces: dict[str, EnvPiece] = {}
        # Set by bot.service.lookups.register; without it a handler declared with `incident=` cannot run.
        self.incident_resolver: IncidentResolver | None = None
        # The chat for work nobody is waiting on, `fn(container) -> Chat`: the front end that answers later
        # work registers it (bot.adapters.slack.slack_chat); each Container takes it (bot.core.context.job_context).
        self.job_chat: Callable[[Any], Any] | None = None
        self._init_cli_and_checks()

    # -- registration -------------------------------------------------------------------------
    def command(self, name: str, help: str, usage: str = "") -> Command:
        if name not in self.commands:
            self.commands[name] = Command(name=name, help=help, usage=usage)
        return self.commands[name]

    def simple_command(self, name: str, usage: str, help: str) -> Callable[[Handler], Handler]:
        """A slash command without subcommands; the handler gets every word."""

        def decorate(fn: Handler) -> Handler:
            self.commands[name] = Command(name=name, help=help, usage=usage, handler=fn)
            return fn

        return decorate

    def action(self, action_id: str, handler: ActionHandler | None = None, *, value: ValueKind = str,
               incident: IncidentNeed | None = None) -> Callable[[ActionHandler], ActionHandler]:
        """Add a button; as a decorator, or with the handler given.

        `value=int` (or `"incident"`, `"alert"`): the handler gets the number, and a value that is not one is
        answered here. `value="incident", incident="open"` (or `"any"`): the handler gets the Incident.
        """
        if value is not str and value not in _VALUE_NAMES:
            raise ValueError(f"value= is str, int, 'incident' or 'alert', not {value!r}")
        if incident is not None and (value != "incident" or incident not in ("any", "open")):
            raise ValueError("incident= ('any' or 'open') goes with value=\"incident\"")

        def decorate(fn: ActionHandler) -> ActionHandler:
            self.actions[action_id] = Action(action_id, fn, value, incident)
            return fn

        if handler is not None:
            decorate(handler)
        return decorate

    def view(self, callback_id: str, help: str) -> None:
        """Declare a modal whose submission the feature handles (in the ack, through its `slack.app` listener, since
        Slack wants its field errors there); declared here so every view is known in one place, like the buttons."""
        self.views[callback_id] = help

    def job(self, kind: str) -> Callable[[JobHandler], JobHandler]:
        def decorate(fn: JobHandler) -> JobHandler:
            self.jobs[kind] = fn
            return fn

        return decorate

    def on(self, hook: str) -> Callable[[HookHandler], HookHandler]:
        def decorate(fn: HookHandler) -> HookHandler:
            self.hooks[hook].append(fn)
            return fn

        return decorate

    def placeholder(self, action_id: str, message: str) -> None:
        """What pressing `action_id` says while no feature has registered it (e.g. Diagnose before Fly)."""
        self.placeholders[action_id] = message

    def card_button(self, label: str, action_id: str, style: str | None = None, *, likely: bool = False) -> None:
        """A button on every incident card; `likely` ones are shown, the rest are in its menu of more actions."""
        self.card_buttons.append(CardButton(label, action_id, style, likely))

    def card_field(self, fn: CardField) -> CardField:
        """Add a (label, value) field to every incident card, e.g. its PagerDuty page; None shows nothing."""
        self.card_fields.append(fn)
        return fn

    def env_piece(self, name: str) -> Callable[[EnvPiece], EnvPiece]:
        """A piece of every playbook's Env: `fn(container, *args)` becomes the Env's field `name` (one of
        `ENV_PIECES`), bound to the container. One feature per piece: a second is refused, like a check line."""
        if name not in ENV_PIECES:
            raise ValueError(f"{name!r} is not a piece of a playbook's Env; the pieces are {', '.join(ENV_PIECES)}")

        def decorate(fn: EnvPiece) -> EnvPiece:
            if name in self.env_pieces:
                raise ValueError(f"The playbook Env's {name!r} piece is already given by "
                                 f"{getattr(self.env_pieces[name], '__module__', 'another feature')}.")
            self.env_pieces[name] = fn
            return fn

        return decorate
    def chat_for_jobs(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Where later work (timers, queued jobs, webhooks) posts: `fn(container)` returns the Chat. One front end."""
        self.job_chat = fn
        return fn

    # -- `fireline` subcommands and `fireline check` lines ---------------------------------------
    def _init_cli_and_checks(self) -> None:
        self.cli_commands: dict[str, CliCommand] = {}  # `fireline NAME`, in the order of `fireline --help`
        self.checks: dict[str, CheckFn] = {}  # `fireline check` lines, in order

    def cli(self, name: str, help: str, add_arguments: CliArguments = _no_arguments) -> Callable[[CliRun], CliRun]:
        """A `fireline` subcommand. A name already taken is refused (a plug-in adds, never replaces)."""

        def decorate(fn: CliRun) -> CliRun:
            if name in self.cli_commands:
                raise ValueError(f"`fireline {name}` already exists; pick another name.")
            self.cli_commands[name] = CliCommand(name, help, add_arguments, fn)
            return fn

        return decorate

    def check(self, name: str) -> Callable[[CheckFn], CheckFn]:
        """A `fireline check` line: `fn(settings)` returns a `bot.core.check.Status` (live, dry-run, off or error)."""

        def decorate(fn: CheckFn) -> CheckFn:
            if name in self.checks:
                raise ValueError(f"`fireline check` already has a {name!r} line; pick another name.")
            self.checks[name] = fn
            return fn

        return decorate

    # -- use -------------------------------------------------------------------------------------
    def emit(self, hook: str, ctx: Context, **data: Any) -> list[str]:
        """Run every hook; one failing hook never breaks the others. Returns the failures, in words."""
        failures = []
        incident = data.get("incident")
        if incident is not None and isinstance(getattr(incident, "id", None), int):
            log_context.bind_incident(incident.id)
        for fn in self.hooks.get(hook, []):
            try:
                fn(ctx, **data)
            except UserError as exc:
                failures.append(exc.message)
            except Exception as exc:  # a hook is a side effect; report it, keep going
                log.exception("hook %s failed in %s", hook, getattr(fn, "__qualname__", fn))
                failures.append(f"{getattr(fn, '__module__', 'a hook')}: {type(exc).__name__}")
        return failures

    def dispatch(self, ctx: Context, command_name: str, text: str) -> Reply:
        """Run a slash command's text; every error becomes a message, never a traceback."""
        command = self.commands.get(command_name.lstrip("/").lower())
        if command is None:
            return Reply.error(f"Fireline has no `/{command_name.lstrip('/')}` command.",
                               "Commands: " + ", ".join(f"`/{name}`" for name in sorted(self.commands)))
        parsed = parse(command.name, text, has_subcommands=bool(command.subcommands))
        if command.handler is not None:
            return guarded(lambda: command.handler(ctx, parsed.args))
        if parsed.sub in (None, "help"):
            return command.help_reply()
        sub = command.subcommands.get(parsed.sub)
        if sub is None:
            close = difflib.get_close_matches(parsed.sub, list(command.subcommands), n=1, cutoff=0.5)
            hint = f"Did you mean `/{command.name} {command.subcommands[close[0]].usage}`?" if close else None
            return command.help_reply(f":warning: `{escape(parsed.sub[:40])}` is not a `/{command.name}` subcommand."
                                      + (f" {hint}" if hint else ""))
        return guarded(lambda: sub.run(ctx, parsed.args, self.incident_resolver))

    def press(self, ctx: Context, action_id: str, value: str) -> Reply | None:
        """Handle a button press (from Slack or `!Label` in the console)."""
        value = clean(value)  # a forged value is signed too: same rules as typed text (bot.core.text)
        action = self.actions.get(action_id)
        if action is None and action_id in self.placeholders:
            return Reply.error(self.placeholders[action_id])
        if action is None:
            return Reply.error("That button is no longer supported; run the command again.")
        return guarded(lambda: action.run(ctx, value, self.incident_resolver))

    def all_buttons(self) -> list[Button]:
        return [Button(b.label, b.action_id, style=b.style) for b in self.card_buttons]


def guarded(run: Callable[[], Reply | None]) -> Reply | None:
    """The one mapping from errors to what a user sees."""
    try:
        return run()
    except UserError as exc:
        return Reply.error(exc.message, *exc.hints)
    except Refused as exc:  # a playbook's refusal is plain text (it may quote what was typed): escape it
        return Reply.error(escape(exc.message), *(escape(hint) for hint in exc.hints))
    except IntegrationError as exc:  # an outside service's words may hold `<`: never let them format or ping
        return Reply.error(escape(str(exc)))
    except (StoreUnavailable, OperationalError) as exc:
        log.warning("database unavailable: %s", type(exc).__name__)
        return Reply.error(TRY_AGAIN)
    except DBAPIError as exc:
        if getattr(exc, "connection_invalidated", False):
            return Reply.error(TRY_AGAIN)
        log.exception("database error")
        return Reply.error(INTERNAL)
    except Exception:
        log.exception("command failed")
        return Reply.error(INTERNAL)
