"""What to do about an incident: pure decisions and procedures. Nothing here imports Slack."""
