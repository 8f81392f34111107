"""Team playbooks as plug-ins: loaded from PLAYBOOKS_PATH (and entry points), run like the built-ins.

The example in docs/examples/cdn_flush.py is loaded exactly as a team would load it (copied into a
folder named by PLAYBOOKS_PATH) and run from Slack (signed requests) and from the console, against a
loopback CDN that records the purge requests.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.core import metrics
from bot.app.assembly import feature_registry
from bot.core.check import run_checks
from bot.adapters.console import Console
from bot.adapters.http.server import build_http_app
from bot.adapters.slack.bolt import build_bolt_app
from tests.support.factories import make_container, make_settings
from tests.support.harness import SlackHarness
from tests.support.playbook_harness import audit_rows, executions, newest_button, timeline

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "cdn_flush.py"
CDN_TOKEN = "cdn-token-Secret-4242"


class LoopbackCdn:
    """A purge endpoint on 127.0.0.1 that records requests and answers like Cloudflare (or as told)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answer: tuple[int, dict] = (200, {"success": True, "errors": [], "result": {"id": "purge-1"}})
        cdn = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                cdn.requests.append({"path": self.path, "body": json.loads(body or b"{}"),
                                     "authorization": self.headers.get("Authorization")})
                status, answer = cdn.answer
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/client/v4/zones/z1/purge_cache"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cdn(monkeypatch):
    server = LoopbackCdn()
    monkeypatch.setenv("CDN_PURGE_URL", server.url)
    monkeypatch.setenv("CDN_API_TOKEN", CDN_TOKEN)
    yield server
    server.close()


@pytest.fixture
def plugin_dir(tmp_path) -> Path:
    """A team's PLAYBOOKS_PATH with the example copied in, as the docs say."""
    folder = tmp_path / "playbooks.d"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / EXAMPLE.name)
    return folder


def build(db_url, recorder, clock, plugin_dir, **overrides):
    values = dict(playbooks_path=str(plugin_dir), responders="U0LEAD")
    values.update(overrides)
    container = make_container(db_url, recorder, **values, clock=clock)
    container.knobs.sleep = lambda seconds: None
    return container


LIVE = dict(fly_api_token="fly-test-token", fly_app="cgraph-api")  # not a dry run (no Fly call is made)


@pytest.fixture
def slack_live(db_url, recorder, clock, plugin_dir, cdn):
    container = build(db_url, recorder, clock, plugin_dir, **LIVE)
    with TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False) as client:
        yield SlackHarness(container, recorder, client)
    container.engine.dispose()


def runs(outcome: str = "runs") -> float:
    return metrics.sample_value(f"fireline_playbook_{outcome}_total", {"playbook": "cdn-flush"})


# -- the example, from Slack and from the console ---------------------------------------------------------
def test_example_runs_from_slack_plan_confirm_purge_audit(slack_live, cdn):
    slack = slack_live
    runs_before, failures_before = runs(), runs("failures")
    slack.command("declare Stale assets after deploy sev2")
    slack.recorder.reset()
    slack.command("flush --prefix www.example.com/assets/", command="/cdn", channel_id="CINC0001")
    plan = slack.recorder.responses()[-1].text()
    assert "Purge www.example.com/assets/ from the CDN cache" in plan
    assert f"POST {cdn.url}" in plan and "origin takes every request" in plan
    assert "DRY RUN" not in plan and cdn.requests == []  # planning sends nothing

    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, user_id="U0INTRUDER", action_ts="1.1", channel_id="CINC0001")
    assert cdn.requests == []  # not a responder: refused, nothing sent
    assert "U0INTRUDER" not in {e.confirmed_by for e in executions(slack.container)}

    slack.press(action_id, value, user_id="U0LEAD", action_ts="1.2", channel_id="CINC0001")
    slack.press(action_id, value, user_id="U0LEAD", action_ts="1.3", channel_id="CINC0001")  # a double click
    assert cdn.requests == [{"path": "/client/v4/zones/z1/purge_cache",
                             "body": {"prefixes": ["www.example.com/assets/"]},
                             "authorization": f"Bearer {CDN_TOKEN}"}]
    [execution] = executions(slack.container)
    assert execution.status == "succeeded" and execution.playbook == "cdn-flush"
    assert execution.app == "cdn:127.0.0.1" and execution.confirmed_by == "U0LEAD"
    kinds = [e.kind for e in timeline(slack.container, 1)]
    assert kinds[0] == "declared" and "playbook_confirmed" in kinds and kinds[-1] == "playbook_finished"
    # the intruder's refusal and the double click are audited too
    assert [a.action for a in audit_rows(slack.container)] == ["proposed", "refused", "confirmed", "succeeded",
                                                               "confirm_ignored"]
    outcome = [c for c in slack.recorder.of("chat.postMessage") if "finished" in c.text()][-1].text()
    assert "Purge www.example.com/assets/ from the CDN cache" in outcome and "The CDN accepted the purge" in outcome
    for call in slack.recorder.calls:  # the CDN token never reaches Slack
        assert CDN_TOKEN not in json.dumps(call.data)
    assert (runs(), runs("failures")) == (runs_before + 1, failures_before)


def test_example_refused_by_the_cdn_fails_and_says_why(slack_live, cdn):
    slack = slack_live
    failures_before = runs("failures")
    cdn.answer = (403, {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]})
    slack.command("flush all", command="/cdn")
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, user_id="U0LEAD", action_ts="2.1")
    [execution] = executions(slack.container)
    assert execution.status == "failed"
    assert cdn.requests[0]["body"] == {"purge_everything": True}
    text = "\n".join(c.text() for c in slack.recorder.calls)
    assert "The CDN refused the purge (HTTP 403: Authentication error)" in text
    assert runs("failures") == failures_before + 1


def test_example_runs_from_the_console_dry_run_then_live(db_url, recorder, clock, plugin_dir, cdn):
    dry = build(db_url, recorder, clock, plugin_dir)  # no FLY_API_TOKEN: every playbook is a dry run
    out = io.StringIO()
    console = Console(dry, out)
    for line in ["/incident playbooks", "/cdn help", "/cdn flush", "/cdn flush all", "!Confirm"]:
        console.run_line(line)
    text = out.getvalue()
    assert "/cdn flush all | --prefix HOST/PATH [--prefix ...] [#N]" in text
    assert "purge the CDN cache (everything, or some URL prefixes) (plan, then Confirm by RESPONDERS; " \
           "plug-in cdn_flush.py)" in text
    assert "Say what to purge: `all`, or one or more `--prefix`." in text
    assert "DRY RUN" in text and "Dry run: would POST {'purge_everything': True}" in text
    assert cdn.requests == []
    dry.engine.dispose()

    live = build(db_url, recorder, clock, plugin_dir, **LIVE)
    out = io.StringIO()
    console = Console(live, out)
    console.run_line("/cdn flush --prefix www.example.com/img/ --prefix www.example.com/css/")
    console.run_line("!Confirm")
    assert "finished: its one step is done" in out.getvalue()
    assert cdn.requests[-1]["body"] == {"prefixes": ["www.example.com/img/", "www.example.com/css/"]}
    assert [e.confirmed_by for e in executions(live)][-1] == "console"
    live.engine.dispose()


def test_example_without_its_settings_is_blocked_with_what_to_set(db_url, recorder, clock, plugin_dir, monkeypatch):
    monkeypatch.delenv("CDN_PURGE_URL", raising=False)
    container = build(db_url, recorder, clock, plugin_dir, **LIVE)
    out = io.StringIO()
    Console(container, out).run_line("/cdn flush all")
    assert "Cannot purge the CDN cache" in out.getvalue() and "Set CDN_PURGE_URL" in out.getvalue()
    assert "[Confirm]" not in out.getvalue()
    container.engine.dispose()


def test_plugin_shows_up_in_slack_help_and_command_list(slack_live):
    slack = slack_live
    reply = slack.ack_json(slack.command("help", command="/cdn", run=False))
    assert "/cdn flush all | --prefix HOST/PATH" in json.dumps(reply)
    slack.command("playbooks")
    assert "plug-in cdn_flush.py" in slack.reply_text()


# -- the loader --------------------------------------------------------------------------------------------
def write(folder: Path, name: str, source: str) -> None:
    (folder / name).write_text(textwrap.dedent(source))


GOOD = '''
    from playbooks.framework import Plan, Playbook, Step, StepResult

    class Hello(Playbook):
        name = "hello"
        command = "hello"
        usage = ""
        help = "say hello (read-only)"
        destructive = False
        who = "anyone"

        def plan(self, env, params):
            return Plan(self.name, env.app, "Say hello", steps=[Step("Hello", "hello")])

        def run_step(self, env, plan, step, progress):
            return StepResult(True, "hello from a plug-in", details=["hello from a plug-in"])
'''


def test_broken_plugins_never_stop_fireline_and_check_says_why(sqlite_url, recorder, clock, tmp_path):
    folder = tmp_path / "pb"
    folder.mkdir()
    write(folder, "a_good.py", GOOD)
    write(folder, "b_syntax.py", "def broken(:\n    pass\n")
    write(folder, "c_clash.py", GOOD.replace('"hello"', '"incident"', 2).replace('name = "incident"',
                                                                                   'name = "clash"'))
    write(folder, "d_noplan.py", '''
        from playbooks.framework import Playbook

        class Half(Playbook):
            name = "half"
            command = "half"
    ''')
    write(folder, "e_raises.py", "import os\nraise RuntimeError('needs SOMETHING_URL')\n")
    write(folder, "_private.py", "raise SystemExit('never imported')\n")
    write(folder, "notes.txt", "not python")
    container = build(sqlite_url, recorder, clock, folder)
    by_source = {Path(p.source).name: p for p in container.registry.plugins}
    assert by_source["a_good.py"].playbooks == ["/hello"] and by_source["a_good.py"].error is None
    assert "SyntaxError" in by_source["b_syntax.py"].error and "line 1" in by_source["b_syntax.py"].error
    assert "/incident is already a Fireline command" in by_source["c_clash.py"].error
    assert "does not implement `plan()`" in by_source["d_noplan.py"].error
    assert by_source["e_raises.py"].error == "RuntimeError: needs SOMETHING_URL (e_raises.py, line 2)"
    assert set(by_source) == {"a_good.py", "b_syntax.py", "c_clash.py", "d_noplan.py", "e_raises.py"}
    assert "half" not in container.registry.commands and "clash" not in container.registry.playbooks
    # the built-in /incident was not touched, and the good plug-in works
    assert container.registry.commands["incident"].handler is None
    out = io.StringIO()
    Console(container, out).run_line("/hello")
    assert "hello from a plug-in" in out.getvalue()
    status = {s.name: s for s in run_checks(container.settings, container.registry)}["playbooks"]
    assert status.state == "error" and "b_syntax.py" in status.detail and "e_raises.py" in status.detail
    container.engine.dispose()


def test_a_source_is_added_whole_or_not_at_all(sqlite_url, recorder, clock, tmp_path):
    folder = tmp_path / "pb"
    folder.mkdir()
    write(folder, "two.py", GOOD + '''
    class Again(Hello):
        name = "again"
        command = "incident"  # clashes: the whole file is refused, Hello included
''')
    container = build(sqlite_url, recorder, clock, folder)
    [loaded] = container.registry.plugins
    assert "already a Fireline command" in loaded.error
    assert "hello" not in container.registry.commands and "hello" not in container.registry.playbooks
    container.engine.dispose()


def test_playbooks_list_subcommands_and_register(sqlite_url, recorder, clock, tmp_path):
    folder = tmp_path / "pb"
    folder.mkdir()
    write(folder, "team.py", GOOD + '''
    class Hidden(Hello):
        name = "hidden"  # not in PLAYBOOKS: not added

    class Sub(Hello):
        name = "incident-hello"
        command = "incident"
        subcommand = "hello"

    PLAYBOOKS = [Hello, Sub()]

    GREETED = []

    def register(registry):
        @registry.on("incident.declared")
        def greet(ctx, incident):
            GREETED.append(incident.id)
''')
    container = build(sqlite_url, recorder, clock, folder)
    [loaded] = container.registry.plugins
    assert loaded.error is None and loaded.playbooks == ["/hello", "/incident hello"] and loaded.commands == ["/hello"]
    assert "hidden" not in container.registry.playbooks
    out = io.StringIO()
    console = Console(container, out)
    console.run_line("/incident help")
    console.run_line("/incident hello")
    console.run_line("/incident declare Greeted sev3")
    assert "`/incident hello`  say hello (read-only)" in out.getvalue()
    assert out.getvalue().count("hello from a plug-in") >= 1
    assert sys.modules["fireline_plugins.team"].GREETED == [1]
    container.engine.dispose()


def test_playbooks_path_errors_are_reported(sqlite_url, recorder, clock, tmp_path):
    container = build(sqlite_url, recorder, clock, tmp_path / "missing")
    [loaded] = container.registry.plugins
    assert loaded.source == "PLAYBOOKS_PATH" and "is not a folder" in loaded.error
    container.engine.dispose()


def test_check_lists_loaded_plugins_and_the_slack_commands_they_need(plugin_dir):
    settings = make_settings("sqlite://", playbooks_path=str(plugin_dir))
    status = {s.name: s for s in run_checks(settings, feature_registry())}["playbooks"]
    assert status.state == "live"
    assert status.detail == "plug-ins: /cdn flush (cdn_flush.py); add /cdn to your Slack app (slack-manifest.yml)"
    off = {s.name: s for s in run_checks(make_settings("sqlite://"), feature_registry())}["playbooks"]
    assert off.state == "off" and "PLAYBOOKS_PATH is empty" in off.detail


def test_entry_point_plugins_are_found_without_playbooks_path(sqlite_url, recorder, clock, tmp_path, monkeypatch):
    """A plug-in installed as a package (`[project.entry-points."fireline.playbooks"]`)."""
    site = tmp_path / "site"
    (site / "team_playbooks-1.0.dist-info").mkdir(parents=True)
    (site / "team_playbooks.py").write_text(textwrap.dedent(GOOD))
    (site / "team_playbooks-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: team-playbooks\n"
                                                                    "Version: 1.0\n")
    (site / "team_playbooks-1.0.dist-info" / "entry_points.txt").write_text(
        "[fireline.playbooks]\nhello = team_playbooks:Hello\n")
    monkeypatch.syspath_prepend(str(site))
    container = build(sqlite_url, recorder, clock, "")  # PLAYBOOKS_PATH empty
    [loaded] = container.registry.plugins
    assert loaded.source == "entry point hello (team_playbooks:Hello)" and loaded.playbooks == ["/hello"]
    out = io.StringIO()
    Console(container, out).run_line("/hello")
    assert "hello from a plug-in" in out.getvalue()
    container.engine.dispose()
    sys.modules.pop("team_playbooks", None)


def test_a_register_that_fails_half_way_leaves_nothing_behind(sqlite_url, recorder, clock, tmp_path):
    folder = tmp_path / "pb"
    folder.mkdir()
    write(folder, "half.py", GOOD + '''
    def register(registry):
        registry.on("incident.declared")(lambda ctx, incident: None)
        registry.command("incident", "").sub("wave", "wave", "wave")(lambda ctx, args: None)
        registry.card_button("Wave", "wave")
        raise RuntimeError("forgot a setting")
''')
    (tmp_path / "empty").mkdir()
    clean = build(sqlite_url, recorder, clock, tmp_path / "empty")  # the same app without the plug-in
    container = build(sqlite_url, recorder, clock, folder)
    [loaded] = container.registry.plugins
    assert loaded.error.startswith("RuntimeError: forgot a setting (half.py, line")
    registry = container.registry
    assert "hello" not in registry.commands and "hello" not in registry.playbooks
    assert "wave" not in registry.commands["incident"].subcommands
    assert [b.label for b in registry.card_buttons] == [b.label for b in clean.registry.card_buttons]
    assert len(registry.hooks["incident.declared"]) == len(clean.registry.hooks["incident.declared"])
    for built in (clean, container):
        built.engine.dispose()


CLI_PLUGIN = '''
import sys

from bot.core.check import Status


def register(registry):
    def arguments(parser):
        parser.add_argument("zone", help="the CDN zone")

    @registry.cli("cdn-status", "show a CDN zone's purge queue", arguments)
    def cdn_status(settings, args, registry):
        print(f"zone {args.zone}: nothing queued ({len(registry.commands)} slash commands known)")
        return 3

    @registry.check("cdn")
    def check_cdn(settings):
        return Status("cdn", "live", "purge API reachable (from a plug-in)")
'''


def test_a_plugin_adds_a_fireline_subcommand_and_a_check_line(tmp_path, monkeypatch, capsys):
    """`register(registry)` in a plug-in adds `fireline` subcommands and `fireline check` lines like a feature."""
    from bot.app.cli import main

    folder = tmp_path / "playbooks.d"
    folder.mkdir()
    write(folder, "cdn_tools.py", CLI_PLUGIN)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/c.db")
    monkeypatch.setenv("PLAYBOOKS_PATH", str(folder))
    monkeypatch.setenv("PROVIDER_STATUS_PAGES", "")  # `fireline check` reads the pages: no internet in tests
    for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SENTRY_DSN", "FLY_API_TOKEN", "HEALTH_URL",
                "STATUSPAGE_API_KEY"):
        monkeypatch.delenv(key, raising=False)

    assert main(["cdn-status", "z1"]) == 3
    assert "zone z1: nothing queued (" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "show a CDN zone's purge queue" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    lines = {" ".join(line.split()) for line in out.splitlines()}  # column widths follow the longest name
    assert "cdn live purge API reachable (from a plug-in)" in lines
    assert "playbooks live plug-ins: register() (cdn_tools.py)" in lines


def test_a_plugin_cannot_replace_a_fireline_subcommand(tmp_path, monkeypatch, capsys):
    from bot.app.cli import cli_registry

    folder = tmp_path / "playbooks.d"
    folder.mkdir()
    write(folder, "bad.py", '''
    def register(registry):
        @registry.cli("serve", "not the real serve")
        def serve(settings, args, registry):
            return 0
    ''')
    registry = cli_registry(make_settings("sqlite://", playbooks_path=str(folder)))
    [loaded] = registry.plugins
    assert loaded.error == "ValueError: `fireline serve` already exists; pick another name. (bad.py, line 3)"
    assert registry.cli_commands["serve"].help.startswith("serve Slack's HTTP endpoint")


def test_a_plugin_dry_run_speaks_its_own_words_not_fly(db_url, recorder, clock, plugin_dir, cdn):
    """The CDN purge in a dry run: its own banner and closing words, nothing about Fly's example fleet."""
    dry = build(db_url, recorder, clock, plugin_dir)  # no FLY_API_TOKEN: a dry run
    out = io.StringIO()
    console = Console(dry, out)
    for line in ["/cdn flush all", "!Confirm"]:
        console.run_line(line)
    text = out.getvalue()
    assert "DRY RUN: FLY_API_TOKEN is not set, so the purge is planned and Confirm is checked" in text
    assert "to Fly" not in text and "example fleet" not in text, text  # (the plan's own lines say Fly is untouched)
    assert "Confirmed (dry run: nothing is sent to the CDN)" in text
    assert "[DRY RUN: nothing was sent to the CDN]" in text
    assert cdn.requests == []
    dry.engine.dispose()


def test_a_plugin_without_its_own_words_gets_a_dry_run_text_that_names_no_service(db_url, recorder, clock, tmp_path,
                                                                                  monkeypatch):
    folder = tmp_path / "plain.d"
    folder.mkdir()
    text = EXAMPLE.read_text()
    for own in ('    sends_to = "the CDN"', '    dry_run_text = ('):
        assert own in text  # the example shows both attributes
    start = text.index('    sends_to = "the CDN"')
    end = text.index("\n\n", text.index('    dry_run_text = ('))
    (folder / "plain_cdn.py").write_text(text[:start] + text[end + 2:])
    monkeypatch.setenv("CDN_PURGE_URL", "http://127.0.0.1:9/purge")
    container = build(db_url, recorder, clock, folder)
    out = io.StringIO()
    Console(container, out).run_line("/cdn flush all")
    said = out.getvalue()
    assert "DRY RUN: FLY_API_TOKEN is not set, so nothing is sent" in said
    assert "to Fly" not in said and "example fleet" not in said, said
    container.engine.dispose()


def test_docs_plugin_example_sets_every_variable_the_plugin_needs():
    guide = (REPO / "docs" / "playbooks.md").read_text()
    start = guide.index("## Your own playbooks (plug-ins)")
    block = guide[guide.index("```bash", start):guide.index("```\n", guide.index("```bash", start) + 7)]
    for variable in ("PLAYBOOKS_PATH=", "CDN_PURGE_URL=", "CDN_API_TOKEN="):
        assert variable in block, block
