"""A small HTML drawing of a Block Kit message, for the browser test that pictures docs/slack-messages/.

Test support, not product code: Slack draws the real thing; this draws enough of it (header, section with
fields and accessory, context, actions, divider; buttons, overflow, checkboxes, static_select; mrkdwn) to show
a person how a message reads and to let Chromium tell whether any text overflows its box. It is a 600 px pane
in a Slack-like look, with no JavaScript and nothing fetched: every string from the message is escaped.
"""

from __future__ import annotations

import html
import re
from typing import Any

# The emoji codes our messages use, drawn as the emoji; anything else stays as its :code:, as Slack shows
# an unknown one.
EMOJI = {
    "rotating_light": "\U0001F6A8", "mag": "\U0001F50D", "clipboard": "\U0001F4CB", "white_check_mark": "\u2705",
    "warning": "\u26A0\uFE0F", "x": "\u274C", "hourglass_flowing_sand": "\u23F3", "hourglass": "\u231B",
    "arrows_counterclockwise": "\U0001F504", "rewind": "\u23EA", "ballot_box_with_check": "\u2611\uFE0F",
    "heavy_check_mark": "\u2714\uFE0F", "large_green_circle": "\U0001F7E2", "red_circle": "\U0001F534",
    "memo": "\U0001F4DD", "pushpin": "\U0001F4CC", "eyes": "\U0001F440", "fire": "\U0001F525",
    "arrow_up": "\u2B06\uFE0F", "arrow_down": "\u2B07\uFE0F", "stopwatch": "\u23F1\uFE0F", "rocket": "\U0001F680",
    "no_entry": "\u26D4",
    "gear": "\u2699\uFE0F", "construction": "\U0001F6A7", "speech_balloon": "\U0001F4AC", "bell": "\U0001F514",
}

CSS = """
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: #1d1c1d;
  font: 15px/1.47 Lato, "Slack-Lato", -apple-system, "Segoe UI", "DejaVu Sans", sans-serif,
  "Noto Color Emoji"; }
.pane { width: 600px; padding: 16px 20px; }
.msg { display: flex; gap: 8px; }
.avatar { flex: 0 0 36px; height: 36px; border-radius: 6px; background: #e01e5a; color: #fff;
  font-weight: 900; text-align: center; line-height: 36px; }
.body { flex: 1 1 auto; min-width: 0; }
.who { font-weight: 900; } .who small { font-weight: 400; color: #616061; font-size: 12px; margin-left: 4px; }
.block { margin: 4px 0; overflow: hidden; overflow-wrap: anywhere; }
.header { font-size: 18px; font-weight: 900; line-height: 1.33; margin: 6px 0 8px; }
.section { display: flex; gap: 12px; align-items: flex-start; }
.section .main { flex: 1 1 auto; min-width: 0; }
.section .accessory { flex: 0 0 auto; max-width: 45%; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin-top: 4px; }
.fields > div { min-width: 0; overflow: hidden; overflow-wrap: anywhere; }
.context { font-size: 12px; color: #616061; display: flex; flex-wrap: wrap; gap: 4px 8px; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.divider { border: 0; border-top: 1px solid #dddddd; margin: 12px 0; }
.button { display: inline-block; max-width: 100%; padding: 0 12px; height: 28px; line-height: 26px;
  border: 1px solid #bbbabb; border-radius: 8px; background: #fff; color: #1d1c1d; font-size: 13px;
  font-weight: 700; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.button.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.button.danger { background: #e01e5a; border-color: #e01e5a; color: #fff; }
.button.overflow { padding: 0 8px; font-size: 16px; letter-spacing: 1px; }
.select { display: inline-block; height: 28px; line-height: 26px; padding: 0 28px 0 12px; border: 1px solid #bbbabb;
  border-radius: 8px; font-size: 13px; position: relative; max-width: 100%; white-space: nowrap; overflow: hidden; }
.select::after { content: "\\25BE"; position: absolute; right: 10px; }
.select.placeholder { color: #616061; }
.checkboxes { display: flex; flex-direction: column; gap: 6px; width: 100%; }
.checkbox { display: flex; gap: 8px; align-items: flex-start; overflow: hidden; overflow-wrap: anywhere; }
.box { flex: 0 0 16px; height: 16px; margin-top: 3px; border: 1px solid #868686; border-radius: 4px;
  font-size: 12px; line-height: 14px; text-align: center; color: #fff; }
.box.ticked { background: #1264a3; border-color: #1264a3; }
.checkbox .label { min-width: 0; }
.checkbox .description { display: block; font-size: 13px; color: #616061; }
a { color: #1264a3; text-decoration: none; }
.mention { color: #1264a3; background: #e8f5fa; border-radius: 3px; padding: 0 2px; white-space: nowrap; }
code { font: 12px/1.5 Monaco, Menlo, "DejaVu Sans Mono", monospace; color: #e01e5a; background: #f8f8f8;
  border: 1px solid #e8e8e8; border-radius: 3px; padding: 0 3px; }
pre { font: 12px/1.5 Monaco, Menlo, "DejaVu Sans Mono", monospace; background: #f8f8f8; border: 1px solid #e8e8e8;
  border-radius: 4px; padding: 8px; margin: 4px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.unknown { color: #616061; font-style: italic; }
"""

_PRE = re.compile(r"```(.*?)```", re.S)
_CODE = re.compile(r"`([^`\n]+)`")
_ANGLE = re.compile(r"<([^<>\n]+)>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_EMOJI = re.compile(r":([a-z0-9_+-]+):")
_HOLE = re.compile("\ue000(\\d+)\ue001")


def _slack_unescape(text: str) -> str:
    """Slack's own three entities, as the sender wrote them."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def emoji(escaped: str) -> str:
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), escaped)


def plain(text: str, with_emoji: bool = True) -> str:
    escaped = html.escape(text)
    return emoji(escaped) if with_emoji else escaped


def mrkdwn(text: str, names: dict[str, str] | None = None) -> str:
    """Slack mrkdwn as HTML: code and links are cut out first (nothing inside them is formatted), the rest is
    escaped, then bold, italic, strike and emoji, then the cut-out pieces go back."""
    names = names or {}
    holes: list[str] = []

    def hole(piece: str) -> str:
        holes.append(piece)
        return f"\ue000{len(holes) - 1}\ue001"

    def angle(match: re.Match[str]) -> str:
        inside = match.group(1)
        target, _, label = inside.partition("|")
        if target.startswith("@"):
            person = names.get(target[1:], label or target[1:])
            return hole(f'<span class="mention">@{html.escape(person)}</span>')
        if target.startswith("#"):
            return hole(f'<span class="mention">#{html.escape(_slack_unescape(label or target[1:]))}</span>')
        if target.startswith("!"):
            word = label or target[1:].split("^")[0]
            return hole(f'<span class="mention">@{html.escape(_slack_unescape(word))}</span>')
        url = _slack_unescape(target)
        shown = _slack_unescape(label) if label else url
        if not re.match(r"(https?|mailto):", url):
            return hole(html.escape(_slack_unescape(match.group(0))))
        return hole(f'<a href="{html.escape(url, quote=True)}">{html.escape(shown)}</a>')

    text = _PRE.sub(lambda m: hole(f"<pre>{html.escape(_slack_unescape(m.group(1).strip(chr(10))))}</pre>"), text)
    text = _CODE.sub(lambda m: hole(f"<code>{html.escape(_slack_unescape(m.group(1)))}</code>"), text)
    text = _ANGLE.sub(angle, text)
    escaped = html.escape(_slack_unescape(text), quote=False)
    escaped = _BOLD.sub(r"<b>\1</b>", escaped)
    escaped = _ITALIC.sub(r"<i>\1</i>", escaped)
    escaped = _STRIKE.sub(r"<s>\1</s>", escaped)
    escaped = emoji(escaped).replace("\n", "<br>")
    while _HOLE.search(escaped):
        escaped = _HOLE.sub(lambda m: holes[int(m.group(1))], escaped)
    return escaped


def text_object(obj: dict[str, Any] | None, names: dict[str, str]) -> str:
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn(obj.get("text", ""), names)
    return plain(obj.get("text", ""), obj.get("emoji", True))


def element(el: dict[str, Any], names: dict[str, str]) -> str:
    kind = el.get("type")
    if kind == "button":
        style = el.get("style", "")
        return f'<span class="button {html.escape(style)}" role="button">{text_object(el.get("text"), names)}</span>'
    if kind == "overflow":
        count = len(el.get("options", []))
        return f'<span class="button overflow" role="button" title="{count} more">\u22EF</span>'
    if kind == "checkboxes":
        ticked = {option.get("value") for option in el.get("initial_options", [])}
        rows = []
        for option in el.get("options", []):
            on = option.get("value") in ticked
            description = option.get("description")
            rows.append(
                f'<div class="checkbox"><span class="box{" ticked" if on else ""}">{"&#10003;" if on else ""}</span>'
                f'<span class="label">{text_object(option.get("text"), names)}'
                + (f'<span class="description">{text_object(description, names)}</span>' if description else "")
                + "</span></div>")
        return f'<div class="checkboxes">{"".join(rows)}</div>'
    if kind in ("static_select", "external_select", "users_select", "channels_select", "conversations_select"):
        chosen = el.get("initial_option")
        if chosen:
            return f'<span class="select">{text_object(chosen.get("text"), names)}</span>'
        return f'<span class="select placeholder">{text_object(el.get("placeholder"), names)}</span>'
    if kind == "image":
        return f'<span class="unknown">[image: {plain(el.get("alt_text", ""))}]</span>'
    if kind in ("mrkdwn", "plain_text"):
        return f"<span>{text_object(el, names)}</span>"
    return f'<span class="unknown">[{plain(str(kind))}]</span>'


def block(b: dict[str, Any], names: dict[str, str]) -> str:
    kind = b.get("type")
    if kind == "header":
        return f'<div class="block header" data-type="header">{text_object(b.get("text"), names)}</div>'
    if kind == "divider":
        return '<hr class="block divider" data-type="divider">'
    if kind == "context":
        inner = "".join(element(el, names) for el in b.get("elements", []))
        return f'<div class="block context" data-type="context">{inner}</div>'
    if kind == "actions":
        inner = "".join(element(el, names) for el in b.get("elements", []))
        return f'<div class="block actions" data-type="actions">{inner}</div>'
    if kind == "section":
        main = f"<div>{text_object(b.get('text'), names)}</div>" if b.get("text") else ""
        if b.get("fields"):
            main += '<div class="fields">' + "".join(
                f"<div>{text_object(field, names)}</div>" for field in b["fields"]) + "</div>"
        accessory = b.get("accessory")
        side = f'<div class="accessory">{element(accessory, names)}</div>' if accessory else ""
        return f'<div class="block section" data-type="section"><div class="main">{main}</div>{side}</div>'
    return f'<div class="block unknown" data-type="{plain(str(kind))}">[{plain(str(kind))} block]</div>'


def render(message: dict[str, Any], names: dict[str, str] | None = None, title: str = "Fireline") -> str:
    """A whole HTML page showing one message (its blocks, or its text where it has none) as posted by Fireline."""
    names = names or {}
    blocks = message.get("blocks") or []
    inner = "".join(block(b, names) for b in blocks) if blocks else \
        f'<div class="block section" data-type="section">{mrkdwn(message.get("text", ""), names)}</div>'
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            '<div class="pane"><div class="msg"><div class="avatar">F</div><div class="body">'
            '<div class="who">Fireline <small>APP</small></div>'
            f"{inner}</div></div></div></body></html>")
