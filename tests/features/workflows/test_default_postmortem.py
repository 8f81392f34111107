"""With no team file, the postmortem reads exactly as it did before workflows were data.

tests/data/postmortem-before-workflows-sev*.md are what this scenario wrote at 13859eb^ (the commit before the
workflow runner: paging, the providers check, the nudges and the closing draft hard-wired in their features),
through the same signed slash commands. The default file must reproduce them byte for byte: no workflow row in
the timeline, the providers' `Is it them?` row where it was, the same escalation, nudge and status rows.
(FIRELINE_WRITE_GOLDEN=1 writes the files instead of comparing; that is how they were made at 13859eb^.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.features.status.service import publish_value
from bot.store.models import Postmortem, StatusUpdate
from tests.features.providers.test_providers import OPERATIONAL, Pages, degraded
from tests.support.factories import make_container, slack_harness

DATA = Path(__file__).resolve().parents[2] / "data"
CHANNEL = "CINC0001"


@pytest.fixture
def pages():
    stand_in = Pages()  # the providers' status pages, served locally
    yield stand_in
    stand_in.close()


@pytest.mark.parametrize("declared", [2, 3])
def test_the_default_file_writes_the_postmortem_fireline_wrote_before_workflows(sqlite_url, recorder, clock, pages,
                                                                              declared):
    """Declared at SEV2 (paged, the providers read at once), or at SEV3 (reminded, read when raised)."""
    golden = DATA / f"postmortem-before-workflows-sev{declared}.md"
    listed = (f"Fly.io={pages.serve('/fly', degraded('2026-11-25T13:55:00.000Z'))},"
              f"Cloudflare={pages.serve('/cf', OPERATIONAL)}")
    container = make_container(sqlite_url, recorder, clock, provider_status_pages=listed, responders="U0LEAD")
    for slack in slack_harness(container, recorder):
        slack.command(f"declare Machines will not start sev{declared}")
        slack.run_jobs()
        clock.advance(minutes=16)  # the ack deadline passes: escalated (dry-run)
        slack.run_jobs()
        if declared == 3:
            slack.command("sev 2", channel_id=CHANNEL)
            slack.run_jobs()
            clock.advance(minutes=2)
        slack.command("sev 1", channel_id=CHANNEL)
        slack.run_jobs()
        clock.advance(minutes=31)  # no status update on a SEV1: nudged
        slack.run_jobs()
        slack.command("ack", channel_id=CHANNEL)
        slack.command("update Rolling back the machine image", channel_id=CHANNEL)
        slack.command("statuspage Payments", channel_id=CHANNEL)  # the public heard: a closing draft on resolve
        with Session(container.engine) as session:
            [draft] = session.exec(select(StatusUpdate)).all()
        slack.press("status_publish", publish_value(draft))
        clock.advance(minutes=5)
        slack.command("sev 3", channel_id=CHANNEL)
        slack.run_jobs()
        clock.advance(minutes=10)
        slack.command("resolve Rolled back the image", channel_id=CHANNEL)
        slack.run_jobs()
        with Session(container.engine) as session:
            closing = session.exec(select(StatusUpdate).where(StatusUpdate.state == "draft")).one()
        slack.press("status_publish", publish_value(closing))
        slack.command("#1", command="/postmortem", channel_id=CHANNEL)
        with Session(container.engine) as session:
            [row] = session.exec(select(Postmortem)).all()
        if os.environ.get("FIRELINE_WRITE_GOLDEN"):
            golden.write_text(row.markdown, encoding="utf-8")
        assert row.markdown == golden.read_text(encoding="utf-8")
    container.engine.dispose()
