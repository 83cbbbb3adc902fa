"""One turn of the agent loop: the model's reply format, its prompt and its grammar.

The model replies :class:`AgentTurn`: ``{"actions": [steps…], "answer": ""}`` to run steps,
``{"actions": [], "answer": "…"}`` to answer. :func:`turn_messages` renders the prompt
(``agent_turn@v1``: the tools, this turn's rules, the task, the results so far) and
:func:`turn_schema` the JSON schema that llama.cpp turns into a grammar (OpenAI-compatible
servers get it as ``response_format``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ragline.agent.plan import PlanStep
from ragline.agent.state import RunState, output_text
from ragline.prompts.files import Prompt

#: Characters of one step's output shown to the model (the whole output is kept).
OUTPUT_CHARS = 700


class AgentTurn(BaseModel):
    """What the model replies each turn: steps to run (``actions``), or none and the answer.

    ``actions`` comes before ``answer`` in the grammar (first in the schema, and first in
    sorted order too), so the model plans first, and a turn with steps has an empty answer
    (the grammar's ``const ""``) instead of an answer guessed before any result."""

    model_config = ConfigDict(extra="ignore")

    actions: list[PlanStep] = Field(default_factory=list)
    answer: str = ""


TURN: TypeAdapter[AgentTurn] = TypeAdapter(AgentTurn)


def tool_lines(registry: Any, tools: list[str]) -> str:
    """One line per tool: name, description (and whether it needs approval), arguments."""
    lines = []
    for name in tools:
        tool = registry.get(name)
        schema = json.dumps(getattr(tool, "parameters", {}) or {}, separators=(",", ":"))
        note = " (needs a person's approval)" if getattr(tool, "side_effects", False) else ""
        lines.append(f"- {name}: {getattr(tool, 'description', '')}{note} Arguments: {schema}")
    return "\n".join(lines) or "(no tools)"


def turn_messages(
    prompt: Prompt,
    registry: Any,
    state: RunState,
    *,
    forbidden: Sequence[str],
    last: bool,
    max_plan: int,
) -> list[dict[str, str]]:
    """The turn's messages: the tools, the rules of this turn, the task and the results so
    far (each output cut to :data:`OUTPUT_CHARS`)."""
    rules = [
        'A step can use the output of an earlier step: write "${s1}" (or "${s1.key}") in '
        'an argument and put "s1" in its depends_on.'
    ]
    if forbidden:
        rules.append("Never use these tools: " + ", ".join(forbidden) + ".")
    if last or max_plan == 0:
        rules.append("This is the last turn: give no steps; write the answer from the results.")
    else:
        rules.append(f"Plan at most {max_plan} steps.")
    results = []
    seen: dict[str, str] = {}  # an output already shown -> the step that gave it
    for s in state.steps:
        if s.status == "ok":
            text = output_text(s.output, OUTPUT_CHARS)
            if text in seen:
                text = f"(the same as {seen[text]})"
            else:
                seen[text] = s.id
            results.append(f"{s.id} {s.tool} -> {text}")
        elif s.status in ("error", "timeout", "skipped", "rejected"):
            results.append(f"{s.id} {s.tool} FAILED: {s.error}")
    text = "Results so far:\n" + "\n".join(results) if results else "No steps have run yet."
    return prompt.render(
        tools=tool_lines(registry, state.tools),
        rules="\n".join(rules),
        task=state.task,
        results=text,
    )


def turn_schema(
    registry: Any, state: RunState, *, last: bool, max_plan: int, must_act: bool
) -> dict[str, Any]:
    """The grammar's JSON schema: an answer only (last turn), or steps whose items are
    one of the offered tools with that tool's own argument schema, fresh step ids
    (``s<n>``), each depending only on ids before it (so no cycle can be written)."""
    # no maxLength: llama.cpp unrolls it into a rule per character (a 1,200-character
    # bound crashed its grammar parser); max_tokens bounds a rambling string instead
    answer = {"type": "string"}
    only_answer = {
        "type": "object",
        "properties": {"actions": {"const": []}, "answer": answer},
        "required": ["actions", "answer"],
    }
    if last or max_plan == 0 or not state.tools:
        return only_answer
    first = len(state.steps) + 1
    ids = [f"s{i}" for i in range(first, first + max_plan)]
    known = sorted(state.outputs())

    def at(i: int) -> dict[str, Any]:
        """Step number ``i`` of the plan: any offered tool, id ``ids[i]``, depending
        only on known ids and the ids before it (no cycle, no duplicate can be
        written)."""
        earlier = [*known, *ids[:i]]
        depends: dict[str, Any] = (
            {"type": "array", "items": {"enum": earlier}, "maxItems": len(earlier)}
            if earlier
            else {"const": []}  # llama.cpp reads maxItems 0 as no bound
        )
        options = [
            {
                "type": "object",
                "properties": {
                    "id": {"const": ids[i]},
                    "tool": {"const": name},
                    "arguments": getattr(registry.get(name), "parameters", None)
                    or {"type": "object"},
                    "depends_on": depends,
                },
                "required": ["id", "tool", "arguments", "depends_on"],
            }
            for name in state.tools
        ]
        return options[0] if len(options) == 1 else {"anyOf": options}

    # one alternative per plan length: the steps' positions fix their ids
    lengths = [{"const": []}] + [
        {"type": "array", "prefixItems": [at(i) for i in range(n)], "items": False}
        for n in range(1, max_plan + 1)
    ]
    act = {
        "type": "object",
        "properties": {"actions": {"anyOf": lengths[1:]}, "answer": {"const": ""}},
        "required": ["actions", "answer"],
    }
    if must_act:
        return act
    return {"anyOf": [act, only_answer]}


__all__ = ["OUTPUT_CHARS", "TURN", "AgentTurn", "tool_lines", "turn_messages", "turn_schema"]
