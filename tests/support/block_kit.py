"""What Slack would refuse (or cut) in a message, modal or Home view Fireline sends: the recorder's check.

Two layers: slack_sdk's own Block Kit models parse and validate every block and view (`Block.parse`,
`View`, `to_dict()` runs their validators), and the documented limits of Slack's Block Kit reference
are checked again here by walking the JSON, since the models skip some (option values, input labels,
text objects that are empty) and a message's own limits (50 blocks, `text` 40,000) are no model's.
Sources: Slack's Block Kit reference (blocks, block elements, composition objects, views) and
chat.postMessage's `text` argument.
"""

from __future__ import annotations

import json
import re
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_METHODS = {"chat.postMessage", "chat.update", "chat.postEphemeral", "chat.scheduleMessage", "response_url"}
VIEW_METHODS = {"views.open", "views.publish", "views.update", "views.push"}

MESSAGE_BLOCKS, VIEW_BLOCKS, MESSAGE_TEXT = 50, 100, 40000
VIEW_TEXT = {"title": 24, "submit": 24, "close": 24}
VIEW_FIELDS = {"private_metadata": 3000, "callback_id": 255, "external_id": 255}
# (block or element type, key) -> the most characters of that text (a text object's `text`, or the string)
TEXT_LIMITS = {
    ("section", "text"): 3000, ("section", "fields"): 2000, ("header", "text"): 150,
    ("button", "text"): 75, ("button", "value"): 2000, ("button", "url"): 3000,
    ("option", "text"): 75, ("option", "value"): 150, ("option", "description"): 75,
    ("input", "label"): 2000, ("input", "hint"): 2000,
    ("confirm", "title"): 100, ("confirm", "text"): 300, ("confirm", "confirm"): 30, ("confirm", "deny"): 30,
    ("plain_text_input", "initial_value"): 3000,
}
COUNT_LIMITS = {("section", "fields"): 10, ("context", "elements"): 10, ("actions", "elements"): 25,
                ("static_select", "options"): 100, ("multi_static_select", "options"): 100,
                ("overflow", "options"): 5, ("checkboxes", "options"): 10, ("radio_buttons", "options"): 10}
ID_LIMIT = 255  # action_id, block_id
PLACEHOLDER = 150
# Slack's escaping is `&amp;` `&lt;` `&gt;`, applied once; a second pass shows people the entity itself.
DOUBLE_ESCAPED = re.compile(r"&amp;(?:amp|lt|gt);")


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("text") if isinstance(value.get("text"), str) else None
    return value if isinstance(value, str) else None


def _walk(node: Any, where: str, problems: list[str]) -> None:
    if isinstance(node, list):
        for index, item in enumerate(node):
            _walk(item, f"{where}[{index}]", problems)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in ("mrkdwn", "plain_text"):
        text = node.get("text")
        if not isinstance(text, str) or not text:
            problems.append(f"{where}: a {kind} text object must have text (Slack refuses an empty one)")
        elif DOUBLE_ESCAPED.search(text):
            problems.append(f"{where}: escaped twice ({DOUBLE_ESCAPED.search(text).group(0)}): {text[:120]!r}")
        return
    for key in ("action_id", "block_id"):
        if isinstance(node.get(key), str) and len(node[key]) > ID_LIMIT:
            problems.append(f"{where}.{key}: {len(node[key])} characters, Slack allows {ID_LIMIT}")
    for (owner, key), limit in TEXT_LIMITS.items():
        if owner != kind or key not in node:
            continue
        values = node[key] if isinstance(node[key], list) else [node[key]]
        for value in values:
            text = _text(value)
            if text is not None and len(text) > limit:
                problems.append(f"{where}.{key} of a {kind}: {len(text)} characters, Slack allows {limit}")
    for (owner, key), limit in COUNT_LIMITS.items():
        if owner == kind and isinstance(node.get(key), list) and len(node[key]) > limit:
            problems.append(f"{where}.{key} of a {kind}: {len(node[key])} items, Slack allows {limit}")
    if kind == "plain_text_input" and isinstance(node.get("initial_value"), str) \
            and isinstance(node.get("max_length"), int) and len(node["initial_value"]) > node["max_length"]:
        problems.append(f"{where}: initial_value is longer than its own max_length {node['max_length']}")
    for key, value in node.items():
        if key in ("options", "option_groups", "initial_options") and isinstance(value, list):
            for index, option in enumerate(value):
                _walk_option(option, f"{where}.{key}[{index}]", problems)
        elif key == "initial_option" and isinstance(value, dict):
            _walk_option(value, f"{where}.{key}", problems)
        elif key == "placeholder" and isinstance(value, dict):
            size = len(_text(value) or "")
            if size > PLACEHOLDER:
                problems.append(f"{where}.placeholder: {size} characters, Slack allows {PLACEHOLDER}")
            _walk(value, f"{where}.{key}", problems)
        elif key == "confirm" and isinstance(value, dict):
            _walk({**value, "type": "confirm"}, f"{where}.{key}", problems)
        else:
            _walk(value, f"{where}.{key}", problems)


def _walk_option(option: Any, where: str, problems: list[str]) -> None:
    if isinstance(option, dict):
        _walk({**option, "type": "option"}, where, problems)


def _models(blocks: list[Any], where: str, problems: list[str]) -> None:
    for index, block in enumerate(blocks):
        try:
            parsed = Block.parse(block)
            if parsed is None:
                problems.append(f"{where}[{index}]: slack_sdk does not know this block: {str(block)[:120]}")
                continue
            parsed.to_dict()  # runs the validators of the block and of everything in it
        except (SlackObjectFormationError, KeyError, TypeError, ValueError) as exc:
            problems.append(f"{where}[{index}] ({block.get('type') if isinstance(block, dict) else block!r}): {exc}")


def _unique_ids(blocks: list[Any], where: str, problems: list[str]) -> None:
    seen_blocks: set[str] = set()
    seen_actions: set[str] = set()
    for block in blocks:
        if not isinstance(block, dict):
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in seen_blocks:
                problems.append(f"{where}: block_id {block_id!r} twice (Slack refuses duplicates)")
            seen_blocks.add(block_id)
        if block.get("type") == "actions":
            for element in block.get("elements") or []:
                action = element.get("action_id") if isinstance(element, dict) else None
                if action is not None and action in seen_actions:
                    problems.append(f"{where}: action_id {action!r} twice in one message")
                seen_actions.add(action)


def _loaded(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def message_problems(data: dict[str, Any], where: str = "message") -> list[str]:
    problems: list[str] = []
    blocks = _loaded(data.get("blocks"))
    text = data.get("text")
    if isinstance(text, str):
        if len(text) > MESSAGE_TEXT:
            problems.append(f"{where}.text: {len(text)} characters; Slack cuts a message's text at {MESSAGE_TEXT}")
        if DOUBLE_ESCAPED.search(text):
            problems.append(f"{where}.text: escaped twice: {text[:120]!r}")
    if blocks is None:
        return problems
    if not isinstance(blocks, list):
        return [*problems, f"{where}.blocks is not a list"]
    if len(blocks) > MESSAGE_BLOCKS:
        problems.append(f"{where}: {len(blocks)} blocks, Slack allows {MESSAGE_BLOCKS} in a message")
    _models(blocks, f"{where}.blocks", problems)
    _walk(blocks, f"{where}.blocks", problems)
    _unique_ids(blocks, where, problems)
    return problems


def view_problems(view: Any, where: str = "view") -> list[str]:
    view = _loaded(view)
    if not isinstance(view, dict):
        return [f"{where} is not a JSON object"]
    problems: list[str] = []
    try:
        View(**view).to_dict()  # slack_sdk's validators: title 24, blocks 100, private_metadata 3000, ...
    except (SlackObjectFormationError, TypeError, ValueError) as exc:
        problems.append(f"{where}: {exc}")
    for key, limit in VIEW_TEXT.items():
        text = _text(view.get(key))
        if text is not None and len(text) > limit:
            problems.append(f"{where}.{key}: {len(text)} characters, Slack allows {limit}")
    for key, limit in VIEW_FIELDS.items():
        value = view.get(key)
        if isinstance(value, str) and len(value) > limit:
            problems.append(f"{where}.{key}: {len(value)} characters, Slack allows {limit}")
    blocks = view.get("blocks") or []
    if len(blocks) > VIEW_BLOCKS:
        problems.append(f"{where}: {len(blocks)} blocks, Slack allows {VIEW_BLOCKS} in a {view.get('type')}")
    _models(blocks, f"{where}.blocks", problems)
    _walk(blocks, f"{where}.blocks", problems)
    _unique_ids(blocks, where, problems)
    for key in ("title", "submit", "close"):
        if key in view:
            _walk(view[key], f"{where}.{key}", problems)
    return problems


def problems_of(method: str, data: dict[str, Any]) -> list[str]:
    """What Slack would refuse or cut in this Web API call (or response_url post); [] for other methods."""
    if method in MESSAGE_METHODS:
        return message_problems(data, method)
    if method in VIEW_METHODS:
        return view_problems(data.get("view"), f"{method} view")
    return []
