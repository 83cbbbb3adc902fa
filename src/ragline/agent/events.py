"""The agent events: what a run streams while it plans, checks, runs steps and answers.

They follow the answer vocabulary's shape (:class:`ragline.answer.events.Event`: a class-level
``kind``, also the server-sent event name, and ``to_dict()``), so the one SSE encoder and
the consumers' rule "handle the kinds you know, ignore the rest" apply unchanged. None of the
answer events fits an agent's turns (they describe one retrieval and one draft), so the agent
has its own, all of kind ``agent_*``::

    RunStarted        once, first: the run id, the task, the tools offered, the budgets
    PlanChecked       each plan the model wrote, with the check's problems (ok: none)
    StepStarted       a step begins (its tool and resolved arguments)
    ApprovalWaiting   a step with side effects waits for a person (the handoff item's id)
    StepFinished      a step ended: ok, error, skipped, rejected, timed out
    BudgetStopped     a budget ran out: which, its limit, what was used, why
    RunFinished       once, last: the outcome (status, answer, sources, why it ended)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

from ragline.agent.budget import BudgetStop


@dataclass(frozen=True, slots=True)
class RunStarted:
    kind: ClassVar[str] = "agent_start"
    run_id: str
    task: str
    tools: tuple[str, ...]
    budgets: dict[str, Any]
    resumed: bool = False
    trace_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "task": self.task,
            "tools": list(self.tools),
            "budgets": self.budgets,
            "resumed": self.resumed,
            "trace_id": self.trace_id,
        }


@dataclass(frozen=True, slots=True)
class PlanChecked:
    """A plan the model wrote (``round`` 0: the first; later: a revision) and its check."""

    kind: ClassVar[str] = "agent_plan"
    round: int
    attempt: int
    steps: list[dict[str, Any]]
    problems: list[dict[str, Any]]
    answer: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "attempt": self.attempt,
            "ok": self.ok,
            "steps": self.steps,
            "problems": self.problems,
            "answer": self.answer,
        }


@dataclass(frozen=True, slots=True)
class StepStarted:
    kind: ClassVar[str] = "agent_step_start"
    step_id: str
    tool: str
    arguments: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step_id, "tool": self.tool, "arguments": self.arguments}


@dataclass(frozen=True, slots=True)
class StepFinished:
    kind: ClassVar[str] = "agent_step"
    step_id: str
    tool: str
    status: str
    output: Any = None
    error: str | None = None
    latency_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step_id,
            "tool": self.tool,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "latency_ms": self.latency_ms,
        }


@dataclass(frozen=True, slots=True)
class ApprovalWaiting:
    kind: ClassVar[str] = "agent_approval"
    step_id: str
    tool: str
    arguments: dict[str, Any]
    handoff_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step_id,
            "tool": self.tool,
            "arguments": self.arguments,
            "handoff_id": self.handoff_id,
        }


@dataclass(frozen=True, slots=True)
class BudgetStopped:
    kind: ClassVar[str] = "agent_budget"
    stop: BudgetStop

    def to_dict(self) -> dict[str, Any]:
        return self.stop.to_dict()


@dataclass(frozen=True, slots=True)
class AgentOutcome:
    """How a run ended (or paused): ``status`` is the run's, ``reason`` says why in words."""

    run_id: str
    status: str
    answer: str
    reason: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    stop: BudgetStop | None = None
    used: dict[str, Any] = field(default_factory=dict)
    waiting_for: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    trace_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "answer": self.answer,
            "sources": self.sources,
            "reason": self.reason,
            "stop": None if self.stop is None else self.stop.to_dict(),
            "used": self.used,
            "waiting_for": self.waiting_for,
            "steps": self.steps,
            "trace_id": self.trace_id,
        }


@dataclass(frozen=True, slots=True)
class RunFinished:
    kind: ClassVar[str] = "agent_done"
    outcome: AgentOutcome

    def to_dict(self) -> dict[str, Any]:
        return self.outcome.to_dict()


AgentEvent: TypeAlias = (
    RunStarted
    | PlanChecked
    | StepStarted
    | StepFinished
    | ApprovalWaiting
    | BudgetStopped
    | RunFinished
)
AGENT_EVENTS: dict[str, type] = {
    cls.kind: cls
    for cls in (
        RunStarted,
        PlanChecked,
        StepStarted,
        StepFinished,
        ApprovalWaiting,
        BudgetStopped,
        RunFinished,
    )
}

__all__ = [
    "AGENT_EVENTS",
    "AgentEvent",
    "AgentOutcome",
    "ApprovalWaiting",
    "BudgetStopped",
    "PlanChecked",
    "RunFinished",
    "RunStarted",
    "StepFinished",
    "StepStarted",
]
