"""`fireline`: one console command with subcommands.

Features add subcommands by appending to `SUBCOMMANDS` (name, help, add_arguments, run).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from bot.settings import Settings, load_settings_or_exit


@dataclass
class Subcommand:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Settings, argparse.Namespace], int]


SUBCOMMANDS: list[Subcommand] = []


def subcommand(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    def decorate(fn: Callable[[Settings, argparse.Namespace], int]):
        SUBCOMMANDS.append(Subcommand(name, help, add_arguments, fn))
        return fn

    return decorate


def _container(settings: Settings):
    from bot.container import build_container

    return build_container(settings)


@subcommand("console", "run Slack commands in this terminal (SQLite by default; reads standard input)")
def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    import logging

    from bot.console import run_console

    if "log_level" not in settings.model_fields_set:  # the terminal is the UI: only problems, unless asked
        logging.getLogger().setLevel(logging.WARNING)

    return run_console(_container(settings))


def _serve_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=None, help="port (default: PORT, 3000)")


@subcommand("serve", "serve Slack's HTTP endpoint /slack/events, webhooks and /healthz", _serve_args)
def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from bot.runtime import start_runtime

    if settings.slack_signing_secret is None:
        print("fireline: SLACK_SIGNING_SECRET is not set; `serve` refuses unsigned requests, so set it "
              "(Slack app > Basic Information), or try `fireline console`.", file=sys.stderr)
        return 2
    if settings.slack_bot_token is None:
        print("fireline: SLACK_BOT_TOKEN is not set; `serve` needs the bot token (xoxb-..., Slack app > OAuth & "
              "Permissions) to post cards and replies, or try `fireline console`.", file=sys.stderr)
        return 2
    runtime = start_runtime(settings, worker_process=settings.worker_process)
    try:
        uvicorn.run(runtime.http_app, host=args.host, port=args.port or settings.port, log_level="warning",
                    access_log=False)
    finally:
        runtime.stop()
    return 0


@subcommand("socket", "connect to Slack over Socket Mode (no public URL needed)")
def cmd_socket(settings: Settings, args: argparse.Namespace) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.runtime import start_runtime

    if settings.slack_app_token is None or settings.slack_bot_token is None:
        print("fireline: Socket Mode needs SLACK_APP_TOKEN (xapp-...) and SLACK_BOT_TOKEN (xoxb-...).",
              file=sys.stderr)
        return 2
    if not settings.slack_app_token.get_secret_value().startswith("xapp-"):  # never echo the value
        print("fireline: SLACK_APP_TOKEN is not an app-level token: those start with xapp- (the bot token, xoxb-, "
              "goes in SLACK_BOT_TOKEN). Create one under Slack app > Basic Information > App-Level Tokens with "
              "the connections:write scope.", file=sys.stderr)
        return 2
    runtime = start_runtime(settings, worker_process=settings.worker_process)
    try:
        SocketModeHandler(runtime.bolt_app, settings.slack_app_token.get_secret_value()).start()
    finally:
        runtime.stop()
    return 0


def _worker_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--child-of", type=int, default=None, help=argparse.SUPPRESS)


@subcommand("worker", "run queued jobs and timers only (serve and socket start their own worker)", _worker_args)
def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """A worker on its own: another machine or process type working the same database's queue."""
    import time

    from bot.service.jobs import Worker, reap_stale
    from bot.worker_process import run_child, run_worker

    if args.child_of is not None:
        return run_child(settings, args.child_of)
    from bot.observability import init_sentry

    init_sentry(settings)
    container = _container(settings)
    reap_stale(container)
    worker = Worker(container, threads=settings.workers)
    print(f"fireline worker: running jobs from {container.engine.url.render_as_string(hide_password=True)}; "
          "Ctrl-C stops.", file=sys.stderr)

    def keep_going() -> bool:  # the worker's own threads poll for jobs; here we only wait to be stopped
        time.sleep(1)
        return True

    return run_worker(worker, keep_going)


@subcommand("check", "show each integration: live, dry-run or misconfigured")
def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    import importlib

    from bot.check import run_checks
    from bot.container import FEATURE_MODULES

    for module_name in FEATURE_MODULES:  # features register their integration checks on import
        importlib.import_module(module_name)

    results = run_checks(settings)
    width = max(len(r.name) for r in results)
    for result in results:
        print(f"{result.name:<{width}}  {result.state:<8} {result.detail}")
    return 1 if any(r.state == "error" for r in results) else 0


def _db_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["upgrade", "current"], help="upgrade: apply migrations; "
                        "current: show the applied revisions")


@subcommand("db", "database migrations: `fireline db upgrade`, `fireline db current`", _db_args)
def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from bot.db import current_revisions, head_revisions, upgrade

    url = settings.sqlalchemy_url
    if args.action == "upgrade":
        upgrade(url)
        print("database is up to date: " + ", ".join(sorted(current_revisions(url))))
        return 0
    current, heads = current_revisions(url), head_revisions(url)
    print("applied: " + (", ".join(sorted(current)) or "nothing"))
    print("up to date" if current == heads else "behind: run `fireline db upgrade`")
    return 0


def build_parser() -> argparse.ArgumentParser:
    import bot.features_cli  # noqa: F401 - features add subcommands on import

    parser = argparse.ArgumentParser(prog="fireline", description="Incident response for Slack, Fly.io and "
                                     "PagerDuty. Try `fireline console`.")
    subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    for sub in SUBCOMMANDS:
        sub_parser = subparsers.add_parser(sub.name, help=sub.help, description=sub.help)
        sub.add_arguments(sub_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.subcommand:
        parser.print_help()
        return 0
    settings = load_settings_or_exit()
    from bot.logging_setup import setup_logging

    setup_logging(settings)
    sub = next(s for s in SUBCOMMANDS if s.name == args.subcommand)
    try:
        return sub.run(settings, args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line, never a traceback, for the person at the terminal
        from bot.logging_setup import redact

        print(f"fireline {sub.name}: {redact(f'{type(exc).__name__}: {exc}', settings.secret_values())}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
