"""The edges: console, CLI, settings errors, a real HTTP server, events, and never a 500."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from bot.app.assembly import build_container
from bot.adapters.console import run_console
from bot.store.models import Incident, Job, TimelineEvent
from bot.core.settings import SettingsError, load_settings
from tests.support.factories import make_container, make_settings
from tests.support.signing import SIGNING_SECRET, sign, slash_body

REPO = Path(__file__).resolve().parents[3]


def console_run(container, script: str) -> str:
    out = io.StringIO()
    assert run_console(container, io.StringIO(script), out) == 0
    return out.getvalue()


def test_console_runs_the_lifecycle_with_buttons(db_url, clock):
    container = make_container(db_url, clock=clock)
    out = console_run(container, "\n".join([
        "/incident declare Site is down for everyone",
        "!Acknowledge",
        "!Show playbook",
        "!tick 2",
        "update rolled back",
        "/incident resolve bad deploy",
        "/incident resolve",
        "!Nope",
        ":channel incidents",
        "/incident list",
    ]) + "\n")
    assert "* created channel #inc-1-site-is-down-for-everyone" in out
    # the card's likely actions are buttons; the rest are in its menu, pressed by label all the same
    assert "[Acknowledge] [I'm lead]" in out and "more: [Show playbook]" in out
    assert "Picked SEV1" in out and "Site is down" in out
    assert "You acknowledged #1; it is now investigating." in out
    assert "[x] 1. Acknowledge: Post in #incidents Slack channel (ticked by console at " in out  # by the ack
    assert "[x] 2. Investigate: Fly.io status page (is it them?) (ticked by console at " in out
    assert "#1 is already resolved" in out
    assert "No button labelled [Nope]" in out
    assert "No open incidents." in out
    assert "Traceback" not in out
    with Session(container.engine) as session:
        kinds = [e.kind for e in session.exec(select(TimelineEvent).order_by(TimelineEvent.id))]
        assert kinds == ["declared", "acknowledged", "checklist", "update", "resolved"]
        assert all(e.actor == "console" for e in session.exec(select(TimelineEvent)))


def test_console_remembers_channels_across_runs(sqlite_url):
    container = make_container(sqlite_url)
    console_run(container, "declare Login broken sev2\n")
    out = console_run(container, ":channel inc-1-login-broken\nack\ndeclare Slow search\n")
    assert "you are now in #inc-1-login-broken" in out
    assert "You acknowledged #1" in out
    assert "* created channel #inc-2-slow-search" in out
    with Session(container.engine) as session:
        assert [i.status for i in session.exec(select(Incident).order_by(Incident.id))] == ["investigating",
                                                                                            "declared"]


def test_console_command_as_a_new_user_would(tmp_path):
    """The README's try-it command, scripted: `fireline console` from standard input, exit 0."""
    script = "/incident declare Checkout 502 errors\n/incident help\n/incident frobnicate\n"
    result = subprocess.run([sys.executable, "-m", "bot.app.cli", "console"], input=script, text=True,
                            capture_output=True, cwd=tmp_path, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/f.db",
                                 "PYTHONPATH": str(REPO), "PROVIDER_STATUS_PAGES": ""})  # no internet in tests
    assert result.returncode == 0, result.stderr
    assert "Declared #1 SEV1" in result.stdout
    assert "`frobnicate` is not a `/incident` subcommand" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("variable, value, expected", [
    ("PORT", "eighty", "PORT: Input should be a valid integer"),
    ("DATABASE_URL", "mysql://x", "DATABASE_URL: expected a sqlite:///path or postgresql://"),
    ("SLACK_API_URL", "slack.com", "SLACK_API_URL: expected an http:// or https:// URL"),
    ("LOG_LEVEL", "loud", "LOG_LEVEL: expected one of DEBUG"),
])
def test_bad_setting_stops_with_one_line(tmp_path, variable, value, expected):
    result = subprocess.run([sys.executable, "-m", "bot.app.cli", "check"], text=True, capture_output=True,
                            cwd=tmp_path, timeout=60, env={"PATH": "/usr/bin:/bin", variable: value,
                                                           "PYTHONPATH": str(REPO)})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_bad_database_url_does_not_echo_the_password():
    with pytest.raises(SettingsError) as caught:
        load_settings(database_url="mysql://admin:hunter2secret@db/x", _env_file=None)
    assert "hunter2secret" not in str(caught.value)


def test_check_reports_each_integration(tmp_path, capsys):
    from bot.app.cli import main

    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/c.db", "PROVIDER_STATUS_PAGES": ""}  # no internet in tests
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SENTRY_DSN", "STATUSPAGE_API_KEY"):
            mp.delenv(key, raising=False)
        mp.chdir(tmp_path)
        assert main(["db", "upgrade"]) == 0
        assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "slack" in out and "dry-run" in out and "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET not set" in out
    assert "database  live" in out.replace("   ", "  ") or "schema up to date" in out
    assert "sentry" in out and "off" in out


def test_check_fails_when_database_unreachable(capsys, monkeypatch, tmp_path):
    from bot.app.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("PROVIDER_STATUS_PAGES", "")  # no internet in tests
    monkeypatch.delenv("STATUSPAGE_API_KEY", raising=False)
    assert main(["check"]) == 1
    assert "unreachable" in capsys.readouterr().out


def test_db_upgrade_is_repeatable(empty_db_url, capsys, monkeypatch):
    from bot.app.cli import main

    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "current"]) == 0
    assert "up to date" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_real_http_server_acks_and_worker_answers(db_url, recorder):
    """uvicorn + Bolt + background worker, as `fireline serve` runs them."""
    import uvicorn

    from bot.app.runtime import start_runtime

    settings = make_settings(db_url, recorder)
    runtime = start_runtime(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(runtime.http_app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        body = slash_body("declare Site is down sev1", response_url=recorder.response_url())
        response = httpx.post(f"http://127.0.0.1:{port}/slack/events", content=body,
                              headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)})
        assert response.status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not recorder.responses():
            time.sleep(0.05)
        assert "Declared *#1*" in recorder.last_response_text()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["database"] == "ok"
        bad = httpx.post(f"http://127.0.0.1:{port}/slack/events", content=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                  **sign(body, secret="nope")})
        assert bad.status_code == 401
    finally:
        server.should_exit = True
        thread.join(5)
        runtime.stop()
        runtime.container.engine.dispose()


def test_listener_failure_is_never_a_500(slack, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("bot.service.queue.Intake._store_together", boom)
    response = slack.command("declare Site is down sev1", run=False)
    assert response.status_code == 200
    assert "Something went wrong on Fireline's side" in response.text
    monkeypatch.undo()
    monkeypatch.setattr("bot.adapters.slack.ack.parse", boom)  # reading the command fails, before anything is stored
    monkeypatch.setattr("bot.adapters.slack.ack._plain_first_word", boom)
    response = slack.command("list", run=False)
    assert response.status_code == 200
    assert "Something went wrong on Fireline's side" in response.text
    with Session(slack.container.engine) as session:
        assert session.exec(select(Job)).all() == []


def test_database_down_says_try_again(slack, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("connect", {}, Exception("connection refused"))

    monkeypatch.setattr("bot.service.queue.Intake._store_together", down)
    response = slack.command("declare Site is down sev1", run=False)
    assert response.status_code == 200
    assert "can't reach its database" in response.text


def test_repeated_event_ids_are_dropped(slack):
    from bot.service.dedup import first_time

    assert first_time(slack.container, "probe")
    assert not first_time(slack.container, "probe")
    event = {"type": "reaction_added", "user": "U1", "reaction": "eyes",
             "item": {"type": "message", "channel": "C1", "ts": "1.1"}}
    for _ in range(2):
        assert slack.event(event, event_id="Ev42").status_code == 200
    with slack.container.engine.connect() as connection:
        keys = [row[0] for row in connection.exec_driver_sql("select key from processed_requests")]
    assert keys.count("slack-event:Ev42") == 1


def test_url_verification_challenge(slack):
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"})
    response = slack.post(body, "application/json")
    assert response.status_code == 200 and "abc123" in response.text


def test_socket_mode_needs_tokens(monkeypatch, capsys, tmp_path):
    from bot.app.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/s.db")
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    assert main(["socket"]) == 2
    assert "SLACK_APP_TOKEN" in capsys.readouterr().err


def test_serve_needs_signing_secret(monkeypatch, capsys, tmp_path):
    from bot.app.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    assert main(["serve"]) == 2
    assert "SLACK_SIGNING_SECRET" in capsys.readouterr().err


def test_serve_needs_bot_token(monkeypatch, capsys, tmp_path):
    from bot.app.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret-signing")
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN is not set" in err and "BoltError" not in err and "s3cret-signing" not in err


def test_manifest_declares_every_command_and_the_request_urls():
    import yaml

    manifest = yaml.safe_load((REPO / "slack-manifest.yml").read_text())
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    container = build_container(make_settings("sqlite://"), migrate=False)
    assert {f"/{name}" for name in container.registry.commands} <= declared
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/slack/events")
    assert "commands" in manifest["oauth_config"]["scopes"]["bot"]
    assert SIGNING_SECRET  # the harness signs with a secret the manifest never contains
    assert SIGNING_SECRET not in (REPO / "slack-manifest.yml").read_text()


def test_readme_names_every_setting_and_the_two_commands():
    from bot.core.settings import Settings

    readme = (REPO / "README.md").read_text()
    # every setting is in docs/configuration.md (tests/docs/test_docs.py checks names and defaults); README links it
    configuration = (REPO / "docs" / "configuration.md").read_text()
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in configuration]
    assert missing == [] and "](docs/configuration.md)" in readme
    assert ".venv/bin/fireline console" in readme
    test_command = ".venv/bin/pip install -q -c constraints.txt -e '.[test]' && .venv/bin/python -m pytest"
    assert test_command in readme
    assert test_command in (REPO / ".ci" / "run").read_text()


def test_a_closed_pipe_ends_the_command_quietly(tmp_path):
    """`fireline classify "..." | head -3` printed "fireline classify: BrokenPipeError: [Errno 32] Broken pipe"."""
    import subprocess
    import sys

    script = ("import sys; from bot.app.cli import main; "
              "sys.exit(main(['classify', 'api.cgraph.org returns 502 for every request']))")
    reader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              cwd=tmp_path, env={**__import__("os").environ, "DATABASE_URL": f"sqlite:///{tmp_path}/p.db"})
    reader.stdout.close()  # the reader (`head`) has gone before the first line
    _, err = reader.communicate(timeout=60)
    assert b"BrokenPipe" not in err and err.strip() == b"", err
    assert reader.returncode == 141  # as a shell tool killed by SIGPIPE: 128 + 13
