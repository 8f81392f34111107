"""What people read names people by their display name; ids stay only inside Slack mentions."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.store.models import Incident, TimelineEvent

CHANNEL = "CINC0001"


def texts(container) -> list[str]:
    with Session(container.engine) as session:
        return [e.text for e in session.exec(select(TimelineEvent).order_by(TimelineEvent.id)).all()]


def test_timeline_card_and_page_reasons_show_names_not_ids(slack):
    slack.recorder.names.update({"U0LEAD": "Dana Lead", "U0ANA": "Ana Souza"})
    slack.command("declare Checkout returns 502 sev2")
    with Session(slack.container.engine) as session:
        assert session.get(Incident, 1).severity_reason == "given by Dana Lead when declaring"
    slack.command("sev 1", channel_id=CHANNEL)
    card = slack.recorder.of("chat.update")[-1].text()
    assert "set by Dana Lead (was SEV2)" in card and "set by U0LEAD" not in card
    slack.command("lead <@U0ANA|ana>", channel_id=CHANNEL)
    slack.command("followup Add a checkout probe <@U0ANA|ana>", channel_id=CHANNEL)
    slack.command("page", channel_id=CHANNEL)
    every = "\n".join(texts(slack.container))
    assert "Lead Dana Lead -> Ana Souza" in every
    assert "(owner Ana Souza)" in every
    assert "asked by Dana Lead" in every
    assert "U0LEAD" not in every and "U0ANA" not in every
