"""Team playbooks as plug-ins: Python modules in PLAYBOOKS_PATH, or packages with a `fireline.playbooks`
entry point, loaded at start-up into the same registry as the built-in playbooks.

A plug-in is a `playbooks.framework.Playbook` subclass (name, command or subcommand, usage, params, who
may confirm it, plan and run_step); `bot.features.playbooks.feature.add_playbook` makes it a command, so it
gets the same plan -> Confirm -> execute -> audit path, help text and console support as the built-ins.

What a source may hold:
- `PLAYBOOKS = [...]`: the playbooks (instances or classes) to add, in order; or, without it, every
  `Playbook` subclass *defined* in the module (not imported into it) with a `name`;
- `register(registry)`: anything else (hooks, buttons, commands), called after the playbooks are added.
An entry point may also name a `Playbook` class or instance, or a `register` function, directly.

What `register(registry)` may add is what a built-in feature adds: commands, buttons, jobs, hooks,
`fireline` subcommands (`registry.cli(...)`) and `fireline check` lines (`registry.check(...)`).

A plug-in that fails to load never stops Fireline (it must be up during an incident): the error is
logged, kept in `registry.plugins`, and `fireline check` reports it and exits 1. A plug-in can add
commands but never replace one: a clashing name is refused with what it clashes with.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from bot.features.playbooks.feature import add_playbook
from bot.core.reply import Reply, escape
from bot.service.responders import ANYONE, WHO
from playbooks.framework import Playbook

if TYPE_CHECKING:
    from bot.core.registry import Registry
    from bot.core.settings import Settings

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "fireline.playbooks"
MODULE_PREFIX = "fireline_plugins"
_COMMAND = re.compile(r"^[a-z0-9][a-z0-9_-]{0,30}$")


class PluginError(Exception):
    """A plug-in cannot be used; the message says which declaration is wrong and how to fix it."""


@dataclass
class LoadedPlugin:
    """One source (a file, a package folder or an entry point) and what came of it."""

    source: str
    playbooks: list[str] = field(default_factory=list)  # invocations, e.g. "/cdn flush"
    commands: list[str] = field(default_factory=list)  # slash commands the plug-in created (Slack needs them)
    cli: list[str] = field(default_factory=list)  # `fireline` subcommands it added
    checks: list[str] = field(default_factory=list)  # `fireline check` lines it added
    error: str | None = None


# -- finding the sources ---------------------------------------------------------------------------------
def path_sources(playbooks_path: str) -> list[Path]:
    """Every `*.py` file and package folder in each folder of PLAYBOOKS_PATH (os.pathsep-separated), sorted."""
    sources: list[Path] = []
    for folder in [Path(p).expanduser() for p in playbooks_path.split(os.pathsep) if p.strip()]:
        if not folder.is_dir():
            raise PluginError(f"PLAYBOOKS_PATH names {folder}, which is not a folder.")
        for path in sorted(folder.iterdir()):
            if path.name.startswith(("_", ".")):
                continue
            if (path.suffix == ".py" and path.is_file()) or (path.is_dir() and (path / "__init__.py").exists()):
                sources.append(path)
    return sources


def import_path(path: Path) -> ModuleType:
    """Import a plug-in file or package under `fireline_plugins.<name>` (never shadowing real modules)."""
    stem = re.sub(r"\W", "_", path.stem if path.suffix == ".py" else path.name)
    name = f"{MODULE_PREFIX}.{stem}"
    if MODULE_PREFIX not in sys.modules:
        package = ModuleType(MODULE_PREFIX)
        package.__path__ = []  # a namespace for plug-ins only
        sys.modules[MODULE_PREFIX] = package
    location = path / "__init__.py" if path.is_dir() else path
    spec = importlib.util.spec_from_file_location(
        name, location, submodule_search_locations=[str(path)] if path.is_dir() else None)
    if spec is None or spec.loader is None:
        raise PluginError(f"{path} cannot be imported as Python.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and relative imports look the module up while it runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


# -- what a source declares --------------------------------------------------------------------------------
def declared_playbooks(obj: Any) -> tuple[list[Any], Any]:
    """(playbook instances, register function or None) from a module, class, instance, list or function."""
    def instance(item: Any) -> Any:
        if inspect.isclass(item) and issubclass(item, Playbook):
            return item()
        if isinstance(item, Playbook):
            return item
        raise PluginError(f"{item!r} is not a playbooks.framework.Playbook subclass or instance.")

    if isinstance(obj, ModuleType):
        register = getattr(obj, "register", None)
        if hasattr(obj, "PLAYBOOKS"):
            return [instance(item) for item in obj.PLAYBOOKS], register
        # In the order the module defines them (a module's namespace keeps definition order).
        found = [cls for cls in vars(obj).values() if inspect.isclass(cls) and issubclass(cls, Playbook)
                 and cls is not Playbook and cls.__module__ == obj.__name__ and cls.name]
        return [cls() for cls in found], register
    if isinstance(obj, list | tuple):
        return [instance(item) for item in obj], None
    if (inspect.isclass(obj) and issubclass(obj, Playbook)) or isinstance(obj, Playbook):
        return [instance(obj)], None
    if callable(obj):
        return [], obj
    raise PluginError(f"{obj!r} is neither a module, a Playbook nor a register(registry) function.")


def validate(playbook: Any, registry: Registry) -> None:
    """Refuse a declaration Fireline could not run safely, saying what to change."""
    label = type(playbook).__name__
    if not playbook.name:
        raise PluginError(f"{label} has no `name` (a unique id such as \"cdn-flush\").")
    if not _COMMAND.match(playbook.command or ""):
        raise PluginError(f"{label}.command must be a slash command name in lower case, such as \"cdn\" "
                          f"(got {playbook.command!r}).")
    if playbook.subcommand is not None and not _COMMAND.match(playbook.subcommand):
        raise PluginError(f"{label}.subcommand must be a lower-case word such as \"flush\" "
                          f"(got {playbook.subcommand!r}).")
    if playbook.who not in WHO:
        raise PluginError(f"{label}.who must be one of {', '.join(WHO)} (got {playbook.who!r}).")
    for method in ("plan", "run_step"):
        if getattr(type(playbook), method) is getattr(Playbook, method):
            raise PluginError(f"{label} does not implement `{method}()`.")
    if playbook.name in registry.playbooks:
        raise PluginError(f"a playbook named {playbook.name!r} already exists; pick another `name`.")
    existing = registry.commands.get(playbook.command)
    if existing is not None:
        if playbook.subcommand is None:
            raise PluginError(f"/{playbook.command} is already a Fireline command; give {label} another `command`, "
                              f"or a `subcommand` under /{playbook.command}.")
        if existing.handler is not None:
            raise PluginError(f"/{playbook.command} takes no subcommands; give {label} another `command`.")
        if playbook.subcommand in existing.subcommands or playbook.subcommand == "help":
            raise PluginError(f"/{playbook.command} {playbook.subcommand} already exists; pick another "
                              "`subcommand`.")


def add_source(registry: Registry, source: str, obj: Any) -> LoadedPlugin:
    """Validate everything a source declares first, then add it: a source is added whole or not at all."""
    loaded = LoadedPlugin(source)
    playbooks, register = declared_playbooks(obj)
    if not playbooks and register is None:
        raise PluginError("it declares no playbook: define a playbooks.framework.Playbook subclass with a `name`, "
                          "or a PLAYBOOKS list, or a register(registry) function.")
    names = [p.name for p in playbooks]
    if len(set(names)) != len(names):
        raise PluginError(f"it declares the playbook name {sorted({n for n in names if names.count(n) > 1})[0]!r} "
                          "twice.")
    invocations = [(p.command, p.subcommand) for p in playbooks]
    if len(set(invocations)) != len(invocations):
        raise PluginError("two of its playbooks have the same command and subcommand.")
    for playbook in playbooks:
        validate(playbook, registry)
    before, cli_before, checks_before = set(registry.commands), set(registry.cli_commands), set(registry.checks)
    for playbook in playbooks:
        add_playbook(registry, playbook)
        loaded.playbooks.append(playbook.invocation)
    if register is not None:
        register(registry)
    loaded.commands = sorted(f"/{name}" for name in set(registry.commands) - before)
    loaded.cli = [name for name in registry.cli_commands if name not in cli_before]
    loaded.checks = [name for name in registry.checks if name not in checks_before]
    return loaded


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def load_plugins(settings: Settings, registry: Registry) -> list[LoadedPlugin]:
    """Load every plug-in; returns (and keeps in `registry.plugins`) what loaded and what failed, and why."""
    results: list[LoadedPlugin] = []
    attempts: list[tuple[str, Any]] = []
    try:
        for path in path_sources(settings.playbooks_path):
            attempts.append((str(path), lambda path=path: import_path(path)))
    except PluginError as exc:
        results.append(LoadedPlugin("PLAYBOOKS_PATH", error=str(exc)))
    for entry_point in _entry_points():
        attempts.append((f"entry point {entry_point.name} ({entry_point.value})", entry_point.load))
    for source, load in attempts:
        snapshot = _snapshot(registry)
        try:
            results.append(add_source(registry, source, load()))
        except Exception as exc:
            _restore(registry, snapshot)
            message = str(exc) if isinstance(exc, PluginError) else _describe(exc)
            log.error("playbook plug-in %s not loaded: %s", source, message)
            results.append(LoadedPlugin(source, error=message))
    for loaded in results:
        if loaded.playbooks:
            log.info("playbook plug-in %s: %s", loaded.source, ", ".join(loaded.playbooks))
    registry.plugins = results
    return results


def _describe(exc: BaseException) -> str:
    """An import or declaration error in one line, with the plug-in's file and line when there is one."""
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({Path(exc.filename or '?').name}, line {exc.lineno})"
    frames = [f for f in inspect.getinnerframes(exc.__traceback__) if MODULE_PREFIX in f.frame.f_globals.get(
        "__name__", "")] if exc.__traceback__ else []
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _snapshot(registry: Registry) -> dict[str, Any]:
    """Every dict and list the registry holds (commands with their subcommands), to undo a half-added source."""
    saved: dict[str, Any] = {}
    for name, value in vars(registry).items():
        if isinstance(value, dict):
            saved[name] = {k: (list(v) if isinstance(v, list) else v) for k, v in value.items()}
        elif isinstance(value, list):
            saved[name] = list(value)
    saved["_subcommands"] = {name: dict(command.subcommands) for name, command in registry.commands.items()}
    return saved


def _restore(registry: Registry, saved: dict[str, Any]) -> None:
    for name, value in saved.items():
        if name == "_subcommands":
            continue
        current = getattr(registry, name)
        if isinstance(current, dict):
            current.clear()
            current.update(value)
        else:
            current[:] = value
    for name, subcommands in saved["_subcommands"].items():
        registry.commands[name].subcommands.clear()
        registry.commands[name].subcommands.update(subcommands)


# -- where people see them ---------------------------------------------------------------------------------
def plugin_source(registry: Registry, playbook: Any) -> str | None:
    for loaded in registry.plugins:
        if playbook.invocation in loaded.playbooks:
            return Path(loaded.source).name if not loaded.source.startswith("entry point") else loaded.source
    return None


def list_playbooks(ctx, args) -> Reply:
    """`/incident playbooks`: every playbook, built in or plug-in, with how to run it and who may confirm."""
    registry = ctx.app.registry
    if not registry.playbooks:
        return Reply("No playbooks are installed.", lines=["Teams add their own with PLAYBOOKS_PATH: see "
                                                           "docs/playbooks.md."])
    lines = []
    for playbook in registry.playbooks.values():
        usage = f"`{playbook.invocation} {playbook.usage}`".replace(" `", "`")
        if not playbook.destructive:
            how = "read-only, runs at once"
        elif playbook.who == ANYONE:
            how = "plan, then anyone may Confirm"
        else:
            how = "plan, then Confirm by RESPONDERS"
        source = plugin_source(registry, playbook)
        lines.append(f"{usage}  {escape(playbook.help)} ({how}" + (f"; plug-in {escape(source)})" if source
                                                                     else ")"))
    failed = [p for p in registry.plugins if p.error]
    if failed:
        lines.append(f":warning: {len(failed)} plug-in(s) did not load; `fireline check` says why.")
    return Reply("*Playbooks*", lines=lines)


def register(registry: Registry) -> None:
    registry.command("incident", "declare and run incidents").sub(
        "playbooks", "playbooks", "every playbook you can run (built in and your team's plug-ins)", list_playbooks)
