"""What the service and the features hand the registry at assembly: the `incident=` resolver and the pieces of a
playbook's Env. A scratch registry has neither, and says so instead of reaching into the service or a feature."""

from __future__ import annotations

import dataclasses

import pytest

from bot.app.assembly import feature_registry
from bot.adapters.slack.context import ack_context
from bot.core.errors import INTERNAL
from bot.core.registry import ENV_PIECES, Registry
from bot.core.reply import Reply
from bot.features.deploy_watch.sentry import error_rate_line
from bot.features.fly_metrics.feature import metrics_piece
from bot.features.playbooks.env import build_env, close_env
from bot.features.providers.feature import diagnose_lines
from bot.service import lookups


def test_assembly_gives_the_resolver_and_every_env_piece():
    registry = feature_registry()
    assert registry.incident_resolver is not None
    assert registry.incident_resolver.by_words is lookups.find_incident
    assert registry.incident_resolver.by_number is lookups.incident_by_number
    assert registry.env_pieces == {"providers": diagnose_lines, "sentry": error_rate_line, "metrics": metrics_piece}
    assert set(registry.env_pieces) == set(ENV_PIECES)


def test_an_env_piece_is_one_of_the_envs_and_given_once():
    registry = Registry()
    with pytest.raises(ValueError, match="not a piece"):
        registry.env_piece("fly")
    registry.env_piece("sentry")(lambda container: "")
    with pytest.raises(ValueError, match="already given"):
        registry.env_piece("sentry")(lambda container: "")


def test_build_env_binds_the_pieces_and_leaves_a_missing_one_unasked(sqlite_container):
    calls = []
    env = build_env(sqlite_container)
    try:
        assert env.providers is not None and env.sentry is not None
    finally:
        close_env(env)
    scratch = Registry()
    scratch.env_piece("providers")(lambda container, started: calls.append((container, started)) or ["line"])
    bare = dataclasses.replace(sqlite_container, registry=scratch)
    env = build_env(bare)
    try:
        assert env.providers(None) == ["line"] and calls == [(bare, None)]
        assert env.sentry is None  # nothing said: /diagnose shows no Sentry line
    finally:
        close_env(env)


def test_incident_needs_a_resolver(sqlite_container, caplog):
    """Without bot.service.lookups.register, a handler declared with `incident=` is a wiring error (logged, and
    the one internal-error answer), never a silent guess."""
    scratch = Registry()
    scratch.command("incident", help="x").sub("show", "show [#N]", "x", lambda ctx, args, incident: Reply("seen"),
                                                incident="any")
    ctx = ack_context(sqlite_container, "U0LEAD", "CINCIDENTS")
    assert scratch.dispatch(ctx, "incident", "show #1").text == f":warning: {INTERNAL}"
    assert "incident resolver" in caplog.text
    lookups.register(scratch)
    assert scratch.dispatch(ctx, "incident", "show #1").text == ":warning: There is no incident #1."
