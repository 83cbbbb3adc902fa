"""Plans are checked as a whole before any step runs: every kind of problem is found, a
valid plan (references included) passes, and references resolve to earlier outputs."""

from __future__ import annotations

import pytest

from ragline.agent.plan import Plan, PlanStep, order, resolve, validate_plan
from ragline.testing.agent_fakes import fault_tools


def _plan(*steps: dict) -> Plan:
    return Plan(steps=[PlanStep(**s) for s in steps])


@pytest.fixture(scope="module")
def registry():
    return fault_tools()


def kinds(problems) -> set[str]:
    return {p.kind for p in problems}


def test_a_valid_plan_with_references_passes(registry) -> None:
    plan = _plan(
        {"id": "s1", "tool": "add", "arguments": {"a": 1, "b": 2}},
        {"id": "s2", "tool": "add", "arguments": {"a": {"$ref": "s1", "path": "sum"}, "b": 3}},
        {"id": "s3", "tool": "echo", "arguments": {"text": "total ${s2.sum}"}, "depends_on": []},
    )
    assert validate_plan(plan, registry) == []
    assert order(plan) == [["s1"], ["s2"], ["s3"]]


@pytest.mark.parametrize(
    ("steps", "kind"),
    [
        ([{"id": "s1", "tool": "nope", "arguments": {}}], "unknown_tool"),
        ([{"id": "s1", "tool": "add", "arguments": {"a": "x", "b": 1}}], "bad_arguments"),
        ([{"id": "s1", "tool": "add", "arguments": {"a": 1}}], "bad_arguments"),
        ([{"id": "s1", "tool": "add", "arguments": {"a": 1, "b": 2, "c": 3}}], "bad_arguments"),
        (
            [{"id": "s1", "tool": "echo", "arguments": {"text": "x"}, "depends_on": ["s9"]}],
            "unknown_dependency",
        ),
        ([{"id": "s1", "tool": "echo", "arguments": {"text": "${s7}"}}], "unknown_dependency"),
        ([{"id": "s1", "tool": "echo", "arguments": {"text": "x"}, "depends_on": ["s1"]}], "cycle"),
        (
            [
                {"id": "a", "tool": "echo", "arguments": {"text": "${b}"}},
                {"id": "b", "tool": "echo", "arguments": {"text": "x"}, "depends_on": ["c"]},
                {"id": "c", "tool": "echo", "arguments": {"text": "x"}, "depends_on": ["a"]},
            ],
            "cycle",
        ),
        (
            [{"id": "s1", "tool": "send_email", "arguments": {"to": "a", "body": "b"}}],
            "forbidden_tool",
        ),
        (
            [
                {"id": "s1", "tool": "echo", "arguments": {"text": "x"}},
                {"id": "s1", "tool": "echo", "arguments": {"text": "y"}},
            ],
            "duplicate_id",
        ),
        ([{"id": "1 bad", "tool": "echo", "arguments": {"text": "x"}}], "bad_id"),
        (
            [{"id": f"s{i}", "tool": "echo", "arguments": {"text": "x"}} for i in range(5)],
            "too_many_steps",
        ),
    ],
)
def test_each_kind_of_problem_is_found(registry, steps, kind) -> None:
    problems = validate_plan(_plan(*steps), registry, forbidden={"send_email"}, max_steps=4)
    assert kind in kinds(problems), problems
    assert all(str(p) for p in problems)


def test_a_tool_outside_the_allowed_list_is_forbidden_not_unknown(registry) -> None:
    plan = _plan({"id": "s1", "tool": "add", "arguments": {"a": 1, "b": 2}})
    problems = validate_plan(plan, registry, allowed=["echo"])
    assert kinds(problems) == {"forbidden_tool"}
    assert "allowed: echo" in problems[0].message


def test_earlier_rounds_steps_are_known(registry) -> None:
    plan = _plan({"id": "s2", "tool": "echo", "arguments": {"text": "${s1.text}"}})
    assert kinds(validate_plan(plan, registry)) == {"unknown_dependency"}
    assert validate_plan(plan, registry, known={"s1"}) == []


def test_resolve_fills_references() -> None:
    outputs = {"s1": {"sum": 3.0, "items": [{"source": "a.md"}]}}
    args = {
        "a": {"$ref": "s1", "path": "sum"},
        "t": "got ${s1.sum} from ${s1.items.0.source}",
        "whole": "${s1}",
    }
    assert resolve(args, outputs) == {
        "a": 3.0,
        "t": "got 3.0 from a.md",
        "whole": outputs["s1"],
    }
    with pytest.raises(KeyError):
        resolve({"x": "${s2}"}, outputs)
    with pytest.raises(KeyError):
        resolve({"x": "${s1.nope}"}, outputs)
