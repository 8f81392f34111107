"""What a feature makes on first use is its own `Part`, kept by the container; later work's chat is the front end's."""

from __future__ import annotations

import io
import threading

import pytest
from sqlalchemy import create_engine

from bot.adapters.console_chat import ConsoleChat
from bot.core.container import Container, Part
from bot.core.context import Source, job_context
from bot.core.registry import Registry
from bot.core.settings import Settings


def bare(registry: Registry | None = None) -> Container:
    """A container around a registry no front end registered into."""
    return Container(settings=Settings(_env_file=None, database_url="sqlite://"), engine=create_engine("sqlite://"),
                     registry=registry or Registry())


def test_a_part_is_made_once_on_first_use_and_a_put_one_wins():
    made: list[Container] = []
    key: Part[list[str]] = Part("test.things", lambda container: made.append(container) or [])
    container = bare()
    assert container.parts.peek(key) is None and made == []
    first = container.parts.get(key)
    assert container.parts.get(key) is first and made == [container]
    mine = container.parts.put(key, ["a test's own"])
    assert container.parts.get(key) is mine and made == [container]
    assert bare().parts.get(key) is not first  # each container keeps its own


def test_two_keys_with_one_name_are_two_parts():
    one, other = Part("same", lambda c: "one"), Part("same", lambda c: "other")
    container = bare()
    assert (container.parts.get(one), container.parts.get(other)) == ("one", "other")


def test_first_uses_at_once_make_one():
    calls = []
    gate = threading.Barrier(8)
    key = Part("test.slow", lambda container: calls.append(1) or object())
    container = bare()
    seen = []

    def use():
        gate.wait()
        seen.append(container.parts.get(key))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len({id(part) for part in seen}) == 1


def test_later_work_posts_through_the_chat_the_front_end_registered():
    printer = ConsoleChat(io.StringIO())
    registry = Registry()
    registry.chat_for_jobs(lambda container: printer)
    ctx = job_context(bare(registry), user_id="fireline")
    assert ctx.chat is printer and ctx.source is Source.JOB


def test_without_a_front_end_later_work_says_so():
    with pytest.raises(RuntimeError, match="no chat for later work"):
        job_context(bare())
