"""Workflows as data: a team's YAML file says what Fireline does around an incident; this package reads it.

Pure (imports nothing of bot/): the model (`model`), the vocabulary (`schema`), the loader and validator
(`loader`), conditions (`conditions`), sandboxed templates (`template`) and the rehearsal (`rehearse`) that
prints what would run, touching nothing. bot.features.workflows runs them.
"""

from __future__ import annotations

from playbooks.workflows.conditions import matches, why_not
from playbooks.workflows.loader import DEFAULT_FILE, default_workflows, load_files, load_text, notes, parse_duration
from playbooks.workflows.model import (
    INCIDENT_FIELDS,
    MAX_DEPTH,
    STEP_KINDS,
    TRIGGER_DETAIL,
    TRIGGERS,
    Event,
    Problem,
    Step,
    Workflow,
    WorkflowFileError,
    step_line,
)
from playbooks.workflows.rehearse import describe_step, rehearse, sample_incident
from playbooks.workflows.template import TemplateRefused, render

__all__ = [
    "DEFAULT_FILE", "INCIDENT_FIELDS", "MAX_DEPTH", "STEP_KINDS", "TRIGGERS", "TRIGGER_DETAIL", "Event", "Problem",
    "Step", "TemplateRefused", "Workflow", "WorkflowFileError", "default_workflows", "describe_step", "load_files",
    "load_text", "matches", "notes", "parse_duration", "rehearse", "render", "sample_incident", "step_line", "why_not",
]
