"""Which workflows run: the team's files (WORKFLOWS) or, with none, the default file; a bad file never stops the bot.

The set is a container part, re-read when a file's modification time or size changes (one `stat` per file per
event: measured 4 µs each on the 2-core build machine, so no watcher thread is needed). A file that no longer
loads keeps the last good set running and says why here, in `fireline check` (the `workflows` line) and in the
log; before any good set was loaded, the default file runs, so paging on SEV1/SEV2 never silently stops.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.check import Status
from bot.core.container import Container, Part
from bot.core.registry import Registry
from bot.core.settings import Settings
from playbooks.workflows import DEFAULT_FILE, Workflow, WorkflowFileError, default_workflows, load_files

log = logging.getLogger(__name__)


def team_files(settings: Settings) -> list[str]:
    """WORKFLOWS as a list of paths (comma-separated); empty: the default file runs."""
    return settings.workflow_files


def _stamp(paths: list[str]) -> tuple:
    out = []
    for path in paths:
        try:
            info = os.stat(path)
            out.append((path, info.st_mtime_ns, info.st_size))
        except OSError:
            out.append((path, None, None))
    return tuple(out)


@dataclass
class WorkflowSet:
    """The workflows in force, where they came from, and the last problem (None when the files load)."""

    workflows: tuple[Workflow, ...] = ()
    source: str = ""
    problem: str | None = None
    stamp: tuple = ()
    loaded: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enabled(self) -> tuple[Workflow, ...]:
        return tuple(wf for wf in self.workflows if wf.enabled)


def known_playbooks(registry: Registry) -> dict[str, bool]:
    """Every playbook the validator may name, plug-ins included, with whether it changes things: the bot, the
    CLI and the console's rehearsal read a file against the same list."""
    return {name: bool(getattr(playbook, "destructive", True)) for name, playbook in registry.playbooks.items()}


def load(settings: Settings, previous: WorkflowSet | None = None,
         playbooks: dict[str, bool] | None = None) -> WorkflowSet:
    """A fresh set from the settings; on a bad file, `previous` (or the default file) with the problem said."""
    paths = team_files(settings)
    if not paths:
        return WorkflowSet(default_workflows(), f"the default file ({DEFAULT_FILE.name})", None, (), True)
    try:
        found = load_files(paths, playbooks=playbooks)
    except WorkflowFileError as exc:
        kept = previous if previous is not None and previous.loaded else None
        first = "; ".join(str(p) for p in exc.problems[:3]) + (
            f" (and {len(exc.problems) - 3} more)" if len(exc.problems) > 3 else "")
        if kept is not None:
            note = f"{first}; still running the last good set from {kept.source}"
            log.error("workflows: %s", note)
            return WorkflowSet(kept.workflows, kept.source, note, _stamp(paths), True)
        note = f"{first}; running the default file until it loads"
        log.error("workflows: %s", note)
        return WorkflowSet(default_workflows(), f"the default file ({DEFAULT_FILE.name})", note, _stamp(paths), False)
    return WorkflowSet(found, ", ".join(Path(p).name for p in paths), None, _stamp(paths), True)


WORKFLOW_SET: Part[WorkflowSet] = Part("workflows.set", lambda container: load(
    container.settings, playbooks=known_playbooks(container.registry)))


def current(container: Container) -> WorkflowSet:
    """The set in force, re-read first if a team file changed on disk."""
    held = container.parts.get(WORKFLOW_SET)
    paths = team_files(container.settings)
    if paths and _stamp(paths) != held.stamp:
        with held.lock:
            fresh = load(container.settings, held, known_playbooks(container.registry))
        container.parts.put(WORKFLOW_SET, fresh)
        return fresh
    return held


def check_workflows(settings: Settings, playbooks: dict[str, bool] | None = None) -> Status:
    """`fireline check`'s workflows line: which set runs, how many, and a broken file named with its line.

    The bot's own `load`, so the line says what the bot would do with the file in its words; before, this loaded
    and worded it a second way. (A check gets only the settings: the plug-ins' playbooks are not known here, as
    before; `fireline workflows check FILE` reads the file against them.)"""
    held = load(settings, playbooks=playbooks)
    if held.problem:
        return Status("workflows", "error", f"{held.problem}. Fix it and check with `fireline workflows check FILE`")
    enabled = held.enabled()
    if not team_files(settings):
        return Status("workflows", "live", f"the default file: {len(enabled)} workflows (set WORKFLOWS to use your "
                                           "own)")
    return Status("workflows", "live", f"{len(enabled)} of {len(held.workflows)} workflows enabled from "
                                       f"{', '.join(team_files(settings))}")
