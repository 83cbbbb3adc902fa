"""Tracing grounded answers and chat turns: one ``ask`` / ``chat`` trace per answer.

:func:`trace_answer` wraps an answer's event stream (``Ragline.ask_stream``): the trace
opens when the stream starts, everything the answer does (query rewriting, retrieval, the
generation, checks) nests inside it, and the final answer's text, abstention, prompt version
and passages are recorded on its root. A stream the caller stops reading before the answer
is complete leaves an ``early_stop`` signal.

For chat turns, :class:`ConversationLinks` gives each conversation an id and remembers the
trace of its last turn, so a new turn can be judged against the previous answer: a
correction ("no, I meant…") or a regeneration becomes implicit feedback on that answer's
trace, and the conversation length is recorded on every turn.

It reads the typed events of ``ragline.answer.events`` (and ignores kinds it does not know);
it lives in the answer layer, above ``ragline.trace``, which it uses and which never imports it.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ragline.answer.conversation import Conversation
from ragline.answer.events import AnswerDone, GuardChecked, TokenDelta
from ragline.feedback.signals import record_on_span, turn_signals
from ragline.trace import semconv as sc
from ragline.trace.redact import Deferred
from ragline.trace.tracer import AnySpan, AnyTracer
from ragline.types import Answer

E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class TurnLink:
    """Where a chat turn stands: its conversation, its number, the previous turn's trace."""

    conversation_id: str
    turn: int
    previous_trace_id: str | None
    previous_question: str | None
    previous_answer: str | None


class ConversationLinks:
    """Conversation ids and last-turn trace ids, for conversations that carry neither.

    Keyed by the conversation object's identity and checked against its length, so a new
    object that happens to get a dead one's id starts afresh. Bounded: the least recently
    used conversations are forgotten first.
    """

    def __init__(self, max_conversations: int = 10_000) -> None:
        self._links: OrderedDict[int, tuple[str, int, str]] = OrderedDict()
        self._max = max_conversations
        self._lock = threading.Lock()

    def before(self, conversation: Conversation) -> TurnLink:
        turns = list(conversation.turns)
        with self._lock:
            known = self._links.get(id(conversation))
        previous = turns[-1] if turns else None
        if known is not None and known[1] == len(turns):
            cid, _, last = known
        else:
            cid, last = uuid.uuid4().hex, None
        return TurnLink(
            conversation_id=cid,
            turn=len(turns) + 1,
            previous_trace_id=last,
            previous_question=previous.question if previous is not None else None,
            previous_answer=previous.answer if previous is not None else None,
        )

    def after(self, conversation: Conversation, link: TurnLink, trace_id: str | None) -> None:
        """Remember ``trace_id`` as the last turn (the conversation now has ``link.turn``)."""
        if trace_id is None:
            return
        with self._lock:
            self._links[id(conversation)] = (link.conversation_id, link.turn, trace_id)
            self._links.move_to_end(id(conversation))
            while len(self._links) > self._max:
                self._links.popitem(last=False)


def _passages(answer: Answer) -> list[dict[str, Any]]:
    return [
        {
            "chunk_id": p.chunk.id,
            "source": p.chunk.source,
            "score": p.relevance,
            "number": p.number,
        }
        for p in answer.passages
    ]


def record_answer(span: AnySpan, answer: Answer) -> None:
    """The final answer's attributes on the root of its trace."""
    if not span.recording:
        return
    attrs: dict[str, Any] = {
        sc.ANSWER: answer.text,
        "answer_length": len(answer.text),
        sc.ABSTAINED: answer.declined,
        "decline_reason": answer.decline_reason,
        "citations": len(answer.citations),
        sc.PROMPT_TEMPLATE: answer.prompt_version.split("@")[0] or None,
        sc.PROMPT_VERSION: answer.prompt_version or None,
        "prompt.sha256": answer.prompt_sha256 or None,
        "model": answer.model,
        "cached": answer.cached,
        "hits": Deferred(_passages, answer),
    }
    if answer.query and answer.query != answer.question:
        attrs["query.rewritten"] = answer.query
    if answer.timings:
        attrs["timings"] = dict(answer.timings)
    span.update({k: v for k, v in attrs.items() if v is not None})


def record_guard(span: AnySpan, event: GuardChecked, question: str) -> None:
    """A guard decision on the trace's root: the action, and a redacted question replaces
    the raw one (the guard's own ``guard`` span is recorded by the flow)."""
    decision = event.decision
    if not span.recording or decision.direction != "input":
        return
    span.set(guard_action=str(decision.action), guard_decided_by=decision.decided_by or "")
    if decision.text != question:
        span.set(**{sc.QUERY: decision.text})


def trace_answer(
    tracer: AnyTracer,
    events: Iterable[E],
    *,
    question: str,
    collection: str | None = None,
    conversation: Conversation | None = None,
    links: ConversationLinks | None = None,
) -> Iterator[E]:
    """Yield ``events`` unchanged inside an ``ask`` (or, with a conversation, ``chat``) trace.

    :class:`AnswerDone` records the answer on the trace's root; :class:`TokenDelta` pieces
    are counted (a stream stopped early says how many were sent); other events pass through."""
    if not tracer.enabled:
        yield from events
        return
    link = links.before(conversation) if conversation is not None and links else None
    attrs: dict[str, Any] = {sc.QUERY: question, sc.COLLECTION: collection}
    if link is not None:
        attrs.update({sc.CONVERSATION_ID: link.conversation_id, sc.TURN: link.turn})
    span = tracer.start("chat" if conversation is not None else "ask", **attrs)
    if link is not None:
        signals = turn_signals(
            question,
            turn=link.turn,
            previous_trace_id=link.previous_trace_id,
            previous_user_text=link.previous_question,
            previous_answer=link.previous_answer,
            trace_id=span.trace_id,
        )
        record_on_span(span, signals.records)
    done, failed, pieces = False, False, 0
    try:
        for event in span.iterate(events):
            if isinstance(event, AnswerDone):
                record_answer(span, event.answer)
                done = True
            elif isinstance(event, TokenDelta):
                pieces += 1
            elif isinstance(event, GuardChecked):
                record_guard(span, event, question)
            yield event
    except Exception as exc:
        failed = True
        span.record_error(exc)
        raise
    finally:
        if not done and not failed and span.recording:
            span.set(stream_cancelled=True, pieces_emitted=pieces)
            span.add_signal("early_stop", value=float(pieces))
        span.end()
        if link is not None and links is not None and done:
            links.after(conversation, link, span.trace_id)


__all__ = ["ConversationLinks", "TurnLink", "record_answer", "record_guard", "trace_answer"]
