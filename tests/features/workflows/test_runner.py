"""The workflow runner through the real front ends: signed slash commands to the real Bolt app, the recording
Slack stand-in, the scripted PagerDuty, SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from sqlmodel import Session, select

from bot.core.context import job_context
from bot.features.pagerduty import paging
from bot.features.workflows import runner
from bot.features.workflows.events import make_event
from bot.service import incidents as svc
from bot.store.models import Job, PlaybookAudit, Postmortem, PlaybookExecution, TimelineEvent, WorkflowRun
from playbooks.workflows import MAX_DEPTH, Event
from tests.support.factories import make_container
from tests.support.pagerduty import REST_SETTINGS, build, harness, incident_posts, install_clients

CHANNEL = "CINC0001"


def team_file(tmp_path, text: str, name: str = "team.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def runs(container) -> list[WorkflowRun]:
    with Session(container.engine) as session:
        return list(session.exec(select(WorkflowRun).order_by(WorkflowRun.id)).all())


def kinds(container, incident_id: int = 1) -> list[str]:
    with Session(container.engine) as session:
        return [e.kind for e in svc.timeline(session, incident_id)]


def test_the_default_file_pages_a_sev1_once_and_records_the_runs(db_url, recorder, clock, pd):
    container = build(db_url, recorder, clock, **REST_SETTINGS)
    install_clients(container)
    with harness(container, recorder) as slack:
        slack.command("declare Site is down sev1")
        assert len(pd.calls("POST", "/incidents")) == 1
        done = {r.workflow: r for r in runs(container)}
        assert done["Page the on-call for SEV1 and SEV2"].status == "done"
        assert done["Page the on-call for SEV1 and SEV2"].steps[0]["kind"] == "page"
        assert "Check the providers' status pages on SEV1 and SEV2" in done
        assert "Remind about an unacknowledged SEV3" not in done  # its condition (SEV3) does not hold
        # the default file reads as Fireline read before workflows: nothing new in the timeline
        assert not [k for k in kinds(container) if k.startswith("workflow")]
        with Session(container.engine) as session:  # nor in the audit log: workflow_runs is their record
            assert not session.exec(select(PlaybookAudit).where(PlaybookAudit.action == "workflow_run")).all()
        slack.command("sev 2", channel_id=CHANNEL)
        slack.command("sev 1", channel_id=CHANNEL)
        assert len(pd.calls("POST", "/incidents")) == 1  # raised within paging severities: no second page
    container.engine.dispose()


def test_a_team_file_turns_the_default_paging_off(sqlite_url, recorder, clock, pd, tmp_path):
    path = team_file(tmp_path, """
workflows:
  - name: Page the on-call for SEV1 and SEV2
    enabled: false
    on: declared
    when: {severity: {at_least: 2}}
    steps:
      - page: {policy: default}
  - name: Tell support
    on: declared
    when: {severity: 1}
    steps:
      - post: {channel: incident, text: "Support knows about {{ incident.sev }} #{{ incident.number }}."}
""")
    container = build(sqlite_url, recorder, clock, workflows=path, **REST_SETTINGS)
    install_clients(container)
    with harness(container, recorder) as slack:
        slack.command("declare Site is down sev1")
        assert pd.calls("POST", "/incidents") == []
        with Session(container.engine) as session:
            assert session.exec(select(Job).where(Job.kind == paging.PAGE_JOB)).all() == []
        assert incident_posts(recorder, "Support knows about SEV1 #1.")
        assert [r.workflow for r in runs(container)] == ["Tell support"]
        # a team file's runs and steps are in the timeline
        assert "workflow_run" in kinds(container) and "workflow_step" in kinds(container)
        with Session(container.engine) as session:  # and in the audit log
            audited = [a.action for a in session.exec(select(PlaybookAudit)).all()]
        assert audited == ["workflow_run", "workflow_step"]
        slack.command("workflows", channel_id=CHANNEL)
        shown = slack.reply_text()
        assert "Tell support" in shown and "step 1 (post): posted in the incident channel" in shown
        assert "team.yaml" in shown
        slack.command("resolve fixed", channel_id=CHANNEL)
        slack.command("postmortem #1", command="/postmortem", channel_id=CHANNEL)
        with Session(container.engine) as session:
            [row] = session.exec(select(Postmortem)).all()
        assert "## Automation" in row.markdown
        assert "- 0:00 after declare: Workflow “Tell support” step 1 (post): posted in the incident channel" \
            in row.markdown
        # once, in Automation: not again as the timeline's rows (the run's and its step's)
        timeline = row.markdown.split("## Timeline", 1)[1].split("\n## ", 1)[0]
        automation = row.markdown.split("## Automation", 1)[1]
        assert "Workflow" not in timeline and automation.count("Tell support") == row.markdown.count("Tell support")
        assert "after declare: Workflow “Tell support” started (declared; 1 step" in automation
    container.engine.dispose()


def test_a_failed_step_says_why_in_the_channel_and_the_others_go_on(sqlite_url, recorder, clock, tmp_path):
    path = team_file(tmp_path, """
workflows:
  - name: Heads-up
    on: declared
    steps:
      - plan_playbook: {playbook: diagnose}
      - bookmark: {title: Runbook, url: "ftp://not-a-web-link"}
      - post: {channel: incident, text: "Still here after the failure"}
""")
    container = build(sqlite_url, recorder, clock, workflows=path)
    with harness(container, recorder) as slack:
        slack.command("declare Site is down sev3")
        [failed] = incident_posts(recorder, "failed")
        assert "Workflow “Heads-up”, step 2 (bookmark) failed" in failed and "is not a link" in failed
        assert "team.yaml:" in failed  # where the step is, so it can be fixed
        assert incident_posts(recorder, "Still here after the failure")
        [run] = runs(container)
        assert run.status == "failed" and [s["ok"] for s in run.steps] == [True, False, True]
    container.engine.dispose()


def test_each_occurrence_runs_once_across_replicas(db_url, recorder, clock, tmp_path):
    """Two replicas (two containers on one database) deliver the same event at once: one run, one first step."""
    path = team_file(tmp_path, """
workflows:
  - name: Note it
    on: declared
    steps:
      - post: {channel: incident, text: "noted"}
""")
    first = make_container(db_url, recorder, clock, workflows=path)
    second = make_container(db_url, recorder, clock, workflows=path)
    with harness(first, recorder) as slack:
        slack.command("declare Site is down sev3")
    with Session(first.engine) as session:
        incident = svc.get_incident(session, 1)
        session.expunge(incident)
    contexts = [job_context(first), job_context(second)]
    event = make_event(contexts[0], "declared", incident, depth=0)
    started: list[list[int]] = []
    barrier = threading.Barrier(4)

    def deliver(ctx) -> None:
        barrier.wait()
        started.append(runner.start(ctx, event, incident.id, occurrence="replayed"))

    threads = [threading.Thread(target=deliver, args=(ctx,)) for ctx in contexts * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(s) for s in started) == [0, 0, 0, 1]
    with Session(first.engine) as session:
        steps = session.exec(select(Job).where(Job.kind == runner.STEP_JOB)).all()
    mine = [j for j in steps if j.payload["run_id"] == [s for s in started if s][0][0]]
    assert len(mine) == 1
    first.engine.dispose()
    second.engine.dispose()


def test_a_step_job_run_twice_does_its_work_once(sqlite_url, recorder, clock, tmp_path):
    path = team_file(tmp_path, """
workflows:
  - name: Note it
    on: declared
    steps:
      - post: {channel: incident, text: "noted once"}
""")
    container = build(sqlite_url, recorder, clock, workflows=path)
    with harness(container, recorder) as slack:
        slack.command("declare Site is down sev3")
        [run] = runs(container)
        runner.run_step_job(container, {"run_id": run.id, "index": 0})  # a retry of the same step
        assert len(incident_posts(recorder, "noted once")) == 1
    container.engine.dispose()


def test_a_workflow_cannot_trigger_itself_forever(sqlite_url, recorder, clock, tmp_path):
    """comms -> scribe -> commander -> comms ... : each assignment is an event for the next workflow, depth + 1."""
    path = team_file(tmp_path, """
workflows:
  - name: Comms brings a scribe
    on: {role_assigned: {role: comms}}
    steps:
      - set_role: {role: scribe, person: "<@U0SCRIBE>"}
  - name: Scribe brings a commander
    on: {role_assigned: {role: scribe}}
    steps:
      - set_role: {role: commander, person: "<@U0BOSS>"}
  - name: Commander brings comms
    on: {role_assigned: {role: lead}}
    steps:
      - set_role: {role: comms, person: "<@U0NEWCOMMS>"}
""")
    container = build(sqlite_url, recorder, clock, workflows=path)
    with harness(container, recorder) as slack:
        slack.command("declare Site is down sev3")
        slack.command("role comms <@U0CHEN>", channel_id=CHANNEL)
        depths = [(r.workflow, r.depth) for r in runs(container)]
        assert depths == [("Comms brings a scribe", 0), ("Scribe brings a commander", 1),
                          ("Commander brings comms", 2)]
        with Session(container.engine) as session:
            [refused] = session.exec(select(TimelineEvent).where(TimelineEvent.kind == "workflow_refused")).all()
        assert f"the limit is {MAX_DEPTH}" in refused.text and "Comms brings a scribe" in refused.text
    container.engine.dispose()


def test_a_destructive_playbook_is_only_planned_never_executed(sqlite_url, recorder, clock, tmp_path):
    path = team_file(tmp_path, """
workflows:
  - name: Offer a restart
    on: declared
    steps:
      - plan_playbook: {playbook: restart}
""")
    container = build(sqlite_url, recorder, clock, workflows=path, fly_app_name="cgraph")
    with harness(container, recorder) as slack:
        slack.command("declare API is down sev2")
        with Session(container.engine) as session:
            executions = session.exec(select(PlaybookExecution)).all()
        assert executions, "the plan is stored"
        assert all(e.status in ("proposed",) and e.confirmed_by is None and e.started_at is None
                   for e in executions)
        plans = incident_posts(recorder, "Confirm")
        assert plans, "the plan with Confirm is in the incident channel"
    container.engine.dispose()


def test_the_depth_limit_is_checked_before_any_claim(sqlite_url, recorder, clock):
    container = build(sqlite_url, recorder, clock)
    with harness(container, recorder) as slack:
        slack.command("declare Site is down sev1")
    ctx = job_context(container)
    with Session(container.engine) as session:
        incident = svc.get_incident(session, 1)
        session.expunge(incident)
    deep = Event("declared", make_event(ctx, "declared", incident).incident, {}, ctx.now(), MAX_DEPTH)
    assert runner.start(ctx, deep, 1, occurrence="deep") == []
    container.engine.dispose()


def test_a_retried_page_step_pages_once(sqlite_url, recorder, clock, pd, tmp_path):
    """The page is queued before the run's conditional UPDATE marks the step done: a job that crashed or timed out
    between the two is retried, and its page must not go out a second time (the page job's dedup key is the run's
    step, `pd-page:wf:<run>:<index>`)."""
    path = team_file(tmp_path, """
workflows:
  - name: Page Alice
    on: declared
    when: {severity: 3}
    steps:
      - page: {person: "@alice"}
""")
    container = build(sqlite_url, recorder, clock, workflows=path, **REST_SETTINGS)
    install_clients(container)
    with harness(container, recorder) as slack:
        slack.command("declare Search is slow sev3")
        [run] = runs(container)
        with Session(container.engine) as session:  # as if the step's UPDATE never committed after the page
            stored = session.get(WorkflowRun, run.id)
            stored.next_step, stored.steps, stored.status, stored.finished_at = 0, [], "running", None
            session.add(stored)
            session.commit()
        clock.advance(seconds=30)
        runner.run_step_job(container, {"run_id": run.id, "index": 0, "incident_id": 1})  # the retry
        slack.run_jobs()
        with Session(container.engine) as session:
            pages = session.exec(select(Job).where(Job.kind == paging.PAGE_JOB)).all()
        assert len(pages) == 1 and pages[0].dedup_key == f"pd-page:wf:{run.id}:0"
        assert "already queued" in runs(container)[0].steps[0]["text"]
    container.engine.dispose()


def test_each_hook_reads_the_incidents_fields_once(sqlite_url, recorder, clock, tmp_path, monkeypatch):
    """The fields (four queries: the incident, its status updates twice, its postmortem) are read once per hook
    and shared by the runs and the no_update timers: before, declaring read them for the runs and again for each
    no_update workflow's probe, and every update once per no_update workflow."""
    from bot.features.workflows import events, feature

    path = team_file(tmp_path, """
workflows:
  - name: Nudge SEV1
    on: {no_update: {after: update_nudge}}
    when: {severity: 1}
    steps:
      - post: {channel: incident, text: "quiet"}
  - name: Chase support
    on: {no_update: {after: 45m}}
    when: {severity: 1}
    steps:
      - post: {channel: incident, text: "very quiet"}
""")
    container = build(sqlite_url, recorder, clock, workflows=path)
    with harness(container, recorder) as slack:
        slack.command("declare Site is down sev1")
    ctx = job_context(container)
    with Session(container.engine) as session:
        incident = svc.get_incident(session, 1)
        session.expunge(incident)
    reads: list[int] = []
    real = events.incident_fields
    monkeypatch.setattr(events, "incident_fields", lambda c, i: reads.append(i.id) or real(c, i))
    feature.on_declared(ctx, incident)
    assert reads == [1]
    reads.clear()
    feature.on_severity_changed(ctx, incident, old=2, new=1)
    assert reads == [1]
    reads.clear()
    feature.on_updated(ctx, incident)
    assert reads == [1]
    container.engine.dispose()
