"""The exception tree drawn in ``ragline.errors``' docstring is the real class hierarchy."""

from __future__ import annotations

import inspect
import re

import ragline.errors as errors


def _drawn() -> dict[str, str | None]:
    """Each class in the drawing -> its parent in the drawing (by indentation)."""
    doc = errors.__doc__ or ""
    lines = [ln for ln in doc.splitlines() if re.search(r"^\s{4}(?:[│├└─\s]*)[A-Z]\w*Error", ln)]
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in lines:
        m = re.match(r"^(\s{4}[│├└─\s]*?)([A-Z]\w*Error)\b", line)
        assert m, line
        depth, name = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[name] = stack[-1][1] if stack else None
        stack.append((depth, name))
    return parents


def _real() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, errors.RaglineError) and cls.__module__ == errors.__name__:
            base = cls.__bases__[0]
            out[name] = None if cls is errors.RaglineError else base.__name__
    return out


def test_the_drawn_tree_is_the_class_hierarchy():
    drawn = _drawn()
    assert drawn["RaglineError"] is None and len(drawn) > 20
    assert drawn == _real()


def test_every_ragline_error_lives_in_errors_py():
    import importlib
    import pkgutil

    import ragline

    for info in pkgutil.walk_packages(ragline.__path__, "ragline."):
        importlib.import_module(info.name)

    def subclasses(cls: type) -> list[type]:
        return [c for s in cls.__subclasses__() for c in (s, *subclasses(s))]

    elsewhere = {
        f"{c.__module__}.{c.__name__}"
        for c in subclasses(errors.RaglineError)
        if c.__module__ != errors.__name__
    }
    assert elsewhere == set()
