"""ragline's BFCL matcher against ``bfcl_eval``'s own AST checker, on every case of simple,
multiple, parallel and irrelevance: the ground-truth calls and a dozen mutations of them
per case (wrong name, missing/extra/unknown parameter, wrong type, value outside the
possible answers, another allowed value, normalised strings, int for float, dropped,
duplicated and reordered parallel calls) must get the same verdict from both.

``bfcl_eval`` is installed with ``--no-deps`` (its data files and checker only). Its AST
checker module imports ``bfcl_eval.constants.model_config`` for one thing: whether a model's
API turns ``.`` in function names into ``_`` (``convert_func_name``). That module imports every
model handler (anthropic, cohere, google-genai, mistralai, boto3, qwen-agent, …), so the
test registers a one-entry stand-in for it in ``sys.modules`` while it imports the checker:
a model name whose calls keep BFCL's own names (ragline maps OpenAI-safe names back before
matching). Everything else is bfcl_eval's code as shipped.
"""

from __future__ import annotations

import copy
import importlib
import random
import sys
import types
from collections import Counter
from typing import Any

import pytest

from ragline.errors import ConfigError
from ragline.evaluate.bfcl import CATEGORIES, load_bfcl, openai_tools, split_cases
from ragline.evaluate.function_calls import check_calls, normalize_string, wilson_interval

MODEL = "ragline-local"


@pytest.fixture(scope="module")
def bfcl():
    """bfcl_eval's ast_checker and is_empty_output (the irrelevance rule)."""
    stand_in = types.ModuleType("bfcl_eval.constants.model_config")
    stand_in.MODEL_CONFIG_MAPPING = {MODEL: types.SimpleNamespace(underscore_to_dot=False)}
    saved = {k: v for k, v in sys.modules.items() if k.startswith("bfcl_eval")}
    sys.modules["bfcl_eval.constants.model_config"] = stand_in
    try:
        checker = importlib.import_module("bfcl_eval.eval_checker.ast_eval.ast_checker")
        enums = importlib.import_module("bfcl_eval.constants.enums")
        utils = importlib.import_module("bfcl_eval.utils")
        yield types.SimpleNamespace(
            ast_checker=checker.ast_checker,
            python=enums.Language.PYTHON,
            is_empty_output=utils.is_empty_output,
        )
    finally:
        for k in [k for k in sys.modules if k.startswith("bfcl_eval")]:
            del sys.modules[k]
        sys.modules.update(saved)


def _theirs(bfcl, category: str, functions, calls, truth) -> bool:
    decoded = [{c["name"]: c["arguments"]} for c in calls]
    if category == "irrelevance":
        return bfcl.is_empty_output(decoded)
    bfcl_category = "simple_python" if category == "simple" else category
    result = bfcl.ast_checker(
        list(functions), decoded, list(truth), bfcl.python, bfcl_category, MODEL
    )
    return bool(result["valid"])


# -- mutations ---------------------------------------------------------------------------------

_WRONG_TYPE = {
    str: lambda v: 12345,
    bool: lambda v: "true",
    int: lambda v: str(v),
    float: lambda v: f"{v}",
    list: lambda v: "[" + ", ".join(map(str, v)) + "]",
    dict: lambda v: str(v),
}


def _other_value(v: Any) -> Any:
    if type(v) is str:
        return v + " zzq unheard of"
    if type(v) is bool:
        return not v
    if type(v) is int:
        return v + 1013
    if type(v) is float:
        return v + 1013.5
    if type(v) is list:
        return [*v, v[0]] if v else ["zzq"]
    if type(v) is dict:
        return {**v, "zzq_key": 1}
    return "zzq"


def _first(alts: list[Any]) -> Any:
    values = [a for a in alts if a != ""]
    return copy.deepcopy(values[0]) if values else None


def _unwrap(value: Any, doc: dict[str, Any]) -> Any:
    """A dict parameter's possible answer is itself {key: [allowed values]}: pick one."""
    if doc.get("type") == "dict" and type(value) is dict:
        return {k: _first(v) for k, v in value.items() if _first(v) is not None}
    if doc.get("type") == "array" and doc.get("items", {}).get("type") == "dict":
        return [_unwrap(v, doc["items"]) for v in value]
    return value


def _truth_calls(case, keep_optional: bool) -> list[dict[str, Any]]:
    functions = {f["name"]: f for f in case.functions}
    calls = []
    for expected in case.ground_truth:
        ((name, params),) = expected.items()
        declared = functions[name]["parameters"].get("properties", {})
        args = {}
        for p, alts in params.items():
            value = _first(alts)
            if value is not None and (keep_optional or "" not in alts):
                args[p] = _unwrap(value, declared.get(p, {}))
        calls.append({"name": name, "arguments": args})
    return calls


def _mutations(case, rng: random.Random) -> list[tuple[str, list[dict[str, Any]]]]:
    """(label, calls) pairs: the truth, then changes that may or may not break it."""
    functions = {f["name"]: f for f in case.functions}
    base = _truth_calls(case, keep_optional=False)
    full = _truth_calls(case, keep_optional=True)
    out: list[tuple[str, list[dict[str, Any]]]] = [("truth", base), ("truth+optional", full)]

    def edit(label: str, k: int, change) -> None:
        calls = copy.deepcopy(full)
        change(calls[k])
        out.append((label, calls))

    targets = [0] if len(full) == 1 else [0, len(full) - 1]
    for k in targets:
        ((name, params),) = case.ground_truth[k].items()
        doc = functions[name]["parameters"]
        args = full[k]["arguments"]
        edit("wrong name", k, lambda c: c.update(name=c["name"] + "_x"))
        others = [n for n in functions if n != name]
        if others:
            edit("other function", k, lambda c, o=others[0]: c.update(name=o))
        edit("extra param", k, lambda c: c["arguments"].update(zzq_extra=1))
        undeclared = [p for p in doc.get("properties", {}) if p not in params]
        if undeclared:
            edit("param not in answer", k, lambda c, p=undeclared[0]: c["arguments"].update({p: 1}))
        for p in doc.get("required", []):
            edit(f"drop required {p}", k, lambda c, p=p: c["arguments"].pop(p, None))
        for p, alts in params.items():
            if p in args:
                edit(f"drop {p}", k, lambda c, p=p: c["arguments"].pop(p))
            for i, alt in enumerate(alts[1:4], 1):
                if alt == "":
                    edit(f"omit {p}", k, lambda c, p=p: c["arguments"].pop(p, None))
                else:
                    edit(f"alt {i} of {p}", k, lambda c, p=p, a=alt: c["arguments"].update({p: a}))
            if p not in args:
                continue
            v = args[p]
            maker = _WRONG_TYPE.get(type(v))
            if maker is not None:
                edit(
                    f"wrong type {p}",
                    k,
                    lambda c, p=p, m=maker: c["arguments"].update({p: m(c["arguments"][p])}),
                )
            edit(
                f"other value {p}",
                k,
                lambda c, p=p: c["arguments"].update({p: _other_value(c["arguments"][p])}),
            )
            if type(v) is str:
                noisy = v.upper().replace(" ", "  ") + "."
                edit(f"normalised {p}", k, lambda c, p=p, s=noisy: c["arguments"].update({p: s}))
            if type(v) is float and v.is_integer():
                edit(
                    f"int for float {p}", k, lambda c, p=p, x=int(v): c["arguments"].update({p: x})
                )
            if type(v) is int and not isinstance(v, bool):
                edit(
                    f"float for int {p}",
                    k,
                    lambda c, p=p, x=float(v): c["arguments"].update({p: x}),
                )
                edit(f"bool for int {p}", k, lambda c, p=p: c["arguments"].update({p: True}))
            if type(v) is list and v:
                edit(
                    f"elements as text {p}",
                    k,
                    lambda c, p=p: c["arguments"].update({p: [str(x) for x in c["arguments"][p]]}),
                )
                if all(type(x) is float and x.is_integer() for x in v):
                    edit(
                        f"int elements {p}",
                        k,
                        lambda c, p=p: c["arguments"].update(
                            {p: [int(x) for x in c["arguments"][p]]}
                        ),
                    )
                if any(type(x) is str for x in v):
                    edit(
                        f"upper elements {p}",
                        k,
                        lambda c, p=p: c["arguments"].update(
                            {p: [x.upper() if type(x) is str else x for x in c["arguments"][p]]}
                        ),
                    )
            if type(v) is dict and v:
                key = rng.choice(sorted(v))
                edit(f"dict drop {p}.{key}", k, lambda c, p=p, key=key: c["arguments"][p].pop(key))
                edit(
                    f"dict other {p}.{key}",
                    k,
                    lambda c, p=p, key=key: c["arguments"][p].update(
                        {key: _other_value(c["arguments"][p][key])}
                    ),
                )
            if type(v) is list and v and all(type(x) is dict for x in v):
                edit(f"list-dict drop {p}", k, lambda c, p=p: c["arguments"][p].pop())
                key = rng.choice(sorted(v[0])) if v[0] else None
                if key is not None:
                    edit(
                        f"list-dict other {p}",
                        k,
                        lambda c, p=p, key=key: c["arguments"][p][0].update(
                            {key: _other_value(c["arguments"][p][0][key])}
                        ),
                    )
    out.append(("no call", []))
    out.append(("twice", [*copy.deepcopy(full), *copy.deepcopy(full[:1])]))
    if len(full) > 1:
        out.append(("reversed", list(reversed(copy.deepcopy(full)))))
        out.append(("dropped last", copy.deepcopy(full[:-1])))
        shuffled = copy.deepcopy(full)
        rng.shuffle(shuffled)
        out.append(("shuffled", shuffled))
        swapped = copy.deepcopy(full)
        a, b = swapped[0]["arguments"], swapped[-1]["arguments"]
        shared = sorted(set(a) & set(b))
        if shared:
            p = rng.choice(shared)
            a[p], b[p] = b[p], a[p]
            out.append((f"swapped {p}", swapped))
    return out


def _irrelevance_mutations(case) -> list[tuple[str, list[dict[str, Any]]]]:
    fn = case.functions[0]
    required = fn["parameters"].get("required", [])
    return [
        ("no call", []),
        ("a call", [{"name": fn["name"], "arguments": {p: 1 for p in required}}]),
        ("empty call", [{"name": fn["name"], "arguments": {}}]),
    ]


# -- the agreement test --------------------------------------------------------------------


def test_matcher_agrees_with_bfcl_eval_on_every_case(bfcl):
    rng = random.Random(17)
    disagreements: list[str] = []
    verdicts: Counter[tuple[str, bool]] = Counter()
    truth_valid: Counter[str] = Counter()
    cases_seen = Counter()
    for category in CATEGORIES:
        for case in load_bfcl(category):
            cases_seen[category] += 1
            variants = (
                _irrelevance_mutations(case) if category == "irrelevance" else _mutations(case, rng)
            )
            for label, calls in variants:
                theirs = _theirs(bfcl, category, case.functions, calls, case.ground_truth)
                mine = check_calls(category, case.functions, calls, case.ground_truth)
                verdicts[(category, mine.valid)] += 1
                if label == "truth" and mine.valid:
                    truth_valid[category] += 1
                if mine.valid != theirs:
                    why = f"ours={mine.valid} ({mine.error}) bfcl={theirs}"
                    disagreements.append(f"{case.id} [{label}] {why}: {calls}")
    assert cases_seen == {"simple": 400, "multiple": 200, "parallel": 200, "irrelevance": 240}
    assert not disagreements, f"{len(disagreements)} disagreements:\n" + "\n".join(
        disagreements[:25]
    )
    # The comparison can fail: both verdicts occur in bulk in every category.
    for category in CATEGORIES:
        assert verdicts[(category, True)] >= cases_seen[category]
        assert verdicts[(category, False)] >= 2 * cases_seen[category]
    # The ground truth passes, but for 3 of 800 cases (simple_python_17, simple_python_200,
    # parallel_88) whose answers allow leaving out a parameter that the function requires.
    for category in ("simple", "multiple", "parallel"):
        assert truth_valid[category] >= 0.99 * cases_seen[category], truth_valid


# -- the matcher's own rules, on small hand-made cases ---------------------------------------

_DOC = {
    "name": "weather.get",
    "description": "d",
    "parameters": {
        "type": "dict",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "scale": {"type": "float"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "unit": {"type": "string"},
        },
        "required": ["city"],
    },
}
_TRUTH = [
    {
        "weather.get": {
            "city": ["New York, NY", "NYC"],
            "days": [3],
            "scale": [2.0],
            "tags": [["a b", "c"]],
            "unit": ["celsius", ""],
        }
    }
]


def _call(**args):
    base = {"city": "new york ny", "days": 3, "scale": 2, "tags": ["A-B", "c"]}
    base.update(args)
    return [{"name": "weather.get", "arguments": {k: v for k, v in base.items() if v is not None}}]


@pytest.mark.parametrize(
    ("calls", "valid", "kind"),
    [
        (_call(), True, ""),
        (_call(unit="Celsius"), True, ""),
        (_call(city="NYC."), True, ""),
        (_call(city="Boston"), False, "value"),
        (_call(days=True), False, "type"),
        (_call(days=3.0), False, "type"),
        (_call(scale="2"), False, "type"),
        (_call(tags=["a b"]), False, "value"),
        (_call(days=None), False, "optional"),
        (_call(city=None), False, "missing"),
        (_call(wind=1), False, "unexpected"),
        ([], False, "count"),
        ([{"name": "weather_get", "arguments": {}}], False, "name"),
    ],
)
def test_matcher_rules(calls, valid, kind):
    verdict = check_calls("simple", [_DOC], calls, _TRUTH)
    assert (verdict.valid, verdict.kind) == (valid, kind), verdict.error


def test_parallel_is_order_independent_and_counts():
    truth = [
        {"weather.get": {"city": ["Paris"], "days": [1]}},
        {"weather.get": {"city": ["Lyon"], "days": [2]}},
    ]
    paris = {"name": "weather.get", "arguments": {"city": "Paris", "days": 1}}
    lyon = {"name": "weather.get", "arguments": {"city": "Lyon", "days": 2}}
    assert check_calls("parallel", [_DOC], [lyon, paris], truth).valid
    assert check_calls("parallel", [_DOC], [paris, paris], truth).kind == "no_match"
    assert check_calls("parallel", [_DOC], [paris], truth).kind == "count"


def test_irrelevance_is_no_call():
    assert check_calls("irrelevance", [_DOC], [], []).valid
    assert check_calls("irrelevance", [_DOC], _call(), []).kind == "call"


def test_normalize_string_is_bfcls():
    assert normalize_string("April 1, 2024") == normalize_string("april 1 2024")
    assert normalize_string("it's") == 'it"s'


def test_loader_and_openai_tools():
    cases = load_bfcl("multiple")
    assert len(cases) == 200 and all(c.ground_truth for c in cases)
    tools, names = openai_tools(cases[0].functions)
    fn = tools[0]["function"]
    assert fn["name"] == "triangle_properties_get"
    assert names["triangle_properties_get"] == "triangle_properties.get"
    assert fn["parameters"]["type"] == "object"
    assert fn["parameters"]["properties"]["side1"]["type"] == "integer"
    # float → number, dict → object, tuple → array, any → no type at all
    tools, _ = openai_tools(
        [
            {
                "name": "f",
                "parameters": {
                    "type": "dict",
                    "properties": {
                        "x": {"type": "float"},
                        "t": {"type": "tuple", "items": {"type": "integer"}},
                        "d": {"type": "dict", "properties": {"k": {"type": "any"}}},
                    },
                },
            }
        ]
    )
    props = tools[0]["function"]["parameters"]["properties"]
    assert props["x"] == {"type": "number"}
    assert props["t"] == {"type": "array", "items": {"type": "integer"}}
    assert props["d"] == {"type": "object", "properties": {"k": {}}}
    with pytest.raises(ConfigError, match="unknown BFCL category"):
        load_bfcl("live_simple")
    held, rest = split_cases(load_bfcl("irrelevance"), seed=1, holdout=10)
    assert len(held) == 10 and len(rest) == 230 and not {c.id for c in held} & {c.id for c in rest}
    assert [c.id for c in rest] == [c.id for c in split_cases(load_bfcl("irrelevance"), 1, 10)[1]]
    assert [c.id for c in rest] != [c.id for c in split_cases(load_bfcl("irrelevance"), 2, 10)[1]]


def test_wilson_interval():
    iv = wilson_interval(20, 25)
    assert iv.mean == 0.8 and 0.6 < iv.low < 0.8 < iv.high < 0.95
    assert wilson_interval(25, 25).high == 1.0 and wilson_interval(25, 25).low > 0.8
