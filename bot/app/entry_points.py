"""`fireline commands`: every entry point (slash command, `/incident` subcommand, button, modal, `fireline`
subcommand, `fireline check` line) with the function that handles it and what it declares.

Read from the assembled Registry, never from a list kept by hand: the `/incident` subcommands alone are
registered from 9 modules, so a new handler has to show up here by being registered, or nowhere.
`docs/commands.md` is this listing's Markdown (tests/app/test_entry_points.py regenerates and compares it).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.app.assembly import FEATURES
from bot.core.registry import Registry
from bot.core.hooks import Hooks

if TYPE_CHECKING:
    from bot.core.settings import Settings

# The sections of the listing, in order: the kind of each entry and its heading in Markdown.
KINDS = {"slash": "Slash commands and their subcommands", "button": "Buttons (action ids)",
         "view": "Modals (view callback ids)", "fireline": "`fireline` subcommands", "check": "`fireline check` lines"}
DOCS_COMMAND = "fireline commands --format markdown > docs/commands.md"


@dataclass(frozen=True)
class Entry:
    kind: str  # a key of KINDS ("subcommand" rows are in the "slash" section)
    name: str  # what a person types or Slack sends: `/incident sev`, `incident_ack`, `fireline db`, `slack`
    handler: str  # `module:qualname`, as `importlib.import_module(module)` + attributes would find it, or ""
    note: str = ""  # what else to know about the handler: a partial's bound arguments, "nested", or why none
    needs: str = ""  # preconditions declared at registration: `incident="open"`, `value=int`
    usage: str = ""
    summary: str = ""
    function: Any = None  # the object `handler` names (None: nothing to import, e.g. a placeholder)
    nested: bool = False  # a lambda or a function defined inside another: not importable at module level

    @property
    def section(self) -> str:
        return "slash" if self.kind == "subcommand" else self.kind


def handler_name(fn: Any) -> tuple[str, str, Any, bool]:
    """How the listing names `fn`: (`module:qualname`, a note, the object that names, whether it is nested)."""
    notes = []
    if isinstance(fn, functools.partial):  # e.g. one playbook_command per playbook: name both halves
        notes.append("with " + ", ".join(_type_name(arg) for arg in fn.args))
        fn = fn.func
    fn = getattr(fn, "__func__", fn)  # a bound method is found as its class's function
    qualname = getattr(fn, "__qualname__", None)
    if qualname is None:  # a callable object: named by its class
        return _type_name(fn), ", ".join(["an instance", *notes]), type(fn), False
    nested = "<locals>" in qualname or "<lambda>" in qualname
    if nested:
        notes.append("nested: not importable")
    return f"{_module_name(fn)}:{qualname}", ", ".join(notes), fn, nested


def _module_name(fn: Any) -> str:
    """`fn.__module__`, except that `python -m bot.app.cli` names bot.app.cli `__main__`: then the name it is imported by."""
    module = fn.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else module
    return module


def _type_name(obj: Any) -> str:
    return f"{_module_name(type(obj))}:{type(obj).__qualname__}"


def _entry(kind: str, name: str, fn: Any, note: str = "", **fields: Any) -> Entry:
    handler, own_note, function, nested = handler_name(fn)
    return Entry(kind, name, handler, ", ".join(n for n in (own_note, note) if n), function=function, nested=nested,
                 **fields)


def entries(registry: Registry) -> list[Entry]:
    """Every entry point in `registry`, in the order of its help texts."""
    found: list[Entry] = []
    for command in registry.commands.values():
        if command.handler is not None:
            found.append(_entry("slash", f"/{command.name}", command.handler,
                                usage=f"/{command.name} {command.usage}".strip(), summary=command.help))
            continue
        found.append(Entry("slash", f"/{command.name}", "", "its subcommands, below", summary=command.help))
        for sub in command.subcommands.values():
            needs = f'incident="{sub.incident}"' if sub.incident else ""
            found.append(_entry("subcommand", f"/{command.name} {sub.name}", sub.handler, needs=needs,
                                usage=f"/{command.name} {sub.usage}", summary=sub.help))
    labels = {button.action_id: button.label for button in registry.card_buttons}
    for action in registry.actions.values():
        needs = f"value={action.value.__name__}" if isinstance(action.value, type) else f'value="{action.value}"'
        if action.incident:
            needs += f', incident="{action.incident}"'
        label = labels.get(action.action_id)
        found.append(_entry("button", action.action_id, action.handler, needs=needs,
                            summary=f'the incident card\'s "{label}" button' if label else ""))
    for action_id, message in registry.placeholders.items():
        if action_id not in registry.actions:
            found.append(Entry("button", action_id, "", "none: a placeholder", summary=f"answers: {message}"))
    listeners = view_listeners()
    for callback_id, help in registry.views.items():
        hooks = listeners.get(callback_id)
        if hooks:
            found.extend(_entry("view", callback_id, hook, f"{Hooks.SLACK_APP} hook: adds the listener", summary=help)
                         for hook in hooks)
        else:
            why = "a plug-in's" if hooks is None else "its feature adds no"
            found.append(Entry("view", callback_id, "", f"{why} {Hooks.SLACK_APP} hook", summary=help))
    for cli in registry.cli_commands.values():
        found.append(_entry("fireline", f"fireline {cli.name}", cli.run, usage=cli_usage(cli.name, cli.add_arguments),
                            summary=cli.help))
    for name, check in registry.checks.items():
        found.append(_entry("check", name, check))
    return found


def view_listeners() -> dict[str, list[Callable[..., None]]]:
    """callback_id -> the `slack.app` listeners added by the built-in feature that declared the modal.

    `registry.view()` records only the callback id: a modal's submission is answered in the ack by Bolt middleware
    that the feature installs from its `slack.app` hook, so that hook is the handler a reader can find. Which
    feature declared which modal is learned by registering the features one at a time into a scratch Registry.
    """
    scratch = Registry()
    found: dict[str, list[Callable[..., None]]] = {}
    for register in FEATURES:
        views, hooks = set(scratch.views), list(scratch.hooks[Hooks.SLACK_APP])
        register(scratch)
        added = [hook for hook in scratch.hooks[Hooks.SLACK_APP] if hook not in hooks]
        for callback_id in set(scratch.views) - views:
            found[callback_id] = added
    return found


def cli_usage(name: str, add_arguments: Callable[[argparse.ArgumentParser], None]) -> str:
    """The usage line argparse prints, on one line whatever the terminal's width (the docs must not depend on it)."""
    parser = argparse.ArgumentParser(prog=f"fireline {name}", add_help=False,
                                     formatter_class=lambda prog: argparse.HelpFormatter(prog, width=10_000))
    add_arguments(parser)
    return " ".join(parser.format_usage().removeprefix("usage:").split())


def table(found: Iterable[Entry]) -> str:
    """A plain table for a terminal: one line per entry, so `fireline commands | grep incident=` works."""
    rows = [("KIND", "ENTRY", "HANDLER", "NEEDS", "USAGE / SUMMARY")]
    for entry in found:
        usage = entry.usage if entry.usage not in ("", entry.name) else ""
        handler = f"{entry.handler} ({entry.note})" if entry.handler and entry.note else entry.handler or entry.note
        rows.append((entry.kind, entry.name, handler, entry.needs or "-",
                     " - ".join(part for part in (usage, entry.summary) if part) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[4]
                   + "\n" for row in rows)


def markdown(found: Iterable[Entry]) -> str:
    """docs/commands.md: one table per kind; a column no entry of that kind fills is left out."""
    found = list(found)
    out = ["# Entry points", "", f"Generated by `{DOCS_COMMAND}`; do not edit (a test fails when it is stale).", ""]
    columns: dict[str, Callable[[Entry], str]] = {
        "Entry": lambda e: _code(e.name),
        "Usage": lambda e: _code(e.usage) if e.usage != e.name else "",
        "Handler": lambda e: f"{_code(e.handler)} ({e.note})" if e.handler and e.note else _code(e.handler) or e.note,
        "Needs": lambda e: _code(e.needs),
        "What it does": lambda e: e.summary,
    }
    for kind, heading in KINDS.items():
        rows = [entry for entry in found if entry.section == kind]
        if not rows:
            continue
        # GitHub splits cells at `|`, even inside code
        cells = [{title: cell(entry).replace("|", "\\|") for title, cell in columns.items()} for entry in rows]
        shown = [title for title in columns if any(row[title] for row in cells)]
        out += [f"## {heading}", "", "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
        out += ["| " + " | ".join(row[title] for title in shown) + " |" for row in cells]
        out.append("")
    return "\n".join(out)


def _code(text: str) -> str:
    return f"`{text}`" if text and "`" not in text else text


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "markdown"), default="table",
                        help=f"table for a terminal (default), markdown for docs/commands.md (`{DOCS_COMMAND}`)")


def cmd_commands(settings: Settings, args: argparse.Namespace, registry: Registry) -> int:
    found = entries(registry)
    print(markdown(found) if args.format == "markdown" else table(found), end="")
    return 0


def register(registry: Registry) -> None:
    registry.cli("commands", "list every slash command, subcommand, button, modal, `fireline` subcommand and "
                 "`fireline check` line with its handler (module:function)", _arguments)(cmd_commands)
