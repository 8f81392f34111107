"""Headless Chromium driven over the Chrome DevTools Protocol: what a person's browser shows, for tests.

Debian's `chromium` package; `--remote-debugging-port=0` picks a free port and prints the browser's
websocket address on stderr. A page target is opened through the DevTools HTTP endpoint and spoken to
with `websocket-client` (one small, well-kept dependency). No JavaScript of ours runs on the page:
`Runtime.evaluate` only reads `innerText`, which is the text as laid out and shown (hidden text is not in it).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
_LISTENING = re.compile(r"DevTools listening on (ws://127\.0\.0\.1:(\d+)/\S+)")


def find_chromium() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import websocket  # noqa: F401
    except ImportError:
        return "websocket-client is not installed (pip install -e '.[test]')"
    if find_chromium() is None:
        return "no chromium on PATH (Debian: apt-get install chromium)"
    return None


class Browser:
    """One headless Chromium with one tab; `with Browser() as b: b.open(url); b.text()`."""

    def __init__(self, width: int = 390, height: int = 844) -> None:
        self.width, self.height = width, height
        # Chromium's helper processes can still write into the profile for a moment after the browser exits (a
        # run under load failed its teardown with "Directory not empty: 'Default'"): a leftover temp dir is no failure.
        self.profile = tempfile.TemporaryDirectory(prefix="fireline-chromium-", ignore_cleanup_errors=True)
        self.process: subprocess.Popen | None = None
        self.socket: Any = None
        self.ids = itertools.count(1)

    def __enter__(self) -> Browser:
        args = [find_chromium() or "chromium", "--headless=new", "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1", f"--user-data-dir={self.profile.name}", "--no-first-run",
                "--no-default-browser-check", "--disable-gpu", "--disable-extensions", "--disable-dev-shm-usage",
                f"--window-size={self.width},{self.height}", "about:blank"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox (CI containers)
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = self._wait_for_port(timeout=30)
        target = httpx.put(f"http://127.0.0.1:{port}/json/new?about:blank", timeout=10).json()
        import websocket

        self.socket = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30,
                                                  suppress_origin=True)
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                  deviceScaleFactor=1, mobile=True)
        return self

    def _wait_for_port(self, timeout: float) -> int:
        assert self.process is not None and self.process.stderr is not None
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line and self.process.poll() is not None:
                break
            seen.append(line)
            match = _LISTENING.search(line)
            if match:
                return int(match.group(2))
        raise RuntimeError("chromium did not start: " + "".join(seen[-10:]))

    def __exit__(self, *exc: object) -> None:
        if self.socket is not None:
            self.socket.close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.profile.cleanup()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer; events met on the way are kept for `wait_event`."""
        message_id = next(self.ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._events.append(message)

    _events: list[dict[str, Any]] = []

    def wait_event(self, method: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for i, event in enumerate(self._events):
            if event.get("method") == method:
                return self._events.pop(i)
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv())
            if message.get("method") == method:
                return message
        raise TimeoutError(method)

    def open(self, url: str) -> None:
        self._events = []
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """Click what a person would click (a link or a form's button) and wait for the next page to load."""
        self._events = []
        found = self.evaluate(f"(() => {{ const el = document.querySelector({json.dumps(selector)}); "
                              "if (!el) return false; el.click(); return true; })()")
        if not found:
            raise LookupError(f"nothing matches {selector!r} on {self.evaluate('location.href')}")
        self.wait_event("Page.loadEventFired")

    def type_into(self, selector: str, value: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}")

    def url(self) -> str:
        return self.evaluate("location.href")

    def text(self) -> str:
        """The page's text as shown to a person."""
        return self.evaluate("document.body.innerText")

    def screenshot(self, path: Path, full_page: bool = True) -> bytes:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            height = self.evaluate("document.documentElement.scrollHeight")
            params["clip"] = {"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1}
        data = base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data


def require_browser() -> None:
    """Skip with the reason where Chromium cannot run here; fail instead where CI requires the browser tests
    (FIRELINE_REQUIRE_BROWSER=1, set by .ci/run, which installs Chromium): they must never be skipped there."""
    import pytest

    reason = missing_reason()
    if reason and os.environ.get("FIRELINE_REQUIRE_BROWSER"):
        pytest.fail(f"the browser tests are required but cannot run: {reason}")
    if reason:
        pytest.skip(reason)


def screenshot_for_docs(browser: Browser, name: str, tmp_path: Path) -> bytes:
    """A screenshot, into docs/images/ with FIRELINE_UPDATE_SCREENSHOT=1 (to refresh the docs' pictures), else into
    the test's own folder; the PNG's bytes either way."""
    docs = Path(__file__).resolve().parents[2] / "docs" / "images"
    png = browser.screenshot(docs / name if os.environ.get("FIRELINE_UPDATE_SCREENSHOT") else tmp_path / name)
    assert png[:8] == b"\x89PNG\r\n\x1a\n", f"{name}: Chromium sent no PNG"
    return png
