"""What each team page costs with 10,000 incidents, on SQLite and PostgreSQL (target: p99 under 100 ms).

Seeds 10,000 incidents over 180 days (timeline events, pages for SEV1/SEV2, postmortems, playbook runs),
then requests every team page through the real HTTP app (in process, signed in; no network in the way),
and prints p50/p99 per page beside a baseline measured in the same run on the same app and database:
`/healthz` (one `SELECT 1` and a small JSON answer), the floor any page pays. The insights page is
measured cold (figures computed on every request), after a change (an incident's row updated before each request,
so its day's stored figures are redone, as the first view after a declare or resolve pays) and cached
(bot.features.insights.feature keeps them a minute).
No timed assertions: the numbers are for a person to read, on the machine in front of them.

Run: .venv/bin/python bench/web_pages.py [--incidents 10000] [--requests 200] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import PG_URL  # noqa: E402

NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
PAGES = [("baseline /healthz", "/healthz"),
         ("incidents list", "/team/"),
         ("list, open SEV1", "/team/?state=open&severity=1"),
         ("list, text search", "/team/?q=checkout"),
         ("list, date range", "/team/?since=2026-10-01&until=2026-10-15"),
         ("an incident", "/team/incidents/{mid}"),
         ("postmortems", "/team/postmortems"),
         ("insights 90d, cold", "/team/insights?since=90d"),
         ("insights 90d, cached", "/team/insights?since=90d"),
         ("insights 365d, cold", "/team/insights?since=365d"),
         ("insights 365d, after a change", "/team/insights?since=365d"),
         ("insights 365d, cached", "/team/insights?since=365d")]
TITLES = ["Checkout returns 502", "Login broken", "Search is slow", "Uploads failing", "Typo on pricing page",
          "Realtime disconnects", "Payments timing out"]


def seed(engine, count: int) -> None:
    from bot.store.models import Incident, PagerDutyLink, PlaybookExecution, Postmortem, TimelineEvent

    rng = random.Random(20)
    incidents, events, pages, postmortems, runs = [], [], [], [], []
    for n in range(1, count + 1):
        declared = NOW - timedelta(minutes=rng.randrange(180 * 24 * 60))
        sev = rng.choices((1, 2, 3, 4), (1, 3, 6, 4))[0]
        ack = declared + timedelta(minutes=rng.expovariate(1 / (10 * sev))) if rng.random() < 0.95 else None
        resolved = declared + timedelta(minutes=30 + rng.expovariate(1 / (60 * sev)))
        open_ = resolved > NOW or rng.random() < 0.02
        incidents.append({"id": n, "title": f"{TITLES[n % len(TITLES)]} ({n})", "severity": sev,
                          "status": "investigating" if open_ else "resolved", "declared_by": f"U0USER{n % 20}",
                          "lead_id": f"U0USER{n % 20}", "cards": [], "declared_at": declared, "acknowledged_at": ack,
                          "mitigated_at": None if open_ else resolved - timedelta(minutes=10),
                          "resolved_at": None if open_ else resolved})
        for k in range(5):
            events.append({"incident_id": n, "at": declared + timedelta(minutes=k), "kind": "note",
                           "actor": f"U0USER{k}", "text": f"step {k} of {n}", "data": {}})
        if sev <= 2:
            pages.append({"incident_id": n, "incident_key": f"fireline-{n}", "mode": "rest", "status": "resolved",
                          "escalation_level": 1, "assignees": [f"Person {n % 7}"], "paged_at": declared})
            if not open_:
                postmortems.append({"incident_id": n, "markdown": f"# Postmortem {n}\n\nText.", "due_at":
                                    resolved + timedelta(hours=48), "done_at": resolved + timedelta(
                                        hours=rng.choice((10, 40, 60))) if rng.random() < 0.9 else None})
        if rng.random() < 0.3:
            runs.append({"playbook": rng.choice(("restart", "rollback", "scale")), "app": "web", "incident_id": n,
                         "status": rng.choice(("succeeded", "succeeded", "failed")), "dry_run": False, "nonce": "n",
                         "plan": {}, "results": [], "current_step": 0, "channel_id": "", "source": "slack",
                         "proposed_by": "U0USER1", "proposed_at": declared})
    with engine.begin() as connection:
        for model, rows in ((Incident, incidents), (TimelineEvent, events), (PagerDutyLink, pages),
                            (Postmortem, postmortems), (PlaybookExecution, runs)):
            for start in range(0, len(rows), 2000):
                connection.execute(model.__table__.insert(), rows[start:start + 2000])


def measure(url: str, count: int, requests: int) -> list[tuple[str, float, float]]:
    from starlette.testclient import TestClient

    from bot.app.assembly import build_container
    from bot.app.runtime import settle_heap
    from bot.adapters.http.server import build_http_app
    from bot.core.settings import Settings
    from bot.adapters.web import auth
    from bot.features.insights.feature import FIGURES

    settings = Settings(database_url=url, slack_signing_secret="bench-secret", slack_bot_token=None,
                        web_session_secret="bench-web-secret-0123456789abcdef", provider_status_pages="",
                        _env_file=None)
    container = build_container(settings, clock=lambda: NOW)
    seed(container.engine, count)
    _, cookie = auth.new_session(settings, "U0USER1", "T1", "Bench Person")
    app = build_http_app(container, None)
    settle_heap()  # as `fireline serve` does once started: start-up's objects leave the collector's full passes
    results = []
    # no Slack app: no bot token here, so names are not looked up (ids shown), and /slack/events is not measured
    with TestClient(app, follow_redirects=False) as client:
        client.cookies.set(auth.SESSION_COOKIE, cookie, path="/team")
        for label, path in PAGES:
            path = path.format(mid=count // 2)
            for _ in range(5):  # warm: caches, prepared plans
                assert client.get(path).status_code == 200, path
            times = []
            for _ in range(requests):
                if "cold" in label or "change" in label:  # every request computes the figures (what the first
                    container.parts.get(FIGURES).clear()   # one in a minute pays)
                if "change" in label:  # and an incident changed since the last view: its day's figures are redone
                    with container.engine.begin() as connection:
                        connection.execute(text("UPDATE incidents SET severity = severity WHERE id = :id"),
                                           {"id": 1 + (len(times) * 97) % count})
                started = time.perf_counter()
                client.get(path)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            results.append((label, statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]))
    container.engine.dispose()
    return results


def postgres_schema() -> tuple[str, callable]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with psycopg.connect(PG_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')

    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options=-csearch_path%3D{schema}", drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    args = parser.parse_args()
    tables: list[tuple[str, list]] = []
    for backend in ("sqlite", "postgres"):
        if args.only and backend != args.only:
            continue
        drop = None
        if backend == "sqlite":
            folder = tempfile.TemporaryDirectory()
            url = f"sqlite:///{folder.name}/bench.db"
        else:
            try:
                url, drop = postgres_schema()
            except Exception as exc:
                print(f"\nPostgreSQL: skipped ({type(exc).__name__}: set FIRELINE_TEST_POSTGRES_URL)")
                continue
        try:
            results = measure(url, args.incidents, args.requests)
        finally:
            if drop:
                drop()
        floor50, floor99 = results[0][1], results[0][2]
        print(f"\n{backend}: {args.incidents:,} incidents, {args.requests} requests per page (in process)")
        print(f"{'page':<22} {'p50 ms':>8} {'p99 ms':>8} {'p50 / baseline':>15} {'p99 / baseline':>15}")
        for label, p50, p99 in results:
            print(f"{label:<22} {p50:>8.1f} {p99:>8.1f} {p50 / floor50:>14.1f}x {p99 / floor99:>14.1f}x")
        tables.append((backend, results))
    if tables:  # one table per run, ready to paste into docs/performance.md
        print(f"\nMarkdown ({args.incidents:,} incidents, {args.requests} requests a page; ratios to /healthz):\n")
        print("| page | " + " | ".join(f"{b} p50 / p99 ms | {b} p50 / p99 vs /healthz" for b, _ in tables) + " |")
        print("|---|" + "---|---|" * len(tables))
        for index, (label, *_rest) in enumerate(tables[0][1]):
            cells = []
            for _, results in tables:
                _, p50, p99 = results[index]
                cells += [f"{p50:.1f} / {p99:.1f}", f"{p50 / results[0][1]:.1f}x / {p99 / results[0][2]:.1f}x"]
            print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
