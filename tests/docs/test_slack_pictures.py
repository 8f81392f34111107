"""Every recorded Slack message in docs/slack-messages/ drawn by tests/support/block_kit_html.py in headless Chromium.

What a person would notice in the picture: text spilling out of its block or field, a button cut off or pushed
past the 600 px pane, a button whose label is clipped, a message whose header went missing. One picture per
file; FIRELINE_UPDATE_SCREENSHOT=1 writes them to docs/images/slack/<name>.png (docs/slack.md shows them).
Skips, with the reason, where Chromium is absent.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from tests.support.block_kit_html import mrkdwn, plain, render
from tests.support.browser import Browser, screenshot_for_docs
from tests.support.real_run import NAMES

REPO = Path(__file__).resolve().parents[2]
MESSAGES = sorted((REPO / "docs" / "slack-messages").glob("*.json"))

pytestmark = pytest.mark.usefixtures("needs_a_browser")

# [what, detail] for everything that does not fit: blocks, fields and checkbox rows wider than their box, buttons
# and selects whose label is cut or that end past the pane.
MISFITS = """
(() => {
  const out = [];
  const pane = document.querySelector('.pane').getBoundingClientRect();
  for (const el of document.querySelectorAll('.block, .fields > div, .checkbox, .button, .select')) {
    if (el.scrollWidth > el.clientWidth + 0.5) out.push(['overflows', el.innerText.slice(0, 60)]);
    const r = el.getBoundingClientRect();
    if (r.right > pane.right + 0.5 || r.left < pane.left - 0.5) out.push(['outside', el.innerText.slice(0, 60)]);
  }
  return out;
})()
"""

BUTTONS = """[...document.querySelectorAll('.button:not(.overflow)')].map(b => {
  const r = b.getBoundingClientRect(); return [b.innerText, r.width > 0 && r.height > 0];
})"""

HEADERS = """[...document.querySelectorAll('.header')].map(h => [h.innerText, h.getBoundingClientRect().height])"""


def _labels(blocks: list[dict], kind: str) -> list[str]:
    return [el["text"]["text"] for b in blocks if b["type"] == "actions"
            for el in b["elements"] if el["type"] == kind] + \
           [b["accessory"]["text"]["text"] for b in blocks
            if b["type"] == "section" and b.get("accessory", {}).get("type") == kind]


def test_every_message_file_is_drawn():
    names = {path.name.split(".")[0] for path in MESSAGES}
    assert {"declare-card", "resolved-card", "restart-plan", "alert-root", "alert-thread"} <= names
    for name in names:
        assert (REPO / "docs" / "slack-messages" / f"{name}.after.json").exists(), name


@pytest.mark.parametrize("path", MESSAGES, ids=[p.name for p in MESSAGES])
def test_message_picture(path: Path, tmp_path: Path):
    message = json.loads(path.read_text())
    blocks = message.get("blocks", [])
    page = tmp_path / "message.html"
    page.write_text(render(message, NAMES, title=path.name))
    with Browser(width=640, height=60) as browser:
        browser.open(page.as_uri())
        png = screenshot_for_docs(browser, f"slack/{path.name.removesuffix('.json')}.png", tmp_path)
        assert len(png) > 1000
        assert browser.evaluate(MISFITS) == []
        shown = browser.evaluate(BUTTONS)
        expected = _labels(blocks, "button")
        # Labels as drawn (emoji codes become the emoji, so compare the words), every one with a visible box.
        assert [label for label, _ in shown] == [html.unescape(plain(label)) for label in expected]
        assert all(visible for _, visible in shown), shown
        headers = browser.evaluate(HEADERS)
        assert len(headers) == sum(1 for b in blocks if b["type"] == "header")
        assert all(text.strip() and height > 0 for text, height in headers), headers
        if ".after." in path.name and any(b["type"] == "header" for b in blocks):
            assert headers[0][0].strip(), path.name
        # Mentions are drawn as names (the card's "given by U0LEAD" context is plain text, not a mention).
        assert "<@" not in browser.text()



def test_mrkdwn_is_formatted_and_everything_else_escaped():
    drawn = mrkdwn("*<https://e.com/?q=a&amp;b|lnk>* _it_ <@U0LEAD> &lt;script&gt; <script> `a*b*` :mag: :nope:\n"
                   "```x < y```", {"U0LEAD": "Dana Lead"})
    assert drawn == ('<b><a href="https://e.com/?q=a&amp;b">lnk</a></b> <i>it</i> <span class="mention">@Dana Lead'
                     '</span> &lt;script&gt; &lt;script&gt; <code>a*b*</code> \U0001F50D :nope:<br><pre>x &lt; y</pre>')


def test_a_label_too_long_for_the_pane_is_caught(tmp_path: Path):
    """The overflow check can fail: a 120-letter button is cut by the pane and reported."""
    message = {"blocks": [{"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "X" * 120}}]}]}
    page = tmp_path / "message.html"
    page.write_text(render(message))
    with Browser(width=640, height=60) as browser:
        browser.open(page.as_uri())
        assert browser.evaluate(MISFITS) == [["overflows", "X" * 60]]
