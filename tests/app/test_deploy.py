"""Deployment: Procfile, Dockerfile and fly.toml agree with the code, and the image's environment works.

Docker itself is not needed: `test_image_environment_*` builds the image's Python environment the way
the Dockerfile does (the same COPY sources, `pip install .` into a fresh venv, not editable) and runs
`fireline --help`, `fireline db upgrade` (the release command) and `fireline check` from it, outside
the source tree, so a module or migration missing from the package fails here, not on Fly.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

import pytest

from bot.app.cli import build_parser
from tests.support.databases import POSTGRES_URL, libpq, postgres_problem
from tests.support.paths import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()
FLY = tomllib.loads((REPO / "fly.toml").read_text())


def procfile() -> dict[str, str]:
    entries = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """[(instruction, arguments)] per stage, continuation lines joined."""
    stages: list[list[tuple[str, str]]] = []
    joined = DOCKERFILE.replace("\\\n", " ")
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), rest.strip()))
    return stages


def test_procfile_runs_serve_and_migrations():
    entries = procfile()
    assert entries == {"web": "fireline serve", "release": "fireline db upgrade"}
    parser = build_parser()
    for command in entries.values():
        words = shlex.split(command)
        assert words[0] == "fireline"
        parser.parse_args(words[1:])  # a typo'd subcommand would exit here


def test_dockerfile_is_slim_non_root_and_serves():
    build, final = dockerfile_stages()
    assert build[0] == ("FROM", "python:3.11-slim AS build")
    assert final[0] == ("FROM", "python:3.11-slim")
    runs = [args for instr, args in build if instr == "RUN"]
    assert any(args.endswith("pip install -c constraints.txt .") for args in runs), \
        "the image installs the project with the lock's versions, not editable"
    assert not any("-e" in shlex.split(args) or "[test]" in args for args in runs)
    users = [args for instr, args in final if instr == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("CMD", '["fireline", "serve"]') in final
    env = " ".join(args for instr, args in final if instr == "ENV")
    assert "PORT=8080" in env
    assert ("EXPOSE", "8080") in final
    # the final stage carries only the installed venv, never the source tree or tests
    copies = [args for instr, args in final if instr == "COPY"]
    assert copies == ["--from=build /opt/fireline /opt/fireline"]
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", ".git", "tests", "*.db", ".env"} <= set(ignored)


def test_fly_toml_matches_the_app():
    service = FLY["http_service"]
    assert int(FLY["env"]["PORT"]) == service["internal_port"] == 8080
    assert FLY["deploy"]["release_command"] == procfile()["release"]
    assert service["min_machines_running"] >= 2 and service["auto_stop_machines"] in ("off", False)
    assert [check["path"] for check in service["checks"]] == ["/healthz"]
    assert FLY["checks"]["ready"]["path"] == "/readyz" and FLY["checks"]["ready"]["port"] == 8080
    assert FLY["metrics"] == {"port": 8080, "path": "/metrics"}
    assert FLY["build"]["dockerfile"] == "Dockerfile"
    assert FLY["env"]["LOG_FORMAT"] == "json"


def test_probes_named_in_fly_toml_exist(slack):
    for path in ("/healthz", "/readyz", "/metrics"):
        assert slack.client.get(path).status_code == 200, path


# -- health and readiness ------------------------------------------------------------------------------
def test_healthz_and_readyz_when_all_is_well(slack):
    health = slack.client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok", "database": "ok"}
    ready = slack.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "schema": "up to date"}


def test_readyz_says_when_the_schema_is_behind(slack):
    from sqlalchemy import text

    with slack.container.engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
    ready = slack.client.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not ready" and "fireline db upgrade" in body["schema"]
    from bot.store.db import head_revisions

    assert body["missing"] == sorted(head_revisions()) and body["unknown"] == []
    assert slack.client.get("/healthz").status_code == 200  # alive: Fly keeps routing, the deploy waits


def test_probes_report_an_unreachable_database(slack, tmp_path):
    from bot.store.db import make_engine

    good = slack.container.engine
    slack.container.engine = make_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
    try:
        health = slack.client.get("/healthz")
        # still alive (Fly keeps routing, so Slack users get our "try again"), but it says what is wrong
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert health.json()["database"] == "OperationalError"
        assert slack.client.get("/readyz").status_code == 503
    finally:
        slack.container.engine = good


def test_readyz_reports_a_stopped_worker(container, recorder):
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.service.jobs import Worker
    from bot.adapters.slack.bolt import build_bolt_app

    worker = Worker(container, threads=1, poll_seconds=0.05)
    client = TestClient(build_http_app(container, build_bolt_app(container), worker))
    assert client.get("/readyz").json()["worker"] == "not started"
    worker.start()
    assert client.get("/readyz").json()["worker"] == "running"
    worker.stop()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["worker"] == "stopped"


# -- two machines, one PostgreSQL ----------------------------------------------------------------------
@pytest.fixture
def pg_schema_url():
    problem = postgres_problem()
    if problem:
        if os.environ.get("FIRELINE_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required but unreachable: {problem}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL} ({problem})")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq(POSTGRES_URL), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with psycopg.connect(libpq(POSTGRES_URL), autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_two_machines_migrating_at_once_apply_each_migration_once(pg_schema_url, tmp_path):
    """`fireline serve` migrates on start: machines booting together (processes) must not collide."""
    from bot.store.db import current_revisions, head_revisions
    from bot.core.settings import Settings

    url = Settings(database_url=pg_schema_url, _env_file=None).sqlalchemy_url
    go = tmp_path / "go"
    # Each process imports everything first, then all start migrating at the same moment.
    script = ("import os, sys, time; import alembic.command, sqlmodel; from bot.store.db import upgrade; import bot.store.models\n"
              "open(sys.argv[3], 'w').close()\n"
              "while not os.path.exists(sys.argv[2]): time.sleep(0.005)\n"
              "upgrade(sys.argv[1])")
    ready = [tmp_path / f"ready-{n}" for n in range(4)]
    machines = [subprocess.Popen([sys.executable, "-c", script, url, str(go), str(flag)], cwd=REPO,
                                 stderr=subprocess.PIPE, text=True) for flag in ready]
    for _ in range(6000):  # at most a minute for the imports
        if all(flag.exists() for flag in ready) or any(m.poll() is not None for m in machines):
            break
        time.sleep(0.01)
    go.touch()
    failures = [m.stderr.read()[-2000:] for m in machines if m.wait(timeout=120) != 0]
    assert failures == []
    assert current_revisions(url) == head_revisions()


# -- the image's Python environment --------------------------------------------------------------------
def _build_context_sources() -> list[str]:
    """The paths the Dockerfile's build stage copies into the image (COPY <src>... <dest>)."""
    sources = []
    for instruction, args in dockerfile_stages()[0]:
        if instruction == "COPY":
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            sources += words[:-1]
    return sources


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("image")
    src = root / "src"
    src.mkdir()
    for name in _build_context_sources():
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    result = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-c", "constraints.txt", "."], cwd=src,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return venv


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SLACK_", "FLY_", "PAGERDUTY_", "SENTRY_", "DATABASE_", "PYTHON", "VIRTUAL_ENV",
                                  "STATUSPAGE_", "PROVIDER_"))}
    # `fireline check` reads the providers' status pages: none here, so the test never reaches the internet
    env.update(DATABASE_URL=f"sqlite:///{cwd / 'image.db'}", PROVIDER_STATUS_PAGES="",
               PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    return subprocess.run([str(venv / "bin" / "fireline"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.integration
def test_image_environment_runs_help_release_and_check(image_venv, tmp_path):
    """Slow (~30-60 s, a real `pip install .`): the image's Python environment works on its own."""
    # the package is imported from the venv, never from this checkout
    where = subprocess.run([str(image_venv / "bin" / "python"), "-c", "import bot; print(bot.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert str(image_venv) in where.stdout, where.stdout + where.stderr
    # no test tooling in the image
    missing = subprocess.run([str(image_venv / "bin" / "python"), "-c", "import pytest"], capture_output=True)
    assert missing.returncode != 0

    helped = _run(image_venv, "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    for name in ("console", "serve", "check", "db"):
        assert name in helped.stdout

    released = _run(image_venv, "db", "upgrade", cwd=tmp_path)  # the Procfile's release command
    assert released.returncode == 0, released.stderr
    from bot.store.db import head_revisions

    assert released.stdout.strip() == "database is up to date: " + ", ".join(sorted(head_revisions()))

    checked = _run(image_venv, "check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = {line.split()[0]: line for line in checked.stdout.splitlines() if line.strip()}
    assert "schema up to date" in lines["database"]
    assert "dry-run" in lines["slack"] and "off" in lines["sentry"]


def test_slack_manifest_has_what_fireline_uses():
    """The manifest's commands escape user text, and every scope and event the code relies on is declared."""
    import yaml

    manifest = yaml.safe_load((REPO / "slack-manifest.yml").read_text())
    for command in manifest["features"]["slash_commands"]:
        assert command["should_escape"] is True, command["command"]
        assert command["url"].endswith("/slack/events")
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "chat:write.public", "channels:manage", "channels:read", "channels:history",
            "groups:read", "reactions:read", "files:write", "users:read", "usergroups:read"} <= scopes
    assert {"reaction_added", "message.channels"} <= set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert manifest["settings"]["event_subscriptions"]["request_url"].endswith("/slack/events")
