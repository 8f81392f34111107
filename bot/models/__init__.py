"""All tables. Each feature keeps its models in its own module here; import them all below."""

from bot.models.incident import OPEN_STATES, STATES, Incident, Job, ProcessedRequest, TimelineEvent

__all__ = ["OPEN_STATES", "STATES", "Incident", "Job", "ProcessedRequest", "TimelineEvent"]
