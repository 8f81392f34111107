"""The lock and the ranges: what CI, the Dockerfile and the README install is what was tested.

sentry-sdk 3.0 reached every fresh install through `sentry-sdk>=2.0` and stopped `fireline serve` at start;
these tests keep the ranges bounded and the lock complete, so the next major is a decision (.ci/upgrade-check).
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]


def direct_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [spec for extra in project["optional-dependencies"].values() for spec in extra]
    return [Requirement(spec) for spec in specs]


def locked() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def test_every_dependency_has_an_upper_bound_below_an_untested_major():
    unbounded = [str(req) for req in direct_requirements()
                 if not any(spec.operator in ("<", "<=", "==", "~=") for spec in req.specifier)]
    assert unbounded == []


def test_the_lock_pins_every_dependency_inside_its_range():
    pins = locked()
    problems = []
    for req in direct_requirements():
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req.name} is not in constraints.txt (run .ci/lock)")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req.name}=={pins[name]} is outside {req.specifier}")
    assert problems == []
    assert not any(line.startswith(("--find-links", "--index-url", "--extra-index-url", "-i "))
                   for line in (REPO / "constraints.txt").read_text().splitlines()), "no machine's own index"


def test_every_install_uses_the_lock():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme, re.S)[:2]
    ci = (REPO / ".ci" / "run").read_text()
    dockerfile = (REPO / "Dockerfile").read_text()
    assert all("pip install -q -c constraints.txt " in command for command in commands)
    assert commands[1].split("&& ", 1)[1] in ci  # CI runs the README's test command
    assert "constraints.txt" in dockerfile.split("COPY bot", 1)[0] and "pip install -c constraints.txt ." in dockerfile


@pytest.mark.skipif(os.environ.get("FIRELINE_UPGRADE_CHECK") == "1", reason=".ci/upgrade-check runs on newer releases")
def test_this_run_has_the_locked_versions_of_what_decides_behaviour():
    """The suite ran on the lock (CI, the README's command): a test run on other versions says so here."""
    pins = locked()
    deciding = ("sentry-sdk", "slack-bolt", "slack-sdk", "starlette", "sqlalchemy", "httpx", "pydantic")
    drift = {name: (pins[name], metadata.version(name)) for name in deciding
             if name in pins and metadata.version(name) != pins[name]}
    assert drift == {}, f"installed versions differ from constraints.txt: {drift}"
