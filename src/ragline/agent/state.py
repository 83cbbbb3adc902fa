"""The checkpointed state of an agent run: pydantic models saved as JSON in the store.

:class:`RunState` is everything a run needs to go on after a crash or an approval: the
task, the tools it may call, the budgets and what was used of them, every step of every
round (with outputs and errors), the phase it is in and, once it ended, the answer and why.
``ragline.store.agent_base.AgentRunRecord.state`` holds :meth:`RunState.model_dump`.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any, Literal

from pydantic import BaseModel, Field

from ragline.store.agent_base import FINISHED, AgentRunStatus
from ragline.store.keys_base import now_iso

StepStatus = Literal[
    "pending", "waiting", "running", "ok", "error", "skipped", "rejected", "timeout"
]
Phase = Literal["turn", "execute", "done"]


class StepState(BaseModel):
    """One step of one round, as planned and as it went."""

    id: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    round: int = 0
    seq: int = 0
    status: StepStatus = "pending"
    side_effects: bool = False
    #: The approval item (kind "approval") in the handoff inbox, once one was opened.
    handoff_id: str | None = None
    approved: bool = False
    resolved: dict[str, Any] | None = None
    output: Any = None
    error: str | None = None
    latency_ms: float | None = None
    #: The tool's timeout when the step started.
    timeout_s: float | None = None

    def finish(self, result: Any, error: BaseException | None = None) -> None:
        """Record how the call went: a ``ToolResult`` (ok with a JSON output, or its error),
        or the exception the call raised."""
        if error is not None:
            self.status = "error"
            self.error = f"{type(error).__name__}: {error}"
            return
        self.latency_ms = getattr(result, "latency_ms", None)
        if not getattr(result, "ok", False):
            self.status = "error"
            self.error = str(getattr(result, "error", None) or "the tool failed")
            return
        output = getattr(result, "output", None)
        try:
            self.output = json.loads(json.dumps(output, ensure_ascii=False, allow_nan=False))
        except (TypeError, ValueError) as exc:
            self.status = "error"
            self.error = (
                f"the tool returned a value that is not JSON ({type(output).__name__}): {exc}"
            )
            return
        self.status = "ok"

    def summary(self) -> dict[str, Any]:
        return {
            "step": self.id,
            "round": self.round,
            "tool": self.tool,
            "status": self.status,
            "arguments": self.resolved if self.resolved is not None else self.arguments,
            "error": self.error,
            "handoff_id": self.handoff_id,
        }


class Runner(BaseModel):
    """The process that runs the run (a resume refuses a live one unless forced)."""

    host: str = ""
    pid: int = 0

    @classmethod
    def here(cls) -> Runner:
        return cls(host=socket.gethostname(), pid=os.getpid())

    def alive(self) -> bool:
        """Whether the process still runs (only knowable on the same host)."""
        if self.pid <= 0:
            return False
        if self.host != socket.gethostname():
            return True  # another machine's process: cannot tell, so assume it runs
        if self.pid == os.getpid():
            return False  # this process: the run is not running in it now
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class RunState(BaseModel):
    """A run's checkpoint."""

    id: str
    task: str
    status: AgentRunStatus = "running"
    phase: Phase = "turn"
    round: int = 0
    collection: str | None = None
    owner: str | None = None
    model: str | None = None
    tools: list[str] = Field(default_factory=list)
    budgets: dict[str, Any] = Field(default_factory=dict)
    used: dict[str, Any] = Field(default_factory=dict)
    steps: list[StepState] = Field(default_factory=list)
    answer: str = ""
    reason: str = ""
    stop: dict[str, Any] | None = None
    runner: Runner = Field(default_factory=Runner.here)
    trace_ids: list[str] = Field(default_factory=list)
    next_seq: int = 1
    #: The model's last plan only repeated steps that had run: the next turn must answer.
    answer_only: bool = False
    created_at: str = Field(default_factory=now_iso)
    created_ts: float = Field(default_factory=time.time)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def current(self) -> list[StepState]:
        """The steps of the round being run."""
        return [s for s in self.steps if s.round == self.round]

    def outputs(self) -> dict[str, Any]:
        """The output of each step id that ended ok (a later round's step of the same id
        replaces an earlier one)."""
        return {s.id: s.output for s in self.steps if s.status == "ok"}

    def step(self, step_id: str) -> StepState:
        return next(s for s in self.current() if s.id == step_id)


def output_text(value: Any, limit: int) -> str:
    """A step's output as text for the model, cut to ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sources_of(steps: list[StepState]) -> list[dict[str, Any]]:
    """The sources in the outputs of the steps that ended ok (a search's hits carry them):
    every object with a ``source`` key, once per source, in order."""
    found: dict[str, dict[str, Any]] = {}

    def visit(value: Any, step: str) -> None:
        if isinstance(value, dict):
            source = value.get("source")
            if isinstance(source, str) and source and source not in found:
                entry: dict[str, Any] = {"source": source, "step": step}
                for key in ("title", "record_id", "chunk_id", "document_id", "score"):
                    if key in value and isinstance(value[key], str | int | float):
                        entry[key] = value[key]
                found[source] = entry
            for v in value.values():
                visit(v, step)
        elif isinstance(value, list):
            for v in value:
                visit(v, step)

    for s in steps:
        if s.status == "ok":
            visit(s.output, s.id)
    return list(found.values())


__all__ = ["Phase", "RunState", "Runner", "StepState", "StepStatus", "output_text", "sources_of"]
