"""Guardrails: input, output and document guards, their actions, and the human handoff inbox.

A *guard* scans one text and returns a :class:`~ragline.guard.base.GuardResult` (the flags it
found, each with a score and, for span findings such as PII, where it is; and its latency).
The :class:`~ragline.guard.pipeline.GuardPipeline` runs the configured guards on a text and
turns their results into one :class:`~ragline.guard.base.Decision` by the actions configured
per guard and per collection (``guard.*`` settings): allow, warn, redact, block or handoff.
"""

from ragline.guard.base import (
    ACTION_ORDER,
    Action,
    Decision,
    Flag,
    Guard,
    GuardContext,
    GuardDirection,
    GuardResult,
    HandoffSink,
)

__all__ = [
    "ACTION_ORDER",
    "Action",
    "Decision",
    "Flag",
    "Guard",
    "GuardContext",
    "GuardDirection",
    "GuardResult",
    "HandoffSink",
]
