"""Making a row reads no module table: the JSON columns' defaults are functions of ours, not builtins."""

from __future__ import annotations

import inspect

from sqlmodel import SQLModel

import bot.store.models  # noqa: F401 - registers every table model


def table_models() -> list[type[SQLModel]]:
    found, todo = [], list(SQLModel.__subclasses__())
    while todo:
        model = todo.pop()
        todo.extend(model.__subclasses__())
        if getattr(model, "__table__", None) is not None and model.__module__.startswith("bot.store.models"):
            found.append(model)
    return found


def test_no_default_of_a_row_copies_the_module_table(monkeypatch):
    """pydantic asks a default factory's signature each time a row is made; for a builtin (`list`, `dict`)
    `inspect` copies sys.modules to read it, which in `serve`'s forked worker child wrote to every page
    holding a module object (bench/memory.py: ~1.9 MB of pages shared at idle no longer shared)."""
    calls = []
    real = inspect._signature_fromstr  # noqa: SLF001

    def counted(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(inspect, "_signature_fromstr", counted)
    factories = 0
    for model in table_models():
        for name, field in model.model_fields.items():
            if field.default_factory is None:
                continue
            factories += 1
            first = field.get_default(call_default_factory=True)
            second = field.get_default(call_default_factory=True)
            if isinstance(first, (list, dict)):
                assert first == type(first)() and first is not second, f"{model.__name__}.{name}"
    assert factories >= 25  # the JSON columns and the timestamps
    assert calls == []
