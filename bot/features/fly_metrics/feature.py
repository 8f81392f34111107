"""Fly's metrics in Fireline: /diagnose's CPU, memory and response lines, and `/scale rightsize` (right-sizing).

`/scale rightsize [app]` reads 7 days of each machine's highs from Fly's metrics and says which machines stayed
low, the smaller size that holds them with headroom and what it would save a month from the price table
(playbooks/data/fly_prices.yaml, or FLY_PRICES). Advice only: it plans nothing; the `/scale vm` and `/scale
memory` it names each show their own plan and wait for a Confirm.
"""

from __future__ import annotations

from bot.clients.fly.metrics import FlyMetricsError
from bot.clients.fly.simulated import EXAMPLE_APP
from bot.core.container import Container
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.grammar import Args
from bot.core.registry import Registry
from bot.core.reply import Reply, escape
from bot.features.fly_metrics import service
from bot.features.playbooks.env import build_env, close_env, is_live
from playbooks.capacity import PricesError, Usage, advice_lines, load_prices, right_size
from playbooks.fleet import in_group, main_group
from playbooks.framework import ServiceError

USAGE = "rightsize [app]"


def metrics_piece(container: Container, app: str) -> Usage:
    """The playbooks' Env piece `metrics(app)`: /diagnose's figures."""
    return service.usage(container, app)


def machines_of(container: Container, app: str) -> tuple[dict[str, str], dict[str, str], str]:
    """(machine id -> cpu_kind, machine id -> label, a note) from Fly's Machines API when it is FLY_APP and live."""
    if not is_live(container) or app != container.settings.fly_app:
        return {}, {}, "CPU kind taken as shared (Fly's Machines API was not read for this app)"
    env = build_env(container)
    try:
        everything = env.fly.list_machines()
        machines = in_group(everything, main_group(everything))
        return {m.id: m.cpu_kind for m in machines}, {m.id: m.label() for m in machines}, ""
    except ServiceError as exc:
        return {}, {}, f"CPU kind taken as shared: could not read Fly's machines ({exc})"
    finally:
        close_env(env)


def rightsize_command(ctx: Context, args: Args) -> Reply:
    if len(args.words) > 1:
        raise UserError("Name one app, or none for FLY_APP.", "For example `/scale rightsize` or `/scale rightsize "
                        f"{EXAMPLE_APP}`.")
    settings = ctx.app.settings
    app = args.words[0] if args.words else settings.fly_app
    if not app:
        raise UserError("FLY_APP is not set, so Fireline does not know which app to look at.",
                        f"Type `/scale rightsize <app>`, e.g. `/scale rightsize {EXAMPLE_APP}`.")
    if not settings.fly_metrics_readable:
        raise UserError("Fly metrics not configured, so Fireline cannot see how much the machines use.",
                        "Set FLY_METRICS_TOKEN (`fly tokens create readonly`) and FLY_ORG (`fly orgs list`); "
                        "docs/fly-metrics.md says how.")
    try:
        prices = load_prices(settings.fly_prices or None)
    except PricesError as exc:
        raise UserError(str(exc), "Fix FLY_PRICES's file, or unset FLY_PRICES for the guide's table.") from None
    kinds, labels, note = machines_of(ctx.app, app)
    try:
        seen = service.seen(ctx.app, app, kinds, labels)
    except FlyMetricsError as exc:
        raise UserError(f"Could not read Fly's metrics of {app}: {exc}", "Try `/scale rightsize` again in a minute.") \
            from None
    if not seen:
        raise UserError(f"Fly's metrics have no machines of {app} in organisation {settings.fly_org}.",
                        "Check the app's name (`fly apps list`) and FLY_ORG.")
    head, lines = advice_lines(app, right_size(seen, prices), prices)
    if note:
        lines.append(f"_{note}_")
    return Reply(f":money_with_wings: *{escape(head)}*", lines=[escape(line) for line in lines])


def register(registry: Registry) -> None:
    scale = registry.command("scale", help="/scale playbooks")
    scale.sub("rightsize", USAGE, "right-sizing: machines whose CPU and memory stayed low for 7 days (Fly's metrics), "
              "the smaller size that fits and the monthly saving; advice only", rightsize_command)
    registry.env_piece("metrics")(metrics_piece)  # /diagnose's CPU, memory and response lines
    registry.check("fly-metrics")(service.check_fly_metrics)
