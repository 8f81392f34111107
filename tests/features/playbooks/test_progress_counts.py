"""Rollback and scale count machines in their progress message as the rolling restart does."""

from __future__ import annotations

import io

from bot.adapters.console import run_console


def console(make_container, script: str) -> str:
    out = io.StringIO()
    run_console(make_container(), io.StringIO(script), out)
    return out.getvalue()


def test_rollback_progress_counts_machines_and_batches(make_container):
    text = console(make_container, "declare Site down sev1\n/rollback --batch 2\n!Confirm\n")
    assert "Rolling back: 0 of 4 machines, batch 1 of 2, 0s" in text
    assert "Rolled back 4 of 4 machines in 0s" in text


def test_scale_progress_counts_machines_and_ends_with_the_new_size(make_container):
    text = console(make_container, "declare Site down sev1\n/scale count 6\n!Confirm\n")
    assert "Scaling: 0 of 2 machines, step 1 of 2, 0s" in text
    assert "Scaled to 6 machines in 0s" in text


def test_the_database_restore_procedure_counts_no_machines(make_container):
    text = console(make_container, "declare Site down sev1\n/rollback --with-db-restore 00:00\n!Confirm\n")
    assert "Plan: " in text and "machines, batch" not in text and "Rolled back 4 of 4" not in text


def test_the_database_restore_procedure_names_its_steps_steps_not_batches(make_container):
    """Its four steps are stages (traffic stopped, database restored, ...): "running batch 2 of 4" named them as
    the rolling update's batches of machines."""
    text = console(make_container, "declare Site down sev1\n/rollback --with-db-restore 00:00\n!Confirm\n")
    assert "[DRY RUN]: running step 1 of 4" in text and "running batch" not in text
