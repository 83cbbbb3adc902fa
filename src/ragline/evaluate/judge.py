"""AI as judge: pointwise (a 1–5 rubric), reference-based and pairwise verdicts from any model.

A :class:`Judge` is a gateway model plus a versioned prompt file (:mod:`ragline.prompts`).
It never raises on a bad verdict: the reply is parsed tolerantly (JSON, repaired near-JSON,
then patterns such as ``Rating: 4``, ``[[4]]``, ``4/5``, ``[[A]]``, ``Answer B is better``),
and a reply that still says nothing usable — or a model call that failed — becomes a
:class:`Verdict` with ``value=None`` that the report counts as unparsed.

Pairwise judging shows both orders (A=left then A=right). The two verdicts agree
(position-consistent) or the pair counts as a tie. How a judge behaved over a run —
consistency, position and length bias, variance, agreement with humans — is in
:mod:`ragline.evaluate.judge_stats`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from ragline.errors import ModelError
from ragline.evaluate.ranking import Winner
from ragline.models.chat import ChatResult
from ragline.models.structured import repair_json
from ragline.prompts import Prompt

#: One model call: ``(messages, **sampling overrides) -> ChatResult``.
CallFn = Callable[..., ChatResult]
Preference = Literal["A", "B", "tie"]
_RAW_KEEP = 600  # characters of a raw reply kept in the details


class RatingSchema(BaseModel):
    """What a pointwise judge is asked for (the keys sort in this order for grammars)."""

    rating: Literal[1, 2, 3, 4, 5]
    reason: str = Field("", max_length=300)


class PreferenceSchema(BaseModel):
    """What a pairwise judge is asked for."""

    better: Literal["A", "B", "tie"]
    reason: str = Field("", max_length=300)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One judge reply: the rating (1–5) or preference (A/B/tie), or None when unusable."""

    value: int | str | None
    raw: str = ""
    reason: str = ""
    #: parsed from something other than clean JSON
    repaired: bool = False
    #: the model call itself failed (the message)
    error: str | None = None
    tokens: int = 0
    cost: float | None = None

    @property
    def parsed(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["raw"] = self.raw[:_RAW_KEEP]
        return out


# --------------------------------------------------------------------------- parsing

_RATING_KEYS = ("rating", "score", "grade", "verdict", "mark")
_PREF_KEYS = ("better", "winner", "verdict", "choice", "preferred", "preference", "answer")
_REASON_KEYS = ("reason", "explanation", "rationale", "justification", "comment")
_RATING_PATTERNS = [
    re.compile(r"\[\[\s*([1-5])(?:\.0)?\s*\]\]"),
    re.compile(
        r"\b(?:rating|score|grade)\b[\s\"'*:=]*(?:is|of)?[\s\"'*:=]*([1-5])(?:\.0)?(?!\d)",
        re.IGNORECASE,
    ),
    re.compile(r"(?<![\d.])([1-5])(?:\.0)?\s*(?:/|out of)\s*5\b", re.IGNORECASE),
]
_PREF_PATTERNS = [
    (re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE), None),
    (
        re.compile(
            r"\b(?:better|winner|verdict|choice|preferred|prefer)\b[\s\"'*:=]*(?:is|answer)?"
            r"[\s\"'*:=]*(?:answer\s*)?\(?\b((?-i:A|B)|tie)\b\)?",
            re.IGNORECASE,
        ),
        None,
    ),
    (
        re.compile(
            r"\b(?i:answer)\s*\(?\b(A|B)\b\)?\s+(?i:is)\s+(?i:better|superior|preferred|the better)"
        ),
        None,
    ),
    (re.compile(r"\b(?:it'?s a |a )?(tie|draw)\b", re.IGNORECASE), "tie"),
]


def _json_object(text: str) -> tuple[dict[str, Any] | None, bool]:
    """The reply as a JSON object: ``(obj, repaired)``, or ``(None, True)``."""
    stripped = text.strip()
    try:
        obj = json.loads(stripped)
        if isinstance(obj, dict):
            return obj, False
    except (json.JSONDecodeError, ValueError):
        pass
    try:
        obj = json.loads(repair_json(text))
    except (json.JSONDecodeError, ValueError):
        return None, True
    return (obj, True) if isinstance(obj, dict) else (None, True)


def _lookup(obj: dict[str, Any], keys: Sequence[str]) -> Any:
    lowered = {str(k).lower(): v for k, v in obj.items()}
    for key in keys:
        if key in lowered:
            return lowered[key]
    return None


def as_rating(value: Any) -> int | None:
    """An integer rating 1–5 from a number or a string such as ``"4"`` or ``"4/5"``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value) and float(value).is_integer():
        return int(value) if 1 <= value <= 5 else None
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([1-5])(?:\.0)?\s*(?:/\s*5)?\s*", value)
        return int(m.group(1)) if m else None
    return None


def _as_preference(value: Any) -> Preference | None:
    if not isinstance(value, str):
        return None
    v = re.sub(r"[^a-z0-9 ]", "", value.strip().lower())
    v = re.sub(r"^(answer|response|output|assistant)\s*", "", v).strip()
    if v in ("a", "1", "first"):
        return "A"
    if v in ("b", "2", "second"):
        return "B"
    if v in ("tie", "c", "draw", "equal", "both", "same", "neither", "none"):
        return "tie"
    return None


def _reason(obj: dict[str, Any] | None) -> str:
    value = _lookup(obj, _REASON_KEYS) if obj else None
    return str(value)[:300] if value is not None else ""


def parse_rating(text: str) -> Verdict:
    """A 1–5 rating from a judge reply, as tolerantly as possible (never raises)."""
    obj, repaired = _json_object(text)
    if obj is not None:
        rating = as_rating(_lookup(obj, _RATING_KEYS))
        if rating is not None:
            return Verdict(rating, raw=text, reason=_reason(obj), repaired=repaired)
    for pattern in _RATING_PATTERNS:
        m = pattern.search(text)
        if m:
            return Verdict(int(m.group(1)), raw=text, reason=_reason(obj), repaired=True)
    lone = as_rating(text.strip().strip(".*\"'"))
    return Verdict(lone, raw=text, repaired=True)


def parse_preference(text: str) -> Verdict:
    """``"A"``, ``"B"`` or ``"tie"`` from a pairwise judge reply (never raises)."""
    obj, repaired = _json_object(text)
    if obj is not None:
        pref = _as_preference(_lookup(obj, _PREF_KEYS))
        if pref is not None:
            return Verdict(pref, raw=text, reason=_reason(obj), repaired=repaired)
    for pattern, fixed in _PREF_PATTERNS:
        m = pattern.search(text)
        if m:
            pref = fixed or _as_preference(m.group(1))
            if m.group(1).upper() == "C":
                pref = "tie"
            if pref is not None:
                return Verdict(pref, raw=text, reason=_reason(obj), repaired=True)
    return Verdict(_as_preference(text.strip().strip(".*\"'")), raw=text, repaired=True)


# --------------------------------------------------------------------------- judging


@dataclass(frozen=True, slots=True)
class PairVerdict:
    """A pair judged in both orders: ``first`` shows left as A, ``second`` shows right as A."""

    left: str
    right: str
    first: Verdict
    second: Verdict
    left_length: int
    right_length: int
    repeat: int = 0

    @property
    def first_winner(self) -> Winner | None:
        return {"A": "left", "B": "right", "tie": "tie"}.get(str(self.first.value))  # type: ignore[return-value]

    @property
    def second_winner(self) -> Winner | None:
        return {"A": "right", "B": "left", "tie": "tie"}.get(str(self.second.value))  # type: ignore[return-value]

    @property
    def consistent(self) -> bool | None:
        """Both orders give the same winner (None when either is unparsed)."""
        if self.first_winner is None or self.second_winner is None:
            return None
        return self.first_winner == self.second_winner

    @property
    def winner(self) -> Winner | None:
        """The final verdict: the agreed winner, a tie when the orders disagree."""
        if self.consistent is None:
            return None
        return self.first_winner if self.consistent else "tie"

    def to_dict(self) -> dict[str, Any]:
        return {
            "left": self.left,
            "right": self.right,
            "repeat": self.repeat,
            "left_length": self.left_length,
            "right_length": self.right_length,
            "first": self.first.to_dict(),
            "second": self.second.to_dict(),
            "winner": self.winner,
            "consistent": self.consistent,
        }


class Judge:
    """A model plus a prompt that rates one answer or compares two.

    ``call(messages, **overrides)`` is one model call (``functools.partial(gateway.generate,
    model=...)`` or a ``ChatModel.generate``). ``constrained`` sends the verdict's JSON
    schema for constrained decoding; parsing stays tolerant either way.
    """

    def __init__(
        self,
        call: CallFn,
        template: Prompt,
        *,
        temperature: float,
        max_tokens: int,
        constrained: bool = True,
    ) -> None:
        self.call = call
        self.template = template
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.constrained = constrained

    @property
    def prompt_version(self) -> str:
        """The prompt's name, version and hash (``judge_pointwise@v1 sha256:…``)."""
        return self.template.stamp

    def _ask(
        self, schema: type[BaseModel], parse: Callable[[str], Verdict], **values: Any
    ) -> Verdict:
        messages = self.template.render(**values)
        overrides: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.constrained:
            overrides["json_schema"] = schema.model_json_schema()
        try:
            result = self.call(messages, **overrides)
        except ModelError as exc:
            return Verdict(None, error=f"{type(exc).__name__}: {exc.message}")
        verdict = parse(result.text)
        return Verdict(
            verdict.value,
            raw=verdict.raw,
            reason=verdict.reason,
            repaired=verdict.repaired,
            tokens=result.usage.total_tokens,
            cost=result.cost,
        )

    def rate(self, question: str, answer: str, reference: str | None = None) -> Verdict:
        """A 1–5 rating of ``answer`` (against ``reference`` when the prompt asks for one)."""
        values: dict[str, Any] = {"question": question, "answer": answer}
        if reference is not None:
            values["reference"] = reference
        return self._ask(RatingSchema, parse_rating, **values)

    def compare(
        self,
        question: str,
        left: tuple[str, str],
        right: tuple[str, str],
        *,
        repeat: int = 0,
    ) -> PairVerdict:
        """Judge ``(name, answer)`` pairs in both orders."""
        first = self._ask(
            PreferenceSchema,
            parse_preference,
            question=question,
            answer_a=left[1],
            answer_b=right[1],
        )
        second = self._ask(
            PreferenceSchema,
            parse_preference,
            question=question,
            answer_a=right[1],
            answer_b=left[1],
        )
        return PairVerdict(
            left=left[0],
            right=right[0],
            first=first,
            second=second,
            left_length=len(left[1]),
            right_length=len(right[1]),
            repeat=repeat,
        )


__all__ = [
    "CallFn",
    "Judge",
    "PairVerdict",
    "Preference",
    "PreferenceSchema",
    "RatingSchema",
    "Verdict",
    "Winner",
    "as_rating",
    "parse_preference",
    "parse_rating",
]
