"""The plug-in point: commands, subcommands, buttons, background jobs and hooks register here.

Front ends only call `dispatch()` / `press()`; features (and team plug-ins) only call the
decorators. Nothing in here knows about Slack.
"""

from __future__ import annotations

import difflib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot import log_context
from bot.commands.grammar import Args, parse
from bot.errors import INTERNAL, TRY_AGAIN, UserError
from bot.reply import Button, Reply
from bot.text import clean

if TYPE_CHECKING:
    from bot.context import Context

log = logging.getLogger(__name__)

Handler = Callable[["Context", Args], Reply]
ActionHandler = Callable[["Context", str], Reply | None]
JobHandler = Callable[..., None]
HookHandler = Callable[..., None]
CardField = Callable[["Context", Any], "tuple[str, str] | None"]


@dataclass
class Subcommand:
    name: str
    handler: Handler
    usage: str
    help: str
    destructive: bool = False


@dataclass
class Command:
    """A slash command. With subcommands (`/incident declare`) or one handler (`/oncall`)."""

    name: str
    help: str
    usage: str = ""
    handler: Handler | None = None
    subcommands: dict[str, Subcommand] = field(default_factory=dict)

    def sub(self, name: str, usage: str, help: str, *, destructive: bool = False) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            self.subcommands[name] = Subcommand(name, fn, usage, help, destructive)
            return fn

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


@dataclass
class CardButton:
    """A button features add to every incident card (e.g. Diagnose)."""

    label: str
    action_id: str
    style: str | None = None


class Registry:
    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self.actions: dict[str, ActionHandler] = {}
        self.jobs: dict[str, JobHandler] = {}
        self.hooks: dict[str, list[HookHandler]] = defaultdict(list)
        self.card_buttons: list[CardButton] = []
        # Playbooks by name (playbooks.framework.Playbook); bot.commands.playbooks.add_playbook fills it.
        self.playbooks: dict[str, Any] = {}
        self.card_fields: list[CardField] = []
        # What each plug-in source gave (bot.plugins.LoadedPlugin), filled by bot.plugins.load_plugins.
        self.plugins: list[Any] = []
        # Buttons a feature shows before another feature handles them: what a press says meanwhile.
        self.placeholders: dict[str, str] = {}

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

    def action(self, action_id: str) -> Callable[[ActionHandler], ActionHandler]:
        def decorate(fn: ActionHandler) -> ActionHandler:
            self.actions[action_id] = fn
            return fn

        return decorate

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

    def card_button(self, label: str, action_id: str, style: str | None = None) -> None:
        self.card_buttons.append(CardButton(label, action_id, style))

    def card_field(self, fn: CardField) -> CardField:
        """Add a (label, value) field to every incident card, e.g. its PagerDuty page; None shows nothing."""
        self.card_fields.append(fn)
        return fn

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
            return command.help_reply(f":warning: `{parsed.sub[:40]}` is not a `/{command.name}` subcommand."
                                      + (f" {hint}" if hint else ""))
        return guarded(lambda: sub.handler(ctx, parsed.args))

    def press(self, ctx: Context, action_id: str, value: str) -> Reply | None:
        """Handle a button press (from Slack or `!Label` in the console)."""
        value = clean(value)  # a forged value is signed too: same rules as typed text (bot.text)
        handler = self.actions.get(action_id)
        if handler is None and action_id in self.placeholders:
            return Reply.error(self.placeholders[action_id])
        if handler is None:
            return Reply.error("That button is no longer supported; run the command again.")
        return guarded(lambda: handler(ctx, value))

    def all_buttons(self) -> list[Button]:
        return [Button(b.label, b.action_id, style=b.style) for b in self.card_buttons]


def guarded(run: Callable[[], Reply | None]) -> Reply | None:
    """The one mapping from errors to what a user sees."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from bot.errors import IntegrationError, StoreUnavailable

    try:
        return run()
    except UserError as exc:
        return Reply.error(exc.message, *exc.hints)
    except IntegrationError as exc:  # an outside service's words may hold `<`: never let them format or ping
        from bot.reply import escape

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
