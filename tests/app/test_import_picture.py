"""The import picture: the container and the context are types, not the way into every feature.

The container and the context are what every feature imports; if either imported a feature (to register
it), every feature would sit on one import circle. These tests read the imports (top-level and inside functions alike: both run) with `ast`, so a new
import that closes the circle again fails here rather than at some first call in production.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.app.test_import_graph import import_graph as _reader

ROOT = Path(__file__).resolve().parents[2]
# The built-in features (bot.app.assembly.FEATURES registers them; test_every_... checks the two agree).
FEATURES = {"bot.features.incident.feature", "bot.features.playbooks.feature", "bot.adapters.slack.bolt", "bot.features.timeline.feature",
            "bot.adapters.slack.modals", "bot.features.roles.feature", "bot.adapters.slack.home",
            "bot.features.postmortem.feature", "bot.features.postmortem.cli", "bot.adapters.slack.pins", "bot.core.metrics", "bot.features.alerts.feature",
            "bot.features.alerts.cli", "bot.features.pagerduty.feature", "bot.app.plugins", "bot.clients.fly.check",
            "bot.features.status.check", "bot.features.status.feature", "bot.features.status.slack_modal",
            "bot.features.providers.feature", "bot.features.status.sync", "bot.adapters.web.public",
            "bot.features.deploy_watch.feature", "bot.features.fly_metrics.feature", "bot.features.canary.feature", "bot.features.undo.feature", "bot.features.workflows.feature", "bot.features.workflows.cli", "bot.features.insights.feature", "bot.adapters.web.team", "bot.adapters.web.dev",
            "bot.features.catchup.feature", "bot.features.archive.feature", "bot.features.pagerduty.handoff", "bot.features.private.feature",
            "bot.adapters.drill", "bot.adapters.slack.status_modal",
            "bot.adapters.slack.alerts"}


def import_graph() -> dict[str, set[str]]:
    """module -> the bot modules it imports when it runs (docs/tools/import_graph.py reads them)."""
    return _reader.graph()


cycles = _reader.cycles


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
    through = [c for c in cycles(graph) if set(c) & {"bot.core.container", "bot.core.context", "bot.app.assembly"}]
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

    assert set(FEATURE_MODULES) == FEATURES | {"bot.core.check", "bot.features.alerts.check", "bot.service.lookups",
                                             "bot.adapters.slack.check", "bot.app.observability"}
    registry = cli_registry(None)
    assert list(registry.cli_commands) == ["console", "serve", "socket", "worker", "check", "db", "commands",
                                           "classify", "postmortem", "report", "workflows", "web", "drill"]
    assert list(registry.checks) == ["slack", "secrets", "database", "sentry", "alerts", "roles", "fly", "health",
                                     "responders", "postmortem", "pagerduty", "status-page", "providers", "statuspage",
                                     "workflows", "sentry-api", "fly-metrics",
                                     "playbooks"]
