"""The :class:`EvalStore` Protocol and the records it keeps: evaluation runs and their items.

A run is one execution of an evaluation spec (``ragline eval run``): its configuration, the
versions of its prompts, the models it called, and — once finished — its summary. Each item
result holds one dataset item as it was evaluated: the input, the system's output, the
retrieved documents, every metric's score and the details behind them (judge verdicts).

Items are written one by one as they finish, so an interrupted run keeps its work: a re-run
with the same run id skips the items in :meth:`EvalStore.completed_item_ids`. An item that
failed (``error`` set) is not completed and is tried again.
``ragline.testing.eval_store_conformance`` holds the tests every backend must pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

RunStatus = Literal["running", "interrupted", "complete", "failed"]
RUN_STATUSES: tuple[RunStatus, ...] = ("running", "interrupted", "complete", "failed")


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(slots=True)
class EvalRun:
    """One evaluation run. ``config`` is the spec as run (JSON values only).

    ``spec_hash`` fingerprints what decides the scores (system, metrics, dataset content,
    prompt texts): resuming a run under a different hash is refused. ``prompts`` maps a role
    (``answer``, a judge metric's name) to a prompt version (``name@sha``); ``models`` lists
    the model names the run calls; ``summary`` is filled when the run finishes.
    """

    run_id: str
    name: str
    spec_hash: str
    config: dict[str, Any] = field(default_factory=dict)
    prompts: dict[str, str] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    status: RunStatus = "running"
    created_at: str = field(default_factory=utc_now)
    finished_at: str | None = None
    items_total: int = 0
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass(slots=True)
class ItemResult:
    """One dataset item as evaluated.

    ``scores`` maps a metric name to its value; None means the metric could not be computed
    for this item (an unparseable judge verdict, a missing reference). ``details`` keeps
    what explains the scores (JSON values only); ``error`` is set when the item failed as a
    whole (the model call failed), in which case it is retried on resume.
    """

    item_id: str
    ordinal: int
    input: dict[str, Any] = field(default_factory=dict)
    output: str | None = None
    retrieved: list[str] = field(default_factory=list)
    scores: dict[str, float | None] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0
    created_at: str = field(default_factory=utc_now)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@runtime_checkable
class EvalStore(Protocol):
    """Where evaluation runs are kept. Methods raise :class:`ragline.errors.StoreError`."""

    def close(self) -> None: ...

    def create_run(self, run: EvalRun) -> None:
        """Record a new run; raises :class:`ragline.errors.StoreError` if its id exists."""
        ...

    def get_run(self, run_id: str) -> EvalRun | None:
        """A run by id, or by a unique id prefix; None when nothing matches.

        Raises :class:`ragline.errors.InvalidQueryError` for an ambiguous prefix.
        """
        ...

    def list_runs(self, *, name: str | None = None, limit: int | None = 50) -> list[EvalRun]:
        """Runs, newest first; only those called ``name`` if given."""
        ...

    def update_run(self, run: EvalRun) -> None:
        """Overwrite a run's mutable fields (status, finished_at, summary, items_total,
        prompts, models)."""
        ...

    def delete_run(self, run_id: str) -> bool:
        """Delete a run and its items; returns whether it existed."""
        ...

    def save_items(self, run_id: str, items: Sequence[ItemResult]) -> None:
        """Insert or replace (by item id) item results of a run, in one transaction."""
        ...

    def get_items(self, run_id: str) -> list[ItemResult]:
        """Every item result of a run, by ordinal."""
        ...

    def completed_item_ids(self, run_id: str) -> set[str]:
        """Ids of the run's items that finished without error (skipped on resume)."""
        ...


__all__ = ["RUN_STATUSES", "EvalRun", "EvalStore", "ItemResult", "RunStatus", "utc_now"]
