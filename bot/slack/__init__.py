"""Slack front end: the Bolt app, Block Kit rendering and the Slack side of the chat port."""
