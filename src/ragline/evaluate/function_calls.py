"""An AST matcher for function calls with the Berkeley Function-Calling Leaderboard's semantics.

BFCL scores a model's calls against a *possible answer* per case: for each expected call, the
function name and, per parameter, a list of allowed values, where ``""`` in that list means
"may be left out". :func:`check_calls` says whether a list of calls
(``[{"name", "arguments"}]``, the shape ``ragline tools call`` writes) would pass, with the
rules of BFCL v4's AST checker (``tests/unit/test_bfcl_matcher.py`` checks this module
against ``bfcl_eval``'s own checker on every case of the four categories):

* **count** — ``simple`` and ``multiple`` expect exactly one call, ``parallel`` exactly as many
  calls as the ground truth lists, ``irrelevance`` none at all (any call fails);
* **name** — a call matches an expected call only under the same function name;
* **parameters** — every ``required`` parameter of the function document present; no
  parameter that the document or the possible answer does not list; every listed parameter
  that is not optional (no ``""`` among its values) present;
* **types** — the value's Python type must be the declared one (``string``/``any`` → str,
  ``integer`` → int, ``float`` → float, ``boolean`` → bool, ``array``/``tuple`` → list,
  ``dict`` → dict), with an int accepted for a float; ``True`` is not an integer; a list's
  elements are checked one level down against its ``items`` type (no int → float there). When
  the possible answers are of another type than the declared one (BFCL writes some values as
  variables, e.g. a string for an integer), a value of the answers' type is accepted and then
  compared as is;
* **values** — strings compare after BFCL's normalisation (:func:`normalize_string`: spaces
  and ``,./-_*^`` removed, lower-cased, ``'`` → ``"``), also inside lists and one-level dicts;
  a dict must match one of the allowed dicts key by key (its optional keys may be left out);
  a list of dicts, one allowed list of dicts position by position; other values by equality;
* **parallel** — order-independent: each expected call in turn takes the first call not yet
  taken that matches it (BFCL's greedy assignment, not a maximum matching).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ragline.evaluate.compare import Interval

_PUNCT = re.compile(r"[ ,./\-_*^]")

#: BFCL's declared parameter types → the Python type a value must have.
PY_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}

_OPTIONAL = ""


@dataclass(frozen=True, slots=True)
class CallCheck:
    """The verdict on one case: ``valid`` and, when not, the ``kind`` of failure
    (``count``, ``name``, ``missing``, ``unexpected``, ``type``, ``value``, ``optional``,
    ``no_match``, ``call``) and a sentence saying what was wrong."""

    valid: bool
    kind: str = ""
    error: str = ""


_OK = CallCheck(True)


def normalize_string(text: str) -> str:
    """BFCL's string normalisation: so "April 1, 2024" equals "april 1 2024"."""
    return _PUNCT.sub("", text).lower().replace("'", '"')


def _norm(value: Any) -> Any:
    return normalize_string(value) if type(value) is str else value


def _answer_type(allowed: Sequence[Any]) -> type | None:
    """The type of the first allowed value that is not the optional marker."""
    for v in allowed:
        if not (type(v) is str and v == _OPTIONAL):
            return type(v)
    return None


def _element_ok(value: Any, expected: type, allowed: Sequence[Any]) -> bool:
    return type(value) is expected or type(value) is _answer_type(allowed)


def _type_ok(value: Any, expected: type, item_type: type | None, allowed: Sequence[Any]) -> bool:
    """Is ``value`` of the declared type (or of the possible answers' own type)?"""
    if type(value) is expected:
        if item_type is None:
            return True
        # One level down: some allowed value that is not a list (the optional marker) lets
        # any elements through; an allowed list, elements of the items type or of its own.
        for alt in allowed:
            if type(alt) is not list:
                return True
            if all(_element_ok(item, item_type, alt) for item in value):
                return True
        return False
    answers = _answer_type(allowed)
    return answers is not None and type(value) is answers


def _dict_matches(value: Mapping[str, Any], allowed_dict: Any) -> bool:
    if type(allowed_dict) is not dict:
        return False
    for key, v in value.items():
        if key not in allowed_dict:
            return False
        if _norm(v) not in [_norm(a) for a in allowed_dict[key]]:
            return False
    return all(key in value or _OPTIONAL in alts for key, alts in allowed_dict.items())


def _dict_ok(value: Mapping[str, Any], allowed: Sequence[Any]) -> bool:
    return any(_dict_matches(value, alt) for alt in allowed if alt != _OPTIONAL)


def _list_of_dicts_ok(value: Sequence[Any], allowed: Sequence[Any]) -> bool:
    for alt in allowed:
        if len(value) != len(alt):
            continue
        if all(_dict_matches(v, a) for v, a in zip(value, alt, strict=True)):
            return True
    return False


def _list_ok(value: Sequence[Any], allowed: Sequence[Any]) -> bool:
    mine = [_norm(v) for v in value]
    return any(mine == [_norm(a) for a in alt] for alt in allowed)


def _value_ok(
    value: Any, expected: type, item_type: type | None, allowed: Sequence[Any], as_is: bool
) -> bool:
    if not as_is:
        if expected is dict:
            return _dict_ok(value, allowed)
        if expected is list and item_type is dict:
            return _list_of_dicts_ok(value, allowed)
        if expected is str:
            return normalize_string(value) in [
                normalize_string(a) for a in allowed if type(a) is str
            ]
        if expected is list:
            return _list_ok(value, allowed)
    return value in allowed


def check_call(
    function: Mapping[str, Any], call: Mapping[str, Any], expected: Mapping[str, Any]
) -> CallCheck:
    """One call against one expected call (``{name: {param: [allowed values]}}``), with the
    function's BFCL document for the declared types and required parameters."""
    ((_, answer),) = expected.items()
    name = function["name"]
    if call.get("name") != name:
        return CallCheck(False, "name", f"called {call.get('name')!r}, expected {name!r}")
    arguments = call.get("arguments") or {}
    schema = function.get("parameters") or {}
    declared = schema.get("properties") or {}
    for param in schema.get("required") or []:
        if param not in arguments:
            return CallCheck(False, "missing", f"required parameter {param!r} missing")
    for param, value in arguments.items():
        if param not in declared or param not in answer:
            return CallCheck(False, "unexpected", f"unexpected parameter {param!r}")
        doc = declared[param]
        declared_type = doc["type"]
        expected_type = PY_TYPES[declared_type]
        item_type = None
        if declared_type in ("array", "tuple"):
            item_type = PY_TYPES[doc["items"]["type"]]
        if declared_type == "float" and type(value) is int:
            value = float(value)
        allowed = answer[param]
        if not _type_ok(value, expected_type, item_type, allowed):
            return CallCheck(
                False,
                "type",
                f"parameter {param!r}: {type(value).__name__} given, {declared_type} expected",
            )
        answers = _answer_type(allowed)
        as_is = answers is not None and answers is not expected_type
        if not _value_ok(value, expected_type, item_type, allowed, as_is):
            return CallCheck(False, "value", f"parameter {param!r}: {value!r} not in {allowed!r}")
    for param, allowed in answer.items():
        if param not in arguments and _OPTIONAL not in allowed:
            return CallCheck(False, "optional", f"parameter {param!r} missing")
    return _OK


def _find(functions: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    for fn in functions:
        if fn["name"] == name:
            return fn
    raise ValueError(f"the ground truth names {name!r}, which no function document defines")


def _well_formed(call: Any) -> bool:
    return (
        isinstance(call, Mapping)
        and isinstance(call.get("name"), str)
        and isinstance(call.get("arguments", {}), Mapping)
    )


def check_calls(
    category: str,
    functions: Sequence[Mapping[str, Any]],
    calls: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Mapping[str, Any]],
) -> CallCheck:
    """Would ``calls`` pass BFCL's AST check for a case of ``category``?

    ``functions`` are the case's BFCL documents (for declared types and required
    parameters), ``ground_truth`` its possible answer (``[]`` for ``irrelevance``)."""
    if category == "irrelevance" or "irrelevance" in category:
        if calls:
            return CallCheck(False, "call", f"{len(calls)} call(s) where no function fits")
        return _OK
    for call in calls:
        if not _well_formed(call):
            return CallCheck(False, "call", f"not a call: {call!r}")
    if len(calls) != len(ground_truth):
        return CallCheck(False, "count", f"{len(calls)} call(s), expected {len(ground_truth)}")
    if "parallel" not in category:
        (name,) = ground_truth[0]
        function = functions[0] if category == "simple" else _find(functions, name)
        return check_call(function, calls[0], ground_truth[0])
    taken: set[int] = set()
    for i, expected in enumerate(ground_truth):
        (name,) = expected
        function = _find(functions, name)
        last = CallCheck(False, "no_match", "")
        for j, call in enumerate(calls):
            if j in taken:
                continue
            last = check_call(function, call, expected)
            if last.valid:
                taken.add(j)
                break
        if not last.valid:
            why = f": {last.error}" if last.error else ""
            return CallCheck(False, "no_match", f"no call matches expected call {i}{why}")
    return _OK


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """A proportion with its Wilson score interval (well-behaved at 0 and 1, small n)."""
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    z = {0.9: 1.6448536, 0.95: 1.959964, 0.99: 2.5758293}.get(confidence)
    if z is None:
        from statistics import NormalDist

        z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n)
