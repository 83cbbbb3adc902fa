"""How a run ended (or paused), as the caller sees it: :func:`outcome_of` a checkpointed
state, the answer of a run that ended without the model's (:func:`fallback_answer`), a run
shown as data (:func:`show_run`), and the outcome at the end of an event stream."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ragline.agent.budget import BudgetStop
from ragline.agent.events import AgentEvent, AgentOutcome, RunFinished
from ragline.agent.state import RunState, output_text, sources_of
from ragline.errors import ResourceNotFoundError
from ragline.store.agent_base import AgentRunStore


def fallback_answer(state: RunState) -> str:
    """What a run that ended without the model's answer says: why, and what it found."""
    lines = [f"No answer: {state.reason}."]
    done = [s for s in state.steps if s.status == "ok"]
    if done:
        lines.append("What the steps found:")
        seen: dict[str, str] = {}
        for s in done:
            text = output_text(s.output, 300)
            if text in seen:
                lines.append(f"- {s.id} ({s.tool}): the same as {seen[text]}")
            else:
                seen[text] = s.id
                lines.append(f"- {s.id} ({s.tool}): {text}")
    return "\n".join(lines)


def outcome_of(state: RunState) -> AgentOutcome:
    """The outcome of a run from its state (sources from its steps' outputs)."""
    return AgentOutcome(
        run_id=state.id,
        status=state.status,
        answer=state.answer,
        reason=state.reason,
        sources=sources_of(state.steps),
        stop=None if state.stop is None else BudgetStop(**state.stop),
        used=dict(state.used),
        waiting_for=[
            s.handoff_id for s in state.current() if s.status == "waiting" and s.handoff_id
        ],
        steps=[s.summary() for s in state.steps],
        trace_id=state.trace_ids[-1] if state.trace_ids else None,
    )


def show_run(store: AgentRunStore, run_id: str) -> dict[str, Any]:
    """A run as data: its record, its outcome, its budgets and its step log."""
    record = store.load_run(run_id)
    if record is None:
        raise ResourceNotFoundError(
            f"no agent run {run_id!r}", hint="list the runs with `ragline agent list`"
        )
    state = RunState.model_validate(dict(record.state))
    return {
        **record.to_dict(state=False),
        "outcome": outcome_of(state).to_dict(),
        "budgets": state.budgets,
        "log": [s.to_dict() for s in store.steps(run_id)],
    }


def last_outcome(events: Iterable[AgentEvent]) -> AgentOutcome:
    """Drain an event stream; its :class:`RunFinished` outcome."""
    outcome: AgentOutcome | None = None
    for event in events:
        if isinstance(event, RunFinished):
            outcome = event.outcome
    if outcome is None:
        raise RuntimeError("the agent's event stream ended without its outcome")
    return outcome


__all__ = ["fallback_answer", "last_outcome", "outcome_of", "show_run"]
