"""What the service and the features hand the registry at assembly: the `incident=` resolver and the pieces of a
playbook's Env. A scratch registry has neither, and says so instead of reaching into the service or a feature."""

from __future__ import annotations

from bot.app.assembly import feature_registry
from bot.core.context import ack_context
from bot.core.errors import INTERNAL
from bot.core.registry import Registry
from bot.core.reply import Reply
from bot.service import lookups


def test_assembly_gives_the_resolver():
    registry = feature_registry()
    assert registry.incident_resolver is not None
    assert registry.incident_resolver.by_words is lookups.find_incident
    assert registry.incident_resolver.by_number is lookups.incident_by_number


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
