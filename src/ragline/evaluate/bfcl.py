"""The Berkeley Function-Calling Leaderboard (BFCL v4) cases, read from the ``bfcl-eval`` package.

``bfcl-eval`` (PyPI) ships the leaderboard's data files inside the package
(``bfcl_eval/data``): one JSON object per line, a ``question`` (the chat turns), a
``function`` list (BFCL's function documents) and, in ``possible_answer/``, the ground truth
of each case id. Only the data files are used here, never BFCL's runner or model handlers, so
the package is installed with ``--no-deps`` (``scripts/install.sh --dev``).

Four categories (:data:`CATEGORIES`) are the ones ragline reports (docs/benchmarks.md):

* ``simple`` — one function offered, one call expected (``BFCL_v4_simple_python.json``; v4
  splits v3's "simple" by language, and Python is the AST-checked one ragline's calls use);
* ``multiple`` — several functions offered, one call of the right one expected;
* ``parallel`` — one function offered, several calls of it expected, in any order;
* ``irrelevance`` — no function fits: the right answer is no call (no ground truth file).

:func:`openai_tools` turns BFCL's function documents into OpenAI-format function
definitions: BFCL's types (``dict``, ``float``, ``tuple``, ``any``) become JSON-schema types,
and names that OpenAI's pattern ``^[a-zA-Z0-9_-]{1,64}$`` refuses (BFCL's ``math.hypot``) are
rewritten, with the map back to BFCL's names.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ragline.errors import ConfigError, MissingDependencyError

Category = Literal["simple", "multiple", "parallel", "irrelevance"]

#: The categories ragline reports, in report order.
CATEGORIES: tuple[Category, ...] = ("simple", "multiple", "parallel", "irrelevance")

#: Category → the file name in ``bfcl_eval/data`` (and in ``possible_answer/``).
CATEGORY_FILES: dict[str, str] = {
    "simple": "BFCL_v4_simple_python.json",
    "multiple": "BFCL_v4_multiple.json",
    "parallel": "BFCL_v4_parallel.json",
    "irrelevance": "BFCL_v4_irrelevance.json",
}

#: BFCL's parameter types → JSON schema ``type`` (``any`` has no JSON-schema type: no key).
BFCL_TYPES: dict[str, str | None] = {
    "string": "string",
    "integer": "integer",
    "float": "number",
    "boolean": "boolean",
    "array": "array",
    "tuple": "array",
    "dict": "object",
    "object": "object",
    "number": "number",
    "any": None,
}

_OPENAI_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_INSTALL_HINT = (
    "install the data package: pip install --no-deps bfcl-eval (scripts/install.sh --dev)"
)


@dataclass(frozen=True, slots=True)
class BfclCase:
    """One BFCL case: the chat turns, the offered functions (BFCL documents) and the
    ground truth (``[{function_name: {param: [allowed values…]}}, …]``; empty for
    ``irrelevance``, where the right answer is no call)."""

    id: str
    category: str
    messages: tuple[Mapping[str, str], ...]
    functions: tuple[Mapping[str, Any], ...]
    ground_truth: tuple[Mapping[str, Mapping[str, list[Any]]], ...]

    @property
    def request(self) -> str:
        """The user's text (every v4 case of the four categories has one user turn)."""
        return "\n".join(m["content"] for m in self.messages if m.get("role") == "user")


def bfcl_data_dir() -> Path:
    """The ``data`` folder of the installed ``bfcl_eval`` package (found, not imported)."""
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the BFCL data package bfcl_eval is not installed", hint=_INSTALL_HINT
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not path.is_dir():
        raise MissingDependencyError(f"bfcl_eval has no data folder at {path}", hint=_INSTALL_HINT)
    return path


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise MissingDependencyError(f"BFCL data file missing: {path}", hint=_INSTALL_HINT)
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path.name} line {lineno} is not JSON: {exc}",
                hint="reinstall bfcl-eval (its data file is damaged)",
            ) from exc
    return rows


def load_bfcl(category: str, data_dir: Path | None = None) -> list[BfclCase]:
    """Every case of ``category`` (one of :data:`CATEGORIES`), in file order."""
    if category not in CATEGORY_FILES:
        raise ConfigError(
            f"unknown BFCL category {category!r}", hint=f"use one of {', '.join(CATEGORIES)}"
        )
    root = data_dir or bfcl_data_dir()
    name = CATEGORY_FILES[category]
    answers: dict[str, list[Any]] = {}
    if category != "irrelevance":
        for row in _read_jsonl(root / "possible_answer" / name):
            answers[row["id"]] = row["ground_truth"]
    cases = []
    for row in _read_jsonl(root / name):
        turns = row["question"][0] if row["question"] else []
        truth = answers.get(row["id"], [])
        if category != "irrelevance" and not truth:
            raise ConfigError(
                f"BFCL case {row['id']} has no ground truth in possible_answer/{name}",
                hint="reinstall bfcl-eval (its data files do not match)",
            )
        cases.append(
            BfclCase(
                id=row["id"],
                category=category,
                messages=tuple(turns),
                functions=tuple(row["function"]),
                ground_truth=tuple(truth),
            )
        )
    return cases


def split_cases(
    cases: Sequence[BfclCase], seed: int = 0, holdout: int = 0
) -> tuple[list[BfclCase], list[BfclCase]]:
    """(held-out cases, the rest), both in one seeded shuffled order.

    The first ``holdout`` cases of the shuffle are kept apart for trying things out; the
    rest is the reporting order. Running the rest from the front means that a run stopped
    early has scored a random sample, and a larger ``--limit`` extends a smaller one."""
    order = list(cases)
    random.Random(f"bfcl-{seed}").shuffle(order)
    return order[:holdout], order[holdout:]


def _schema(param: Mapping[str, Any]) -> dict[str, Any]:
    """One BFCL parameter document → JSON schema (recursively through properties/items)."""
    out: dict[str, Any] = {}
    bfcl_type = param.get("type")
    if bfcl_type is not None:
        if bfcl_type not in BFCL_TYPES:
            raise ConfigError(
                f"unknown BFCL parameter type {bfcl_type!r}",
                hint=f"use one of {', '.join(sorted(BFCL_TYPES))}",
            )
        json_type = BFCL_TYPES[bfcl_type]
        if json_type is not None:
            out["type"] = json_type
    for key in ("description", "enum", "default", "format", "maximum", "minItems", "maxItems"):
        if key in param:
            out[key] = param[key]
    if "properties" in param:
        out["properties"] = {k: _schema(v) for k, v in param["properties"].items()}
    if "required" in param:
        out["required"] = list(param["required"])
    if "items" in param:
        out["items"] = _schema(param["items"])
    return out


def openai_name(name: str, taken: set[str] | None = None) -> str:
    """``name`` made to match OpenAI's function-name pattern (``.`` and others → ``_``,
    at most 64 characters), made unique against ``taken``."""
    base = _OPENAI_NAME.sub("_", name)[:64] or "function"
    candidate, n = base, 2
    while taken is not None and candidate in taken:
        suffix = f"_{n}"
        candidate, n = base[: 64 - len(suffix)] + suffix, n + 1
    return candidate


def openai_tools(
    functions: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """BFCL function documents → (OpenAI-format tools, {tool name: BFCL name})."""
    tools: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for fn in functions:
        name = openai_name(fn["name"], set(names))
        names[name] = fn["name"]
        params = _schema(fn.get("parameters") or {"type": "dict", "properties": {}})
        params["type"] = "object"
        params.setdefault("properties", {})
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": fn.get("description", ""),
                    "parameters": params,
                },
            }
        )
    return tools, names
