"""A loopback stand-in for Sentry's events-timeseries: error counts per release, set by the test.

`counts[release]` (None: the whole project) is spread evenly over the window asked for, so a test says
"release v43 has 100 errors" and the client reads 100 whatever interval it asks. `status` makes every
answer fail. Requests are kept so a test can replay them against the Prism mock of the official spec.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.quiet_server import QuietHTTPServer

TOKEN = "sntrys_fake-sentry-token-0123456789"
ORG, PROJECT = "cgraph", "cgraph-api"


@dataclass
class FakeSentry:
    counts: dict[str | None, float] = field(default_factory=dict)
    status: int = 200
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:  # noqa: N802
                parsed = urllib.parse.urlsplit(self.path)
                query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
                fake.requests.append((parsed.path, query))
                status, body = fake.answer(parsed.path, query, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def settings(self) -> dict[str, str]:
        return {"sentry_api_url": self.url, "sentry_api_token": TOKEN, "sentry_org": ORG, "sentry_project": PROJECT}

    def answer(self, path: str, query: dict[str, str], auth: str) -> tuple[int, Any]:
        if auth != f"Bearer {TOKEN}":
            return 401, {"detail": "Invalid token"}
        if self.status != 200:
            return self.status, {"detail": "upstream failed"}
        if path != f"/api/0/organizations/{ORG}/events-timeseries/" or query.get("dataset") != "errors":
            return 404, {"detail": "not found"}
        match = re.fullmatch(r'release:"?(.*?)"?', query.get("query", ""))
        count = self.counts.get(match.group(1) if match else None, 0.0)
        values = [{"timestamp": 1741368281000 + i, "value": count / 4, "incomplete": False} for i in range(4)]
        return 200, {"meta": {"dataset": "errors", "start": 0, "end": 0},
                     "timeSeries": [{"yAxis": "count()", "values": values,
                                     "meta": {"interval": 60, "valueType": "integer", "valueUnit": None}}]}
