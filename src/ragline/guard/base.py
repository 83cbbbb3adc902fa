"""The guard vocabulary: a flag, one guard's result, the pipeline's decision, the Protocol.

Every guard (built in or from the ``ragline.guards`` plugin group) implements :class:`Guard`:
``scan(text, direction=..., context=...) -> GuardResult``. A guard only *finds*; what happens
then (allow, warn, redact, block, handoff) is the pipeline's decision, from settings, so the
same guard serves a strict collection and a lenient one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

#: Where a text comes from: the user's message, the model's answer, or a document chunk.
GuardDirection = Literal["input", "output", "document"]


class Action(StrEnum):
    """What the pipeline does with a text a guard flagged (per guard, per collection)."""

    ALLOW = "allow"  # pass it on; the verdict is still traced
    WARN = "warn"  # pass it on, and tell the user/client (a typed event) and the trace
    REDACT = "redact"  # replace the flagged spans (placeholders) and pass the text on
    BLOCK = "block"  # refuse: a clear refusal naming the guard, never echoing the attack
    HANDOFF = "handoff"  # refuse for now and put the conversation in the human inbox


#: The strictest action wins when several guards flag one text.
ACTION_ORDER: dict[Action, int] = {
    Action.ALLOW: 0,
    Action.WARN: 1,
    Action.REDACT: 2,
    Action.BLOCK: 3,
    Action.HANDOFF: 4,
}


@dataclass(frozen=True, slots=True)
class Flag:
    """One finding of one guard in one text."""

    guard: str  # the guard's name: "pii", "injection", "topic", "toxicity", "leak", …
    label: str  # what it found: "PERSON", "EMAIL_ADDRESS", "jailbreak", "denied:weapons", …
    score: float  # 0..1, the guard's confidence
    start: int | None = None  # character span in the scanned text, for span findings
    end: int | None = None
    #: A short human explanation ("instruction-override phrase", "similar to denied topic
    #: 'medical advice' (0.71)"). Never the attack text itself.
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "guard": self.guard,
            "label": self.label,
            "score": round(float(self.score), 4),
            "start": self.start,
            "end": self.end,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class GuardResult:
    """What one guard found in one text, and how long it took."""

    guard: str
    flags: tuple[Flag, ...] = ()
    latency_ms: float = 0.0
    #: Set when the guard crashed (the pipeline fails closed for block/handoff policies).
    error: str | None = None

    @property
    def triggered(self) -> bool:
        return bool(self.flags) or self.error is not None

    @property
    def score(self) -> float:
        return max((f.score for f in self.flags), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "guard": self.guard,
            "score": round(self.score, 4),
            "latency_ms": round(self.latency_ms, 3),
            "error": self.error,
            "flags": [f.to_dict() for f in self.flags],
        }


@dataclass(frozen=True, slots=True)
class GuardContext:
    """What a guard may need beside the text (all optional)."""

    collection: str | None = None
    conversation_id: str | None = None
    #: The retrieved passages' texts (output PII: only PII the sources did not contain).
    sources: Sequence[str] = ()
    #: The system prompt as sent (output leak: similarity to it) and its canary token.
    system_prompt: str | None = None
    canary: str | None = None


@runtime_checkable
class Guard(Protocol):
    """A guard: finds one kind of problem in a text. Stateless per call and thread-safe."""

    #: Unique name; also the key of its action in settings (``guard.actions``).
    name: ClassVar[str]
    #: The directions it scans ("input", "output", "document").
    directions: ClassVar[frozenset[str]]

    def scan(
        self, text: str, *, direction: GuardDirection, context: GuardContext | None = None
    ) -> GuardResult: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """The pipeline's verdict on one text: the action taken and why."""

    action: Action
    #: The text to pass on (after redaction for REDACT; the original otherwise).
    text: str
    direction: GuardDirection
    results: tuple[GuardResult, ...] = ()
    #: The guard whose flag decided the action (None for ALLOW).
    decided_by: str | None = None
    #: A short reason for the user, naming the guard, never echoing the flagged text.
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    kind: ClassVar[str] = "guard"

    @property
    def flags(self) -> tuple[Flag, ...]:
        return tuple(f for r in self.results for f in r.flags)

    @property
    def refused(self) -> bool:
        return self.action in (Action.BLOCK, Action.HANDOFF)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "direction": self.direction,
            "decided_by": self.decided_by,
            "reason": self.reason,
            "flags": [f.to_dict() for f in self.flags],
            "guards": [r.to_dict() for r in self.results],
        }


@runtime_checkable
class HandoffSink(Protocol):
    """Where a conversation goes when a guard (or the router) hands it to a person.

    The answer flow calls :meth:`open` on a HANDOFF decision and tells the user the returned
    item id; the human handoff inbox (``ragline handoff``, the REST API, the web UI page)
    implements it on the store.
    """

    def open(
        self,
        *,
        question: str,
        decision: Decision,
        context: GuardContext,
        trace_id: str | None = None,
    ) -> str: ...
