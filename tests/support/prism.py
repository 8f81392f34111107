"""Stoplight Prism mocks of the official API specs, so every request we send is one the API accepts.

`.ci/run` starts them and exports FIRELINE_PRISM_<NAME>_URL. Locally, a test session starts its
own when PRISM_BIN (or `prism` on PATH) exists. Without Prism or the specs, tests skip and say why;
with FIRELINE_REQUIRE_SPECS=1 (CI) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port

SPECS = {
    "fly": "fly-machines-v1.json",
    "pagerduty": "pagerduty-rest.json",
    "pagerduty_events": "pagerduty-events-v2.json",
    "statuspage": "statuspage-manage.yaml",
    "sentry": "sentry-api.json",
}

_started: dict[str, tuple[str, subprocess.Popen | None]] = {}


def _unavailable(reason: str) -> None:
    if os.environ.get("FIRELINE_REQUIRE_SPECS"):
        pytest.fail(reason)
    pytest.skip(reason)


def _answers(url: str) -> bool:
    """A mock started outside the test run may have died since; then the session starts its own."""
    try:
        httpx.get(url.rstrip("/") + "/", timeout=2)
        return True
    except httpx.HTTPError:
        return False



def prism_url(name: str, specs_dir: Path) -> str:
    """Base URL of a Prism mock for spec `name` (see SPECS); skips (or fails in CI) when impossible."""
    env_url = os.environ.get(f"FIRELINE_PRISM_{name.upper()}_URL")
    if env_url and _answers(env_url):
        return env_url.rstrip("/")
    if name in _started:
        return _started[name][0]
    spec = specs_dir / SPECS[name]
    if not spec.exists():
        _unavailable(f"the official spec {spec} is absent (set FIRELINE_SPECS_DIR to ../shared/specs)")
    binary = os.environ.get("PRISM_BIN") or shutil.which("prism")
    local = Path(__file__).resolve().parents[2] / ".ci" / "node" / "node_modules" / ".bin" / "prism"
    if not binary and local.exists():
        binary = str(local)
    if not binary:
        _unavailable("Stoplight Prism is not installed (`bash .ci/run` installs it; or set PRISM_BIN)")
    port = free_port()
    process = subprocess.Popen([binary, "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/", timeout=1)
            break
        except httpx.HTTPError:
            if process.poll() is not None:
                _unavailable(f"Prism exited while loading {spec.name}")
            time.sleep(0.3)
    else:
        process.kill()
        _unavailable(f"Prism did not start on {url} within 90 s")
    _started[name] = (url, process)
    return url


def stop_all() -> None:
    for _, process in _started.values():
        if process is not None:
            process.terminate()
    _started.clear()
