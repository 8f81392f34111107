"""How long a postmortem takes to render for a long incident (5,000 timeline events by default).

Prints, from the same run on the same events:
  baseline   a plain string join of the events as Markdown table rows (the floor: no template at all)
  render     playbooks.postmortem.build() + render() with the default Jinja2 template
  from db    the whole draft from a SQLite database (load incident, timeline, follow-ups; build; render)

Run: .venv/bin/python bench/postmortem_bench.py [--events 5000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playbooks import postmortem as pm  # noqa: E402

T0 = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
KINDS = ["update", "note", "pinned", "checklist", "playbook_execution", "status_changed", "timeline"]
TEXTS = ["Error rate at 12% in iad, <@U0CHEN> looking", "Restarted 3 of 3 machines | health passing",
         "see <https://grafana.example.com/d/abc?x=1&amp;y=2|dashboard>", "DB connections at 95/100\nscaling up",
         "Rolled back to v41; 502s falling"]


def make_events(count: int) -> list[SimpleNamespace]:
    events = [SimpleNamespace(at=T0, kind="declared", actor="U0LEAD", text="Declared as SEV1: Checkout 502",
                              data={"severity": 1})]
    for n in range(1, count):
        kind = KINDS[n % len(KINDS)]
        data = {"result": "ok"} if kind == "playbook_execution" else {"pinned_by": "U0LEAD"} if kind == "pinned" else {}
        events.append(SimpleNamespace(at=T0 + timedelta(seconds=3 * n), kind=kind, actor=f"U0USER{n % 9}",
                                      text=f"{TEXTS[n % len(TEXTS)]} ({n})", data=data))
    return events


def make_incident(events: list[SimpleNamespace]) -> SimpleNamespace:
    end = events[-1].at
    return SimpleNamespace(id=42, title="Checkout returns 502", severity=2, status="resolved", declared_by="U0LEAD",
                           lead_id="U0LEAD", channel_name="inc-42-checkout-returns-502", summary="Bad deploy",
                           severity_reason="given", declared_at=T0, acknowledged_at=T0 + timedelta(minutes=4),
                           acknowledged_by="U0CHEN", mitigated_at=end, resolved_at=end)


def timed(fn, repeat: int) -> tuple[float, object]:
    runs, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), result


def baseline(events: list[SimpleNamespace]) -> str:
    return "\n".join(f"| {e.at:%Y-%m-%d %H:%M:%S} | {e.actor} | {e.kind} | {e.text} |" for e in events)


def from_database(count: int, repeat: int) -> tuple[float, int]:
    """Store `count` events in a fresh SQLite database, then time the service's whole render."""
    from bot.app.assembly import build_container
    from bot.store.db import session_scope
    from bot.store.models import Incident, TimelineEvent
    from bot.features.postmortem import service as pm_svc
    from bot.core.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite:///{folder}/bench.db", _env_file=None)
        container = build_container(settings, clock=lambda: T0 + timedelta(hours=5))
        events = make_events(count)
        with session_scope(container.engine) as session:
            incident = Incident(**{k: v for k, v in vars(make_incident(events)).items() if k != "id"}, cards=[])
            session.add(incident)
            session.flush()
            session.add_all(TimelineEvent(incident_id=incident.id, at=e.at, kind=e.kind, actor=e.actor, text=e.text,
                                          data=e.data) for e in events)
        number = incident.id

        def whole() -> int:
            with session_scope(container.engine) as session:
                draft = pm_svc.render(container, session, session.get(Incident, number), now=container.clock())
            return len(draft.markdown)

        seconds, size = timed(whole, repeat)
        container.engine.dispose()
    return seconds, size  # type: ignore[return-value]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    events = make_events(args.events)
    incident = make_incident(events)
    pm.render(pm.build(incident, events[:10], [], generated_at=T0, due=None, owed=True))  # compile once, as in use

    base_s, base_text = timed(lambda: baseline(events), args.repeat)
    build_s, doc = timed(lambda: pm.build(incident, events, [], generated_at=T0, due=None, owed=True), args.repeat)
    template_s, _ = timed(lambda: pm.render(doc), args.repeat)
    render_s, rendered = timed(lambda: pm.render(pm.build(incident, events, [], generated_at=T0, due=None,
                                                          owed=True)).markdown, args.repeat)
    db_s, db_size = from_database(args.events, max(3, args.repeat // 2))
    print(f"postmortem render, {args.events} timeline events (median of {args.repeat} runs)")
    print(f"  baseline (string join of the rows):  {base_s * 1000:8.1f} ms  ({len(base_text):,} chars)")
    print(f"  render (build + Jinja2 template):    {render_s * 1000:8.1f} ms  ({len(rendered):,} chars)  "
          f"{render_s / base_s:5.1f}x baseline")
    print(f"    of which build (rows, escaping):   {build_s * 1000:8.1f} ms")
    print(f"    of which the template:             {template_s * 1000:8.1f} ms")
    print(f"  from db (SQLite load + render):      {db_s * 1000:8.1f} ms  ({db_size:,} chars)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"  (machine: {os.cpu_count()} CPUs, load average {load:.1f}; compare figures from the same run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
