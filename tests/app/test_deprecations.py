"""The test run and a serving process are free of the deprecations the libraries announce.

Seen in earlier runs: Starlette's TestClient on plain httpx ("install httpx2 instead"), sentry-sdk 2's
`send_default_pii` ("use data_collection instead"), and sentry-sdk 3 refusing 2.x's `include_local_variables`
("Unknown option"), which stopped `fireline serve` at start whenever SENTRY_DSN was set.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

from tests.support.factories import make_settings


def test_starlette_testclient_imports_without_a_deprecation():
    """In a fresh interpreter: the import happens once per process, so it must be watched from the start."""
    result = subprocess.run([sys.executable, "-W", "error", "-c", "import starlette.testclient"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-1500:]


def test_sentry_starts_without_a_deprecation_and_sends_no_personal_data():
    import sentry_sdk
    from sentry_sdk.transport import Transport

    from bot.app.observability import init_sentry

    class Drop(Transport):
        def capture_envelope(self, envelope) -> None:
            pass

    settings = make_settings("sqlite://", sentry_dsn="https://public@sentry.example.com/1")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            assert init_sentry(settings, transport=Drop) is True
        client = sentry_sdk.get_client()
        collected = client.options["data_collection"]
        assert collected["user_info"] is False and collected["http_bodies"] == []  # no user data, no bodies
        assert collected["cookies"] == {"mode": "off"}
        assert client.get_integration("logging") is not None  # 3.x no longer enables it by itself
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()
