"""Grounded answers with citations: prompt files, context packing, citation checks, chats.

The flow (:class:`~ragline.answer.flow.Answerer`, behind ``Ragline.ask`` / ``ask_stream``
/ ``chat`` and ``ragline ask`` / ``ragline chat``)::

    question ─ input guards ─┬─ refusal (blocked, handoff)
                             └─ rewrite (follow-ups) ─ hybrid search ─ relevance gate ─┐
    ┌──────────────────────────────────────────────────────────────────────────────────┘
    ├─ decline, best passages
    └─ numbered passages ─ prompt file (answer@v3) ─ model (streamed) ─ sentence check ─┐
    ┌───────────────────────────────────────────────────────────────────────────────────┘
    └─ output guards (a failing sentence withheld) ─┬─ answer with [n] citations
                                                    └─ decline, best passages

Prompt files are :mod:`ragline.prompts`. Modules: ``context`` (gate and packing),
``text`` (sentences, markers, numbers), ``citations`` (support checks and verdicts),
``conversation`` (history, rewriting, trimming to the context window), ``extractive`` (the
reader: the passage sentence that answers, and its span), ``answerability`` (answer or
decline, from several signals), ``logistic`` (their shipped weights), ``events`` (the one
event vocabulary every answer stream speaks: ``Started``, ``GuardChecked``, ``Retrieved``,
``TokenDelta``, ``SentenceChecked``, ``AnswerDone``), ``guarding`` (the guards in the flow:
``ragline.guard``), ``flow``, ``tracing`` (an answer's trace).
"""

from ragline.answer.answerability import Answerability, AnswerabilityVerdict
from ragline.answer.citations import CitationChecker, Support
from ragline.answer.context import Context, ContextPacker
from ragline.answer.conversation import Conversation, QueryRewriter, Rewrite, Turn
from ragline.answer.events import (
    AnswerDone,
    AnswerEvent,
    GuardChecked,
    Retrieved,
    SentenceChecked,
    Started,
    TokenDelta,
    final_answer,
)
from ragline.answer.extractive import Reading, SentenceReader
from ragline.answer.flow import DECLINE_MESSAGE, STYLES, Answerer

__all__ = [
    "DECLINE_MESSAGE",
    "STYLES",
    "AnswerDone",
    "AnswerEvent",
    "Answerability",
    "AnswerabilityVerdict",
    "Answerer",
    "CitationChecker",
    "Context",
    "ContextPacker",
    "Conversation",
    "GuardChecked",
    "QueryRewriter",
    "Reading",
    "Retrieved",
    "Rewrite",
    "SentenceChecked",
    "SentenceReader",
    "Started",
    "Support",
    "TokenDelta",
    "Turn",
    "final_answer",
]
