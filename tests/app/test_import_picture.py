"""The import picture: the container and the context are types, not the way into every feature.

Before issue 14, bot.core.container imported every feature (to register it) and every feature imported
bot.core.container, a 14-module circle that held together only because imports sat inside functions.
These tests read the imports (top-level and inside functions alike: both run) with `ast`, so a new
import that closes the circle again fails here rather than at some first call in production.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "bot"
# The built-in features (bot.app.assembly.FEATURES registers them; test_every_... checks the two agree).
FEATURES = {"bot.features.incident.feature", "bot.features.playbooks.feature", "bot.adapters.slack.bolt", "bot.features.timeline.feature",
            "bot.adapters.slack.modals", "bot.features.roles.feature", "bot.adapters.slack.home",
            "bot.features.postmortem.feature", "bot.features.postmortem.cli", "bot.adapters.slack.pins", "bot.core.metrics", "bot.features.alerts",
            "bot.features.alerts.feature",
            "bot.features.alerts.cli", "bot.features.pagerduty.feature", "bot.app.plugins", "bot.clients.fly.check", "bot.features.status",
            "bot.features.deploy_watch.feature", "bot.features.undo.feature", "bot.features.insights.feature", "bot.adapters.web.team", "bot.adapters.web.dev",
            "bot.features.catchup.feature", "bot.features.archive.feature", "bot.features.pagerduty.handoff", "bot.features.private.feature",
            "bot.adapters.drill", "bot.adapters.slack.status_modal",
            "bot.adapters.slack.alerts"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(BOT.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            package = package[:len(package) - (node.level - 1)]
            base = ".".join(package + ([base] if base else []))
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
    targets = set()
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name:
            targets.add(name)
            parts = name.split(".")  # importing bot.a.b runs bot.a's __init__ first
            targets |= {".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in modules}
    return targets


def import_graph() -> dict[str, set[str]]:
    """module -> the bot modules it imports when it runs (at import or in a function), TYPE_CHECKING aside."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}

    def visit(module: str, path: Path, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(module, path, other)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                graph[module] |= _imported(module, path, child, modules) - {module}
            visit(module, path, child)

    for name, path in modules.items():
        visit(name, path, ast.parse(path.read_text(encoding="utf-8")))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.add(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(component)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in graph:
        if node not in index:
            connect(node)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        for other in graph[node] - seen:
            seen.add(other)
            todo.append(other)
    return seen


def test_no_import_cycle_runs_through_the_container_or_the_context():
    graph = import_graph()
    assert graph["bot.core.container"] and graph["bot.core.context"]  # the reader found their imports at all
    through = [sorted(c) for c in cycles(graph) if c & {"bot.core.container", "bot.core.context", "bot.app.assembly"}]
    assert through == []


def test_the_container_and_the_context_import_no_feature():
    graph = import_graph()
    for module in ("bot.core.container", "bot.core.context", "bot.core.registry"):
        assert reachable(graph, module) & FEATURES == set(), module


def test_importing_the_container_and_the_context_loads_no_feature():
    """The same, as Python sees it: a fresh interpreter, then what sys.modules holds."""
    code = f"import sys, bot.core.container, bot.core.context; print(sorted(m for m in {sorted(FEATURES)!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_every_subcommand_and_check_comes_from_a_register_call():
    """`fireline` subcommands and `fireline check` lines live in the Registry, put there by `register(registry)`
    (nothing fills a module-level table on import), in the order `fireline --help` and `fireline check` show."""
    from bot.app.assembly import FEATURE_MODULES
    from bot.app.cli import cli_registry

    assert set(FEATURE_MODULES) | {"bot.features.alerts"} == FEATURES | {"bot.core.check", "bot.features.alerts.check",
                                                                   "bot.adapters.slack.check", "bot.app.observability"}
    registry = cli_registry(None)
    assert list(registry.cli_commands) == ["console", "serve", "socket", "worker", "check", "db", "commands",
                                           "classify", "postmortem", "report", "web", "drill"]
    assert list(registry.checks) == ["slack", "secrets", "database", "sentry", "alerts", "roles", "fly", "health",
                                     "responders", "postmortem", "pagerduty", "status-page", "providers", "statuspage",
                                     "sentry-api",
                                     "playbooks"]
