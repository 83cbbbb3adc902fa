"""IFEval scoring: strict and loose, at prompt and instruction level.

*Strict* checks each instruction on the response as it is. *Loose* (an upper bound) counts an
instruction as followed if it holds for any of eight variants: the response, the response
without its first line, without its last line, without both (each stripped), and each of
those four with every ``*`` removed. Prompt-level accuracy is the share of prompts whose
instructions are all followed; instruction-level accuracy is the share of instructions.

::

    examples = load_examples("input_data.jsonl")
    report = evaluate(examples, responses)        # responses: list in order, or prompt -> text
    report.strict.prompt_accuracy, report.loose.instruction_accuracy
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ragline.errors import ConfigError, MalformedInputError
from ragline.evaluate.ifeval.checkers import check_instruction

Mode = Literal["strict", "loose"]


@dataclass(frozen=True, slots=True)
class IFEvalExample:
    """One IFEval prompt with its verifiable instructions and their arguments."""

    key: int | str
    prompt: str
    instruction_ids: tuple[str, ...]
    kwargs: tuple[dict[str, Any], ...]

    def __post_init__(self) -> None:
        if len(self.instruction_ids) != len(self.kwargs):
            raise ConfigError(
                f"example {self.key!r}: {len(self.instruction_ids)} instruction ids but "
                f"{len(self.kwargs)} kwargs",
                hint="give one kwargs dict per instruction id",
            )


@dataclass(frozen=True, slots=True)
class IFEvalOutcome:
    """What the checkers said about one response."""

    key: int | str
    prompt: str
    response: str
    instruction_ids: tuple[str, ...]
    strict: tuple[bool, ...]
    loose: tuple[bool, ...]

    @property
    def strict_all(self) -> bool:
        return all(self.strict)

    @property
    def loose_all(self) -> bool:
        return all(self.loose)


@dataclass(frozen=True, slots=True)
class IFEvalScores:
    """Accuracies (fractions in [0, 1]) for one mode."""

    mode: Mode
    prompt_accuracy: float
    instruction_accuracy: float
    prompts: int
    instructions: int
    #: instruction id -> accuracy over its occurrences
    per_instruction: dict[str, float] = field(default_factory=dict)
    #: category (the part of the id before ``:``) -> accuracy
    per_category: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IFEvalReport:
    """Strict and loose scores plus the per-response outcomes."""

    strict: IFEvalScores
    loose: IFEvalScores
    outcomes: tuple[IFEvalOutcome, ...]

    def to_dict(self) -> dict[str, Any]:
        def scores(s: IFEvalScores) -> dict[str, Any]:
            return {
                "prompt_accuracy": s.prompt_accuracy,
                "instruction_accuracy": s.instruction_accuracy,
                "per_instruction": s.per_instruction,
                "per_category": s.per_category,
            }

        return {
            "prompts": self.strict.prompts,
            "instructions": self.strict.instructions,
            "strict": scores(self.strict),
            "loose": scores(self.loose),
        }


def loose_variants(response: str) -> list[str]:
    """The eight texts the loose mode tries, the response itself first."""
    lines = response.split("\n")
    without_first = "\n".join(lines[1:]).strip()
    without_last = "\n".join(lines[:-1]).strip()
    without_both = "\n".join(lines[1:-1]).strip()
    base = [response, without_first, without_last, without_both]
    return [
        response,
        response.replace("*", ""),
        without_first,
        without_last,
        without_both,
        *(text.replace("*", "") for text in base[1:]),
    ]


def follows(
    instruction_id: str, response: str, kwargs: Mapping[str, Any] | None, mode: Mode = "strict"
) -> bool:
    """Whether ``response`` follows one instruction in ``mode``."""
    arguments = dict(kwargs or {})
    if mode == "strict":
        return check_instruction(instruction_id, response, arguments)
    if mode == "loose":
        return any(
            check_instruction(instruction_id, text, arguments) for text in loose_variants(response)
        )
    raise ConfigError(f"unknown IFEval mode {mode!r}", hint="use 'strict' or 'loose'")


def evaluate_response(example: IFEvalExample, response: str) -> IFEvalOutcome:
    """Check every instruction of ``example`` on ``response``, strictly and loosely."""
    strict = tuple(
        follows(i, response, kw, "strict")
        for i, kw in zip(example.instruction_ids, example.kwargs, strict=True)
    )
    loose = tuple(
        ok or follows(i, response, kw, "loose")
        for ok, i, kw in zip(strict, example.instruction_ids, example.kwargs, strict=True)
    )
    return IFEvalOutcome(
        key=example.key,
        prompt=example.prompt,
        response=response,
        instruction_ids=example.instruction_ids,
        strict=strict,
        loose=loose,
    )


def _scores(outcomes: Sequence[IFEvalOutcome], mode: Mode) -> IFEvalScores:
    per_id: dict[str, list[bool]] = defaultdict(list)
    per_cat: dict[str, list[bool]] = defaultdict(list)
    prompt_ok = 0
    for outcome in outcomes:
        flags = outcome.strict if mode == "strict" else outcome.loose
        prompt_ok += all(flags)
        for instruction_id, flag in zip(outcome.instruction_ids, flags, strict=True):
            per_id[instruction_id].append(flag)
            per_cat[instruction_id.split(":", 1)[0]].append(flag)
    n_instructions = sum(len(v) for v in per_id.values())
    followed = sum(sum(v) for v in per_id.values())
    return IFEvalScores(
        mode=mode,
        prompt_accuracy=prompt_ok / len(outcomes) if outcomes else 0.0,
        instruction_accuracy=followed / n_instructions if n_instructions else 0.0,
        prompts=len(outcomes),
        instructions=n_instructions,
        per_instruction={k: sum(v) / len(v) for k, v in sorted(per_id.items())},
        per_category={k: sum(v) / len(v) for k, v in sorted(per_cat.items())},
    )


def evaluate(
    examples: Sequence[IFEvalExample], responses: Sequence[str] | Mapping[str, str]
) -> IFEvalReport:
    """Score ``responses`` against ``examples``.

    ``responses`` is either a list parallel to ``examples`` or a mapping prompt -> response
    (as the reference implementation joins them). A prompt without a response is an error.
    """
    if isinstance(responses, Mapping):
        missing = [e.key for e in examples if e.prompt not in responses]
        if missing:
            raise ConfigError(
                f"no response for {len(missing)} prompt(s), e.g. key {missing[0]!r}",
                hint="pass responses as a list in the order of the examples",
            )
        texts = [responses[e.prompt] for e in examples]
    else:
        if len(responses) != len(examples):
            raise ConfigError(
                f"{len(responses)} responses for {len(examples)} examples",
                hint="give exactly one response per example, in order",
            )
        texts = list(responses)
    outcomes = tuple(evaluate_response(e, r) for e, r in zip(examples, texts, strict=True))
    return IFEvalReport(
        strict=_scores(outcomes, "strict"), loose=_scores(outcomes, "loose"), outcomes=outcomes
    )


def _read_jsonl(path: str | Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MalformedInputError(f"{path}:{number}", f"invalid JSON ({exc})") from exc
            if not isinstance(record, dict):
                raise MalformedInputError(f"{path}:{number}", "expected a JSON object")
            yield number, record


def load_examples(path: str | Path) -> list[IFEvalExample]:
    """Read IFEval's ``input_data.jsonl`` (``key, prompt, instruction_id_list, kwargs``)."""
    examples = []
    for number, record in _read_jsonl(path):
        try:
            examples.append(
                IFEvalExample(
                    key=record.get("key", number),
                    prompt=record["prompt"],
                    instruction_ids=tuple(record["instruction_id_list"]),
                    kwargs=tuple(dict(k or {}) for k in record["kwargs"]),
                )
            )
        except KeyError as exc:
            raise MalformedInputError(f"{path}:{number}", f"missing field {exc}") from exc
    return examples


def load_responses(path: str | Path) -> list[tuple[str, str]]:
    """Read a response file (``prompt, response`` per line) as ``(prompt, response)`` pairs."""
    pairs = []
    for number, record in _read_jsonl(path):
        try:
            pairs.append((str(record["prompt"]), str(record["response"])))
        except KeyError as exc:
            raise MalformedInputError(f"{path}:{number}", f"missing field {exc}") from exc
    return pairs


__all__ = [
    "IFEvalExample",
    "IFEvalOutcome",
    "IFEvalReport",
    "IFEvalScores",
    "Mode",
    "evaluate",
    "evaluate_response",
    "follows",
    "load_examples",
    "load_responses",
    "loose_variants",
]
