"""Checkpoints of agent runs: the :class:`AgentRunStore` Protocol and its records.

An agent run (``ragline.agent.run``) saves its state here at every turn: when it starts, when
a plan passes its check, when a step finishes, when it waits for an approval and when it
ends. A run that stopped (a crash, an approval) goes on from its last checkpoint
(``ragline agent resume RUN_ID``). A run is one :class:`AgentRunRecord` (its state is a JSON
object the agent layer owns) and a log of :class:`AgentStepRecord` (one per step run, keyed
by ``(run_id, seq)``; saving a record with the same ``seq`` replaces it).

Retention keeps the table bounded (LangGraph's checkpoints grow without bound, its #7843):
each new run prunes, in the same transaction, the finished runs beyond the newest
``keep_runs`` and every run older than ``keep_days`` (``agent.keep_runs``,
``agent.keep_days``). A run that is not finished (``running``, ``waiting``) is kept until it
is ``keep_days`` old, so a run waiting for a person is not lost to a burst of newer runs.
``ragline.testing.agent_store_conformance`` holds the tests every backend must pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ragline.errors import ConfigError

if TYPE_CHECKING:
    from ragline.config import Settings

AgentRunStatus = Literal["running", "waiting", "done", "stopped", "failed", "refused", "rejected"]
RUN_STATUSES: tuple[AgentRunStatus, ...] = (
    "running",
    "waiting",
    "done",
    "stopped",
    "failed",
    "refused",
    "rejected",
)
#: Statuses of a run that will not go on by itself (retention may drop it past keep_runs).
FINISHED: frozenset[str] = frozenset({"done", "stopped", "failed", "refused", "rejected"})


def check_run_status(status: str | None) -> AgentRunStatus | None:
    """A status filter: one of :data:`RUN_STATUSES`, or None / ``all``."""
    if status is None or status == "all":
        return None
    if status not in RUN_STATUSES:
        raise ConfigError(
            f"unknown agent run status {status!r}",
            hint=f"use one of {', '.join(RUN_STATUSES)}, all",
        )
    return status  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Retention:
    """How many runs a store keeps: the newest ``keep_runs`` finished ones, none older than
    ``keep_days`` (None: no bound of that kind). The settings' values come through
    :func:`retention_of`."""

    keep_runs: int | None
    keep_days: float | None


def retention_of(settings: Settings | None) -> Retention:
    """The retention ``settings.agent`` asks for (None: the defaults of the settings)."""
    if settings is None:
        from ragline.config import load_settings

        settings = load_settings()
    return Retention(keep_runs=settings.agent.keep_runs, keep_days=settings.agent.keep_days)


@dataclass(frozen=True, slots=True)
class AgentRunRecord:
    """One run: its task, status and the state to go on from (a JSON object)."""

    id: str
    task: str
    status: AgentRunStatus
    created_at: str
    updated_at: str
    #: Unix seconds of ``created_at`` (retention compares it).
    created_ts: float
    owner: str | None = None
    collection: str | None = None
    state: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self, *, state: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "task": self.task,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "owner": self.owner,
            "collection": self.collection,
        }
        if state:
            out["state"] = dict(self.state)
        return out


@dataclass(frozen=True, slots=True)
class AgentStepRecord:
    """One step the run ran (or skipped, or holds for approval); ``data`` is the agent's."""

    run_id: str
    seq: int
    step_id: str
    tool: str
    status: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "seq": self.seq,
            "step_id": self.step_id,
            "tool": self.tool,
            "status": self.status,
            "data": dict(self.data),
        }


@runtime_checkable
class AgentRunStore(Protocol):
    """Where agent runs keep their checkpoints."""

    def save_run(self, run: AgentRunRecord) -> int:
        """Insert or replace the run (by id). A new run prunes by the retention in the same
        transaction; the number of runs pruned."""
        ...

    def claim_run(self, run: AgentRunRecord, *, expected_updated_at: str) -> bool:
        """Replace a saved run only if it was not saved since it was read (its
        ``updated_at`` is still ``expected_updated_at``): of two processes resuming one run,
        one wins, the other gets False. False also for a run that is not saved."""
        ...

    def load_run(self, run_id: str) -> AgentRunRecord | None: ...

    def save_step(self, step: AgentStepRecord) -> None:
        """Insert or replace the step record ``(run_id, seq)``; a :class:`ConfigError` when
        the run is not saved."""
        ...

    def steps(self, run_id: str) -> list[AgentStepRecord]:
        """The run's step records, by ``seq``."""
        ...

    def list_runs(
        self,
        *,
        status: AgentRunStatus | None = None,
        owner: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[AgentRunRecord]:
        """Runs newest first, with their state."""
        ...

    def prune(self, retention: Retention | None = None, *, now: float | None = None) -> int:
        """Apply a retention now (None: the store's own); the number of runs dropped (their
        steps go with them)."""
        ...

    def close(self) -> None: ...


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= 1000:
        raise ConfigError(f"limit must be 1..1000, got {limit}", hint="e.g. --limit 50")
    if offset < 0:
        raise ConfigError(f"offset must be 0 or more, got {offset}")


__all__ = [
    "FINISHED",
    "RUN_STATUSES",
    "AgentRunRecord",
    "AgentRunStatus",
    "AgentRunStore",
    "AgentStepRecord",
    "Retention",
    "check_page",
    "check_run_status",
    "retention_of",
]
