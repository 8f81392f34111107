"""`fireline`: one console command with subcommands.

Subcommands register like everything else, through the Registry (`registry.cli(name, help, add_arguments)`
in a `register(registry)`): the core ones below, features' (`classify`, `postmortem`) and plug-ins'. So
`main` assembles the registry (features and plug-ins, bot.app.assembly) before it parses the arguments.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from bot.app import entry_points
from bot.app.assembly import assemble, feature_registry
from bot.core.check import run_checks
from bot.core.registry import Registry
from bot.adapters.console import run_console
from bot.core.container import Mode, open_container
from bot.store.db import current_revisions, head_revisions, upgrade
from bot.core.logging_setup import redact, setup_logging
from bot.app.observability import init_sentry
from bot.app.runtime import start_runtime
from bot.service.jobs import Worker, reap_stale
from bot.core.settings import Settings, SettingsError, load_settings, load_settings_or_exit, refuse_weak_secrets
from bot.app.worker import run_child, run_worker


def register(registry: Registry) -> None:
    """The core subcommands, in the order of `fireline --help`."""
    registry.cli("console", "run Slack commands in this terminal (SQLite by default; reads standard input)")(
        cmd_console)
    registry.cli("serve", "serve Slack's HTTP endpoint /slack/events, webhooks and /healthz", _serve_args)(cmd_serve)
    registry.cli("socket", "connect to Slack over Socket Mode (no public URL needed)")(cmd_socket)
    registry.cli("worker", "run queued jobs and timers only (serve and socket start their own worker)",
                 _worker_args)(cmd_worker)
    registry.cli("check", "show each integration: live, dry-run or misconfigured")(cmd_check)
    registry.cli("db", "database migrations: `fireline db upgrade`, `fireline db current`", _db_args)(cmd_db)
    entry_points.register(registry)  # `fireline commands`


def cmd_console(settings: Settings, args: argparse.Namespace, registry: Registry) -> int:
    if "log_level" not in settings.model_fields_set:  # the terminal is the UI: only problems, unless asked
        logging.getLogger().setLevel(logging.WARNING)

    return run_console(open_container(settings, registry, mode=Mode.CONSOLE))


def _serve_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=None, help="port (default: PORT, 3000)")


def cmd_serve(settings: Settings, args: argparse.Namespace, registry: Registry) -> int:
    import uvicorn  # the server itself, only for `serve`

    if settings.slack_signing_secret is None:
        print("fireline: SLACK_SIGNING_SECRET is not set; `serve` refuses unsigned requests, so set it "
              "(Slack app > Basic Information), or try `fireline console`.", file=sys.stderr)
        return 2
    if settings.slack_bot_token is None:
        print("fireline: SLACK_BOT_TOKEN is not set; `serve` needs the bot token (xoxb-..., Slack app > OAuth & "
              "Permissions) to post cards and replies, or try `fireline console`.", file=sys.stderr)
        return 2
    if refuse_weak_secrets(settings, "serve"):
        return 2
    port = args.port or settings.port
    if port != settings.port:  # what Fireline says its address is (the `/incident web` link) is the port served
        settings = settings.model_copy(update={"port": port})
        os.environ["PORT"] = str(port)  # and a worker child started afresh reads the same
    runtime = start_runtime(settings, open_container(settings, registry, mode=Mode.SERVE),
                            worker_process=settings.worker_process)
    try:
        uvicorn.run(runtime.http_app, host=args.host, port=port, log_level="warning", access_log=False)
    finally:
        runtime.stop()
    return 0


def cmd_socket(settings: Settings, args: argparse.Namespace, registry: Registry) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler  # its websocket client, only for `socket`

    if settings.slack_app_token is None or settings.slack_bot_token is None:
        print("fireline: Socket Mode needs SLACK_APP_TOKEN (xapp-...) and SLACK_BOT_TOKEN (xoxb-...).",
              file=sys.stderr)
        return 2
    if not settings.slack_app_token.get_secret_value().startswith("xapp-"):  # never echo the value
        print("fireline: SLACK_APP_TOKEN is not an app-level token: those start with xapp- (the bot token, xoxb-, "
              "goes in SLACK_BOT_TOKEN). Create one under Slack app > Basic Information > App-Level Tokens with "
              "the connections:write scope.", file=sys.stderr)
        return 2
    if refuse_weak_secrets(settings, "socket"):  # an empty secret is a mistake wherever these settings are read
        return 2
    runtime = start_runtime(settings, open_container(settings, registry, mode=Mode.SOCKET),
                            worker_process=settings.worker_process)
    try:
        SocketModeHandler(runtime.bolt_app, settings.slack_app_token.get_secret_value()).start()
    finally:
        runtime.stop()
    return 0


def _worker_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--child-of", type=int, default=None, help=argparse.SUPPRESS)


def cmd_worker(settings: Settings, args: argparse.Namespace, registry: Registry) -> int:
    """A worker on its own: another machine or process type working the same database's queue."""
    if args.child_of is not None:
        return run_child(settings, args.child_of, registry)
    init_sentry(settings)
    container = open_container(settings, registry, mode=Mode.WORKER)
    reap_stale(container)
    worker = Worker(container, threads=settings.workers)
    print(f"fireline worker: running jobs from {container.engine.url.render_as_string(hide_password=True)}; "
          "Ctrl-C stops.", file=sys.stderr)

    def keep_going() -> bool:  # the worker's own threads poll for jobs; here we only wait to be stopped
        time.sleep(1)
        return True

    return run_worker(worker, keep_going)


def cmd_check(settings: Settings, args: argparse.Namespace, registry: Registry) -> int:
    results = run_checks(settings, registry)
    width = max(len(r.name) for r in results)
    for result in results:
        print(f"{result.name:<{width}}  {result.state:<8} {result.detail}")
    return 1 if any(r.state == "error" for r in results) else 0


def _db_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["upgrade", "current"], help="upgrade: apply migrations; "
                        "current: show the applied revisions")


def cmd_db(settings: Settings, args: argparse.Namespace, registry: Registry) -> int:
    url = settings.sqlalchemy_url
    if args.action == "upgrade":
        upgrade(url)
        print("database is up to date: " + ", ".join(sorted(current_revisions(url))))
        return 0
    current, heads = current_revisions(url), head_revisions(url)
    print("applied: " + (", ".join(sorted(current)) or "nothing"))
    print("up to date" if current == heads else "behind: run `fireline db upgrade`")
    return 0


def cli_registry(settings: Settings | None) -> Registry:
    """The core subcommands, every feature, and (with settings to find them) the plug-ins."""
    registry = Registry()
    register(registry)
    return assemble(settings, registry) if settings is not None else feature_registry(registry)


def build_parser(registry: Registry | None = None) -> argparse.ArgumentParser:
    registry = registry if registry is not None else cli_registry(None)
    parser = argparse.ArgumentParser(prog="fireline", description="Incident response for Slack, Fly.io and "
                                     "PagerDuty. Try `fireline console`.")
    subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    for sub in registry.cli_commands.values():
        sub_parser = subparsers.add_parser(sub.name, help=sub.help, description=sub.help)
        sub.add_arguments(sub_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:  # plug-ins may add subcommands, and PLAYBOOKS_PATH is a setting: read them before parsing
        settings: Settings | None = load_settings()
    except SettingsError:
        settings = None  # `--help` still works; a subcommand says what is wrong (load_settings_or_exit)
    if settings is not None:
        setup_logging(settings)
    registry = cli_registry(settings)
    words = sys.argv[1:] if argv is None else argv
    if settings is None and words and not words[0].startswith("-") and words[0] not in registry.cli_commands:
        load_settings_or_exit()  # maybe a plug-in's subcommand: say what is wrong with the settings, not "invalid"
    parser = build_parser(registry)
    args = parser.parse_args(argv)
    if not args.subcommand:
        parser.print_help()
        return 0
    if settings is None:
        settings = load_settings_or_exit()
    sub = registry.cli_commands[args.subcommand]
    try:
        return sub.run(settings, args, registry)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`fireline classify ... | head -3`): end as a shell tool does
        _drop_stdout()
        return 141  # 128 + SIGPIPE
    except Exception as exc:  # one line, never a traceback, for the person at the terminal
        print(f"fireline {sub.name}: {redact(f'{type(exc).__name__}: {exc}', settings.secret_values())}",
              file=sys.stderr)
        return 1


def _drop_stdout() -> None:
    """Point standard output at /dev/null, so flushing it at exit does not raise the broken pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture): nothing to flush
        pass


if __name__ == "__main__":
    sys.exit(main())
