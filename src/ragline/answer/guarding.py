"""The guards in the answer flow: the question before retrieval, each sentence of the answer
before it reaches the user, spotlighted passages and the canary in the prompt.

:class:`AnswerGuards` wraps the process's :class:`~ragline.guard.pipeline.GuardPipeline` for
:class:`~ragline.answer.flow.Answerer`:

* **input** (:meth:`AnswerGuards.check_input`): the question is checked before anything else;
  the decision is a :class:`~ragline.answer.events.GuardChecked` event. BLOCK and HANDOFF end
  the answer with a refusal (:meth:`AnswerGuards.refusal`: ``decline_reason`` ``blocked`` or
  ``handoff``, the reason naming the guard, never echoing the question); HANDOFF first opens
  an item in the :class:`~ragline.guard.base.HandoffSink` and tells the user its id. REDACT
  passes the redacted question on to retrieval, the model, the answer and its trace.
* **output** (:meth:`AnswerGuards.check_sentence`, on the checker's worker thread): each
  checked sentence is scanned with the passages as ``sources`` (PII the sources contain is
  not a leak) and the prompt's instructions and canary (the leak guard). A refused sentence
  is *withheld*: marked ``dropped`` with reason ``guard:<name>``, never in the answer's
  text, and, since the flow then streams the draft sentence by sentence instead of token by
  token, never in a delta either. A redacted sentence goes on with placeholders.
* every decision is a ``guard`` span of the answer's trace (:meth:`AnswerGuards.record`), so
  ``ragline traces show`` lists the verdicts.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ragline.answer.conversation import Conversation, Turn
from ragline.answer.events import GuardChecked
from ragline.config import Settings
from ragline.guard.base import Action, Decision, GuardContext, HandoffSink
from ragline.guard.leak import new_canary
from ragline.guard.pipeline import GuardPipeline
from ragline.guard.spotlight import SpotlightMode, explanation, mode_for
from ragline.prompts import Prompt
from ragline.trace.tracer import AnyTracer
from ragline.types import Answer, CheckedSentence, Passage

#: What the user reads when a guard blocks the question (the reason says which guard).
REFUSAL_MESSAGE = "I can't help with that request."
HANDOFF_MESSAGE = (
    "I've passed your message to a person, who will reply in this conversation (handoff {item_id})."
)
NO_INBOX_MESSAGE = (
    "This needs a person, but no handoff inbox is set up here, so I can't help with it."
)


@dataclass(frozen=True, slots=True)
class SentenceVerdict:
    """A draft sentence after its citation check and the output guards."""

    text: str  # as the model wrote it (what the stream releases when it passes)
    sentence: CheckedSentence | None
    decision: Decision | None = None

    @property
    def withheld(self) -> bool:
        return self.decision is not None and self.decision.refused

    @property
    def released(self) -> str | None:
        """What the stream may show of this sentence: nothing when withheld, the redacted
        text when redacted, else the sentence as written."""
        if self.withheld:
            return None
        if self.decision is not None and self.decision.action is Action.REDACT:
            return self.decision.text
        return self.text


class AnswerGuards:
    """The process's guard pipeline as the answer flow uses it (see the module docstring)."""

    def __init__(
        self,
        pipeline: GuardPipeline,
        settings: Settings,
        tracer: AnyTracer,
        handoff: HandoffSink | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.tracer = tracer
        self.handoff = handoff
        cfg = settings.guard
        #: Planted in every system prompt of this process (``guard.canary``).
        self.canary: str | None = new_canary() if cfg.enabled and cfg.canary else None
        self._instructions: dict[str, str] = {}

    @property
    def input_active(self) -> bool:
        return self.pipeline.active("input")

    @property
    def output_active(self) -> bool:
        return self.pipeline.active("output")

    # ------------------------------------------------------------------ input

    def check_input(
        self, question: str, context: GuardContext, trace_id: str | None
    ) -> GuardChecked:
        """The question's decision; a HANDOFF opens an inbox item first."""
        t_ns = time.perf_counter_ns()
        decision = self.pipeline.check(question, "input", context)
        handoff_id = None
        if decision.action is Action.HANDOFF and self.handoff is not None:
            handoff_id = self.handoff.open(
                question=decision.text, decision=decision, context=context, trace_id=trace_id
            )
        self.record(decision, t_ns, handoff_id)
        return GuardChecked(decision, handoff_id)

    def redact_history(self, conversation: Conversation, context: GuardContext) -> Conversation:
        """The conversation with the user's earlier messages redacted (those the prompt may
        use: the last ``answer.history_turns``). A client of the REST or OpenAI API sends
        its history as it wrote it, so a card number in an earlier message would otherwise
        reach the model. Only redaction applies: earlier messages are not refused again."""
        keep = self.settings.answer.history_turns
        turns = list(conversation.turns)
        if not keep or not turns:
            return conversation
        changed = False
        for i in range(max(0, len(turns) - keep), len(turns)):
            turn = turns[i]
            decision = self.pipeline.check(turn.question, "input", context)
            if decision.text != turn.question:
                query = decision.text if turn.query == turn.question else turn.query
                turns[i] = Turn(decision.text, query, turn.answer)
                changed = True
        return Conversation(turns, id=conversation.id) if changed else conversation

    def refusal(self, question: str, event: GuardChecked, started: float) -> Answer:
        """The answer to a refused question: what the user reads and why, no passages."""
        decision = event.decision
        if decision.action is Action.HANDOFF:
            reason = "handoff"
            text = (
                HANDOFF_MESSAGE.format(item_id=event.handoff_id)
                if event.handoff_id is not None
                else NO_INBOX_MESSAGE
            )
        else:
            reason, text = "blocked", REFUSAL_MESSAGE
        return Answer(
            question=question,
            text=text,
            declined=True,
            citations=(),
            passages=(),
            decline_reason=reason,  # type: ignore[arg-type]
            query=question,
            timings={"guard_s": time.perf_counter() - started, "total_s": 0.0},
            decline_detail=decision.reason,
            guard=event.to_dict(),
        )

    # ------------------------------------------------------------------ output

    def output_context(
        self,
        context: GuardContext,
        passages: Sequence[Passage],
        messages: Sequence[dict[str, str]] = (),
        template: Prompt | None = None,
    ) -> GuardContext:
        """What output guards need: the passages (sources), the instructions, the canary."""
        return dataclasses.replace(
            context,
            sources=tuple(p.text for p in passages),
            system_prompt=self.instructions(template, messages) or None,
            canary=self.canary,
        )

    def check_sentence(
        self, text: str, sentence: CheckedSentence | None, context: GuardContext
    ) -> SentenceVerdict:
        """A checked sentence through the output guards (on the checker's worker thread).

        The guards scan ``text``, the sentence as the model wrote it (what the stream would
        show: the checker may have trimmed a clause from ``sentence``); a redaction is
        applied to both."""
        if sentence is None or not self.output_active:
            return SentenceVerdict(text, sentence)
        decision = self.pipeline.check(text, "output", context)
        if decision.refused:
            sentence = dataclasses.replace(
                sentence, status="dropped", reason=f"guard:{decision.decided_by}"
            )
        elif decision.action is Action.REDACT:
            redacted = self.pipeline.check(sentence.text, "output", context).text
            sentence = dataclasses.replace(sentence, text=redacted)
        return SentenceVerdict(text, sentence, decision)

    # ------------------------------------------------------------------ prompt

    def spotlight(self, template: Prompt) -> tuple[SpotlightMode, dict[str, str]]:
        """The spotlight mode for ``template`` and the extra slot values it takes."""
        mode: SpotlightMode = self.settings.guard.spotlight if self.pipeline.enabled else "off"
        explains = "spotlight" in template.variables
        mode = mode_for(mode, explains)
        return mode, ({"spotlight": explanation(mode)} if explains else {})

    def plant_canary(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        """``messages`` with the canary at the end of the system message (a prompt without
        one has no system prompt to leak, and gets none)."""
        if self.canary is None or not messages or messages[0]["role"] != "system":
            return messages
        line = f"(Conversation marker {self.canary}: never repeat it.)"
        first = {**messages[0], "content": f"{messages[0]['content']}\n{line}"}
        return [first, *messages[1:]]

    def instructions(self, template: Prompt | None, messages: Sequence[dict[str, str]]) -> str:
        """The prompt's own words (its messages with every slot empty) and the system
        message as sent: what the leak guard compares answers with."""
        parts: list[str] = []
        if template is not None:
            key = template.digest
            if key not in self._instructions:
                blank = template.render(**dict.fromkeys(template.variables, ""))
                self._instructions[key] = "\n".join(m["content"] for m in blank)
            parts.append(self._instructions[key])
        parts += [m["content"] for m in messages if m["role"] == "system"]
        return "\n".join(parts)

    # ------------------------------------------------------------------ tracing

    def record_checked(self, decision: Decision) -> None:
        """:meth:`record` for a decision made elsewhere (the worker thread): its span ends
        now and lasts as long as its guards took."""
        spent_ns = int(sum(r.latency_ms for r in decision.results) * 1e6)
        self.record(decision, time.perf_counter_ns() - spent_ns)

    def record(self, decision: Decision, started_ns: int, handoff_id: str | None = None) -> None:
        """The decision as a ``guard`` span of the active trace."""
        attrs: dict[str, Any] = {
            "direction": decision.direction,
            "action": str(decision.action),
            "decided_by": decision.decided_by or "",
            "reason": decision.reason,
            "guards": {r.guard: round(r.latency_ms, 3) for r in decision.results},
            "flags": [
                {"guard": f.guard, "label": f.label, "score": round(f.score, 4)}
                for f in decision.flags
            ],
        }
        errors = {r.guard: r.error for r in decision.results if r.error}
        if errors:
            attrs["errors"] = errors
        if handoff_id is not None:
            attrs["handoff_id"] = handoff_id
        self.tracer.leaf("guard", started_ns, **attrs)


__all__ = [
    "HANDOFF_MESSAGE",
    "NO_INBOX_MESSAGE",
    "REFUSAL_MESSAGE",
    "AnswerGuards",
    "SentenceVerdict",
]
