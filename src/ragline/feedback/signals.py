"""Feedback on answers, linked to their traces: explicit judgements and implicit signals.

Explicit (:class:`FeedbackRecorder`): thumbs up/down, a 1–5 rating, a comment — written to
the trace store at once, after checking the trace exists.

Implicit, detected by ragline and stored with the trace that observed them:

* ``regeneration`` — the user asked for the same answer again (a "regenerate" button, or the
  same question repeated in the next turn);
* ``early_stop`` — the client stopped reading a stream before it ended (recorded by
  :class:`ragline.trace.genai.TracedChatModel`);
* ``correction`` — the next user turn corrects the answer ("no, I meant…");
* ``conversation_length`` — turns so far, on every turn of a conversation.

:meth:`FeedbackRecorder.observe_turn` is what a chat loop calls with each new user turn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ragline.errors import InvalidQueryError
from ragline.feedback.correction import detect_correction
from ragline.store.traces_base import FeedbackRecord, TraceStore, is_negative, is_positive
from ragline.trace.redact import redact, redact_text

if TYPE_CHECKING:
    from ragline.trace.tracer import AnySpan

EXPLICIT_KINDS = frozenset({"thumbs", "rating", "comment"})
IMPLICIT_KINDS = frozenset({"regeneration", "early_stop", "correction", "conversation_length"})
_REGENERATE = re.compile(
    r"^\W*(?:please\s+)?(?:regenerate|try again|again|retry|redo|answer (?:it )?again|"
    r"one more time)\W*$",
    re.I,
)


def _same_question(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        return " ".join(re.sub(r"[^\w\s]", " ", s.lower()).split())

    return bool(a.strip()) and norm(a) == norm(b)


@dataclass(frozen=True, slots=True)
class TurnSignals:
    """What :meth:`FeedbackRecorder.observe_turn` detected in one user turn."""

    correction: bool
    regeneration: bool
    conversation_length: int
    records: tuple[FeedbackRecord, ...]


class FeedbackRecorder:
    """Records feedback on traced answers in a trace store."""

    def __init__(self, store: TraceStore) -> None:
        self.store = store

    # explicit ----------------------------------------------------------------------------
    def _trace_id(self, trace_id: str) -> str:
        trace = self.store.get_trace(trace_id)
        if trace is None:
            raise InvalidQueryError(
                f"no trace with id {trace_id!r}",
                hint="list recent traces with `ragline traces` (ids may be shortened)",
            )
        return trace.trace_id

    def _add(self, record: FeedbackRecord) -> FeedbackRecord:
        # Written straight to the store (not through the tracer): redacted here.
        if record.comment:
            record.comment = redact_text(record.comment)
        record.attributes = redact(record.attributes)
        self.store.add_feedback([record])
        return record

    def thumbs(self, trace_id: str, up: bool, *, comment: str | None = None) -> FeedbackRecord:
        """Thumbs up (``up=True``, value +1) or down (value -1) on an answer."""
        return self._add(
            FeedbackRecord(self._trace_id(trace_id), "thumbs", 1.0 if up else -1.0, comment)
        )

    def rate(self, trace_id: str, rating: int, *, comment: str | None = None) -> FeedbackRecord:
        """A 1–5 rating of an answer."""
        if not 1 <= int(rating) <= 5 or int(rating) != rating:
            raise InvalidQueryError(f"a rating is 1 to 5, got {rating!r}")
        return self._add(FeedbackRecord(self._trace_id(trace_id), "rating", float(rating), comment))

    def comment(self, trace_id: str, text: str) -> FeedbackRecord:
        if not text.strip():
            raise InvalidQueryError("the comment is empty")
        return self._add(FeedbackRecord(self._trace_id(trace_id), "comment", None, text))

    # implicit ----------------------------------------------------------------------------
    def regenerated(self, trace_id: str, **attributes: Any) -> FeedbackRecord:
        """The user asked to regenerate the answer of ``trace_id``."""
        return self._add(
            FeedbackRecord(trace_id, "regeneration", 1.0, source="implicit", attributes=attributes)
        )

    def stopped_early(self, trace_id: str, tokens_seen: int) -> FeedbackRecord:
        """The client stopped the stream of ``trace_id`` after ``tokens_seen`` tokens."""
        return self._add(
            FeedbackRecord(trace_id, "early_stop", float(tokens_seen), source="implicit")
        )

    def observe_turn(
        self,
        user_text: str,
        *,
        turn: int,
        previous_trace_id: str | None = None,
        previous_user_text: str | None = None,
        previous_answer: str | None = None,
        span: AnySpan | None = None,
        trace_id: str | None = None,
    ) -> TurnSignals:
        """Detect implicit feedback in a new user turn (``turn`` counts from 1).

        A correction or a regeneration judges ``previous_trace_id``; the conversation length
        goes on the current turn's trace. With ``span`` (the turn's active trace) the records
        are written with that trace, in the background; otherwise at once.
        """
        signals = turn_signals(
            user_text,
            turn=turn,
            previous_trace_id=previous_trace_id,
            previous_user_text=previous_user_text,
            previous_answer=previous_answer,
            trace_id=trace_id or (span.trace_id if span is not None else None),
        )
        if span is not None and span.recording:
            record_on_span(span, signals.records)
        else:
            self.store.add_feedback(list(signals.records))
        return signals


def turn_signals(
    user_text: str,
    *,
    turn: int,
    previous_trace_id: str | None = None,
    previous_user_text: str | None = None,
    previous_answer: str | None = None,
    trace_id: str | None = None,
) -> TurnSignals:
    """The implicit feedback in a user turn: a correction or regeneration of the previous
    answer (``previous_trace_id``), and the conversation length (on ``trace_id``)."""
    records: list[FeedbackRecord] = []
    correction = regeneration = False
    if previous_trace_id is not None:
        regeneration = bool(_REGENERATE.match(user_text)) or (
            previous_user_text is not None and _same_question(user_text, previous_user_text)
        )
        verdict = detect_correction(user_text, previous_answer)
        correction = verdict.is_correction and not regeneration
        if regeneration:
            records.append(
                FeedbackRecord(previous_trace_id, "regeneration", 1.0, source="implicit")
            )
        if correction:
            records.append(
                FeedbackRecord(
                    previous_trace_id,
                    "correction",
                    verdict.score,
                    comment=user_text,
                    source="implicit",
                    attributes={"cues": list(verdict.cues)},
                )
            )
    if trace_id is not None:
        records.append(
            FeedbackRecord(trace_id, "conversation_length", float(turn), source="implicit")
        )
    return TurnSignals(correction, regeneration, turn, tuple(records))


def record_on_span(span: AnySpan, records: Sequence[FeedbackRecord]) -> None:
    """Attach feedback records to a trace: they are written with it, off the request path."""
    for r in records:
        span.add_signal(
            r.kind, value=r.value, trace_id=r.trace_id, comment=r.comment, **r.attributes
        )


def summarize_feedback(records: Sequence[FeedbackRecord]) -> dict[str, Any]:
    """One trace's feedback folded into a label: ``positive``, ``negative`` or ``neutral``."""
    thumbs = [r.value for r in records if r.kind == "thumbs" and r.value is not None]
    ratings = [r.value for r in records if r.kind == "rating" and r.value is not None]
    negative = any(is_negative(r) for r in records)
    positive = any(is_positive(r) for r in records)
    # The latest explicit judgement wins over implicit hints.
    explicit = [r for r in records if r.kind in ("thumbs", "rating") and r.value is not None]
    if explicit:
        label = (
            "negative"
            if is_negative(explicit[-1])
            else ("positive" if is_positive(explicit[-1]) else "neutral")
        )
    else:
        label = "negative" if negative else ("positive" if positive else "neutral")
    lengths = [r.value for r in records if r.kind == "conversation_length" and r.value]
    return {
        "label": label,
        "thumbs": int(thumbs[-1]) if thumbs else None,
        "rating": int(ratings[-1]) if ratings else None,
        "comments": [r.comment for r in records if r.kind == "comment" and r.comment],
        "signals": {
            "correction": any(r.kind == "correction" for r in records),
            "regeneration": sum(r.kind == "regeneration" for r in records),
            "early_stop": any(r.kind == "early_stop" for r in records),
            "conversation_length": int(max(lengths)) if lengths else None,
        },
    }


__all__ = [
    "EXPLICIT_KINDS",
    "IMPLICIT_KINDS",
    "FeedbackRecorder",
    "TurnSignals",
    "is_negative",
    "is_positive",
    "record_on_span",
    "summarize_feedback",
    "turn_signals",
]
