"""Plans: the steps an agent means to run, and the check that runs before any of them.

A :class:`Plan` is a list of :class:`PlanStep`: an ``id``, the ``tool`` to call, its
``arguments`` and the steps it ``depends_on``. An argument may use an earlier step's output:

* ``{"$ref": "s1"}`` as a whole value: step ``s1``'s output, as it is (any JSON value);
  ``{"$ref": "s1", "path": "0.source"}`` walks into it (keys, list indexes);
* ``"${s1}"`` or ``"${s1.0.text}"`` inside a string: the output (or the part the dotted path
  names) as text; a string that is exactly one reference takes the value as it is.

A reference is a dependency too (it need not be repeated in ``depends_on``).

:func:`validate_plan` checks a whole plan before anything runs and returns every
:class:`PlanProblem` (an empty list: the plan may run): a duplicate or malformed step id, an
unknown tool, a forbidden tool, arguments that do not validate against the tool's schema (a
referenced value stands in as a value of the parameter's type), a dependency or reference to
no step, a cycle, too many steps. The problems are written for the model: the agent loop
sends them back with the plan and asks again (``agent.plan_reasks`` times).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

#: A step id: a letter, then letters, digits, ``_`` or ``-`` (at most 32 characters).
STEP_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
#: ``${s1}`` / ``${s1.0.text}`` inside a string argument.
STRING_REF = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_-]{0,31})((?:\.[A-Za-z0-9_-]+)*)\}")

ProblemKind = Literal[
    "bad_id",
    "duplicate_id",
    "unknown_tool",
    "forbidden_tool",
    "bad_arguments",
    "unknown_dependency",
    "cycle",
    "too_many_steps",
    "empty_plan",
]
PROBLEM_KINDS: tuple[ProblemKind, ...] = (
    "bad_id",
    "duplicate_id",
    "unknown_tool",
    "forbidden_tool",
    "bad_arguments",
    "unknown_dependency",
    "cycle",
    "too_many_steps",
    "empty_plan",
)


class PlanStep(BaseModel):
    """One step: call ``tool`` with ``arguments`` once the steps of ``depends_on`` are done."""

    model_config = ConfigDict(extra="forbid")

    id: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)


class Plan(BaseModel):
    """The steps of one planning round (an empty list: the task needs no tool)."""

    model_config = ConfigDict(extra="forbid")

    steps: list[PlanStep] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PlanProblem:
    """One thing wrong with a plan: its kind, the step (None: the whole plan), a message."""

    kind: ProblemKind
    message: str
    step: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "step": self.step, "message": self.message}

    def __str__(self) -> str:
        return f"step {self.step}: {self.message}" if self.step else self.message


class ToolCatalog(Protocol):
    """What the check needs of a tool registry (``ragline.agent.tools.ToolRegistry``)."""

    def names(self) -> list[str]: ...

    def validate(self, name: str, arguments: Mapping[str, Any]) -> Any: ...


# --------------------------------------------------------------------------- references


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to a step's output, and the dotted path into it ('' = the whole)."""

    step: str
    path: str = ""


def _ref_of(value: Any) -> Ref | None:
    """The reference a whole argument value is (``{"$ref": ...}`` or ``"${...}"``), if any."""
    if isinstance(value, Mapping) and "$ref" in value and set(value) <= {"$ref", "path"}:
        target = value["$ref"]
        path = value.get("path", "")
        if isinstance(target, str) and isinstance(path, str | int):
            return Ref(target, str(path))
    if isinstance(value, str):
        match = STRING_REF.fullmatch(value.strip())
        if match is not None:
            return Ref(match[1], match[2].lstrip("."))
    return None


def references(value: Any) -> list[Ref]:
    """Every reference inside an argument value (nested lists and objects included)."""
    whole = _ref_of(value)
    if whole is not None:
        return [whole]
    if isinstance(value, str):
        return [Ref(m[1], m[2].lstrip(".")) for m in STRING_REF.finditer(value)]
    if isinstance(value, Mapping):
        return [r for v in value.values() for r in references(v)]
    if isinstance(value, list | tuple):
        return [r for v in value for r in references(v)]
    return []


def step_references(step: PlanStep) -> list[str]:
    """The step ids a step's arguments refer to, in order, once each."""
    return list(dict.fromkeys(r.step for r in references(step.arguments)))


def dependencies(step: PlanStep) -> list[str]:
    """``depends_on`` and the referenced steps, once each."""
    return list(dict.fromkeys([*step.depends_on, *step_references(step)]))


def walk(value: Any, path: str) -> Any:
    """The part of ``value`` a dotted path names (``0.source``); KeyError when it is not there."""
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, Mapping):
            if part not in value:
                raise KeyError(f"no key {part!r} (keys: {', '.join(map(str, value))})")
            value = value[part]
        elif isinstance(value, list | tuple):
            if not part.lstrip("-").isdigit() or not -len(value) <= int(part) < len(value):
                raise KeyError(f"no index {part!r} in a list of {len(value)}")
            value = value[int(part)]
        else:
            raise KeyError(f"cannot look up {part!r} in a {type(value).__name__}")
    return value


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def resolve(value: Any, outputs: Mapping[str, Any]) -> Any:
    """``value`` with every reference replaced by the output it names (KeyError: a reference
    to a step without an output, or a path that is not in it)."""
    whole = _ref_of(value)
    if whole is not None:
        if whole.step not in outputs:
            raise KeyError(f"step {whole.step!r} has no output")
        return walk(outputs[whole.step], whole.path)
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            if match[1] not in outputs:
                raise KeyError(f"step {match[1]!r} has no output")
            return _as_text(walk(outputs[match[1]], match[2].lstrip(".")))

        return STRING_REF.sub(sub, value)
    if isinstance(value, Mapping):
        return {k: resolve(v, outputs) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, outputs) for v in value]
    return value


# --------------------------------------------------------------------------- the check


def _placeholder(schema: Mapping[str, Any] | None) -> Any:
    """A value of the type a parameter's schema asks for: stands in for a referenced value."""
    kind = (schema or {}).get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if (schema or {}).get("enum"):
        return (schema or {})["enum"][0]
    return {
        "string": "…",
        "integer": 0,
        "number": 0,
        "boolean": False,
        "array": [],
        "object": {},
        "null": None,
    }.get(str(kind), "…")


def _stand_ins(arguments: Mapping[str, Any], schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """The arguments with every whole-value reference replaced by a placeholder (a string
    with ``${…}`` in it is a string already)."""
    props = (schema or {}).get("properties") or {}
    return {
        k: _placeholder(props.get(k)) if _ref_of(v) is not None else v for k, v in arguments.items()
    }


def _schema_of(registry: Any, name: str) -> Mapping[str, Any] | None:
    get = getattr(registry, "get", None)
    try:
        tool = get(name) if callable(get) else None
    except Exception:  # an unknown name: reported as unknown_tool, not here
        return None
    return getattr(tool, "parameters", None)


def _error_text(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return " ".join(str(text).split())[:400]


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle of a dependency graph (step -> its dependencies), as a path, or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in graph.get(node, ()):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def validate_plan(
    plan: Plan,
    registry: ToolCatalog,
    *,
    forbidden: Collection[str] = (),
    allowed: Collection[str] | None = None,
    max_steps: int | None = None,
    known: Collection[str] = (),
    require_steps: bool = False,
) -> list[PlanProblem]:
    """Every problem of ``plan`` (an empty list: it may run).

    ``forbidden`` tools may not be used (a registered tool named there is ``forbidden_tool``,
    as is one outside ``allowed`` when a list is given); ``max_steps`` bounds the number of
    steps; ``known`` are ids of steps done in an earlier round, which steps may depend on and
    refer to; ``require_steps`` makes an empty plan a problem.
    """
    problems: list[PlanProblem] = []
    names = set(registry.names())
    if require_steps and not plan.steps:
        problems.append(PlanProblem("empty_plan", "the plan has no steps; add at least one"))
    if max_steps is not None and len(plan.steps) > max_steps:
        problems.append(
            PlanProblem(
                "too_many_steps",
                f"the plan has {len(plan.steps)} steps; at most {max_steps} may run",
            )
        )
    seen: set[str] = set()
    for step in plan.steps:
        if not STEP_ID.match(step.id):
            problems.append(
                PlanProblem(
                    "bad_id",
                    f"id {step.id!r} is not a step id (a letter, then letters, digits, _ or -)",
                    step.id,
                )
            )
        if step.id in seen:
            problems.append(
                PlanProblem("duplicate_id", f"id {step.id!r} is used by two steps", step.id)
            )
        seen.add(step.id)
    ids = {s.id for s in plan.steps}
    for step in plan.steps:
        if step.tool in forbidden or (
            allowed is not None and step.tool in names and step.tool not in allowed
        ):
            problems.append(
                PlanProblem(
                    "forbidden_tool",
                    f"tool {step.tool!r} may not be used in this run"
                    + (f" (allowed: {', '.join(sorted(allowed))})" if allowed is not None else ""),
                    step.id,
                )
            )
        elif step.tool not in names:
            usable = sorted(
                n for n in names if n not in forbidden and (allowed is None or n in allowed)
            )
            problems.append(
                PlanProblem(
                    "unknown_tool",
                    f"there is no tool {step.tool!r} (tools: {', '.join(usable) or 'none'})",
                    step.id,
                )
            )
        else:
            try:
                registry.validate(
                    step.tool, _stand_ins(step.arguments, _schema_of(registry, step.tool))
                )
            except Exception as exc:  # the registry's own validation error, for the model
                problems.append(
                    PlanProblem(
                        "bad_arguments",
                        f"arguments of {step.tool!r} do not validate: {_error_text(exc)}",
                        step.id,
                    )
                )
        for dep in dependencies(step):
            if dep == step.id:
                problems.append(
                    PlanProblem("cycle", f"step {step.id!r} depends on itself", step.id)
                )
            elif dep not in ids and dep not in known:
                problems.append(
                    PlanProblem(
                        "unknown_dependency",
                        f"depends on or refers to {dep!r}, which is no step of the plan"
                        + (f" (earlier steps: {', '.join(sorted(known))})" if known else ""),
                        step.id,
                    )
                )
    graph = {s.id: [d for d in dependencies(s) if d != s.id] for s in plan.steps}
    cycle = find_cycle(graph)
    if cycle is not None:
        problems.append(
            PlanProblem("cycle", "the steps depend on each other in a cycle: " + " -> ".join(cycle))
        )
    return problems


def problems_text(problems: Iterable[PlanProblem]) -> str:
    """The problems as lines for the model (and a person)."""
    return "\n".join(f"- {p}" for p in problems)


def order(plan: Plan) -> list[list[str]]:
    """The steps in waves: each wave's steps depend only on earlier waves (a valid plan)."""
    deps = {s.id: set(dependencies(s)) & {t.id for t in plan.steps} for s in plan.steps}
    done: set[str] = set()
    waves: list[list[str]] = []
    while len(done) < len(deps):
        wave = [i for i, d in deps.items() if i not in done and d <= done]
        if not wave:
            raise ValueError("the plan has a cycle")
        waves.append(wave)
        done.update(wave)
    return waves


__all__ = [
    "PROBLEM_KINDS",
    "STEP_ID",
    "STRING_REF",
    "Plan",
    "PlanProblem",
    "PlanStep",
    "ProblemKind",
    "Ref",
    "ToolCatalog",
    "dependencies",
    "find_cycle",
    "order",
    "problems_text",
    "references",
    "resolve",
    "step_references",
    "validate_plan",
    "walk",
]
