"""``ragline agent run|show|resume|list``: the agent loop from the terminal.

``run`` prints each turn and step as it happens (the plan and its check, each step's start
and result, an approval wait, a budget stop), then the answer with its sources; ``--json``
prints the outcome as data instead. A step with side effects pauses the run: approve it in
the handoff inbox (``ragline handoff close ID -r approved``, or reply ``approve``), then
``ragline agent resume RUN_ID``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ragline.cli.common import CollectionOpt, open_api, print_json

if TYPE_CHECKING:
    from ragline.agent.events import AgentEvent, AgentOutcome

agent_app = typer.Typer(
    help="Agents: the model plans tool steps, the plan is checked before anything runs, "
    "steps run (in parallel where independent) within budgets, side effects wait for "
    "approval, every run is checkpointed.",
    no_args_is_help=True,
)


def _short(value: Any, width: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _render(events: Iterable[AgentEvent], console: Console, *, live: bool) -> AgentOutcome:
    from ragline.agent.events import (
        ApprovalWaiting,
        BudgetStopped,
        PlanChecked,
        RunFinished,
        RunStarted,
        StepFinished,
        StepStarted,
    )

    outcome = None
    for event in events:
        if isinstance(event, RunFinished):
            outcome = event.outcome
        if not live:
            continue
        if isinstance(event, RunStarted):
            verb = "resumed" if event.resumed else "run"
            console.print(
                Text(f"{verb} {event.run_id}: tools {', '.join(event.tools) or 'none'}", "dim")
            )
        elif isinstance(event, PlanChecked):
            if event.ok and event.steps:
                names = ", ".join(f"{s['id']}={s['tool']}" for s in event.steps)
                console.print(f"plan (turn {event.round}): {names}")
            elif not event.ok:
                problems = "; ".join(p["message"] for p in event.problems)
                console.print(
                    Text(f"plan rejected (try {event.attempt + 1}): {problems}", "yellow")
                )
        elif isinstance(event, StepStarted):
            console.print(f"  → {event.step_id} {event.tool} {_short(event.arguments, 80)}")
        elif isinstance(event, StepFinished):
            style = "green" if event.status == "ok" else "red"
            detail = _short(event.output, 90) if event.status == "ok" else event.error or ""
            console.print(Text(f"  ← {event.step_id} {event.status}: {detail}", style))
        elif isinstance(event, ApprovalWaiting):
            console.print(
                Text(
                    f"  ⏸ {event.step_id} {event.tool} needs approval: handoff item "
                    f"{event.handoff_id}",
                    "yellow",
                )
            )
        elif isinstance(event, BudgetStopped):
            console.print(Text(f"budget stop: {event.stop.reason}", "red"))
    assert outcome is not None
    return outcome


def _print_outcome(outcome: AgentOutcome, console: Console) -> None:
    console.print("")
    if outcome.answer:
        console.print(Text(outcome.answer))
    if outcome.sources:
        console.print("")
        console.print("Sources:")
        for i, s in enumerate(outcome.sources, start=1):
            console.print(Text(f"  [{i}] {s['source']}"))
    console.print("")
    style = {"done": "green", "waiting": "yellow"}.get(outcome.status, "red")
    console.print(Text(f"{outcome.run_id}: {outcome.status} ({outcome.reason})", style))
    if outcome.waiting_for:
        console.print(
            Text(
                "approve with `ragline handoff close ID -r approved` (or reply approve), "
                f"then `ragline agent resume {outcome.run_id}`",
                "dim",
            )
        )


def _tools(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [t.strip() for t in value.split(",") if t.strip()]


@agent_app.command("run")
def run(
    task: str = typer.Argument(..., help="What the agent should do."),
    collection: str | None = CollectionOpt,
    tools: str | None = typer.Option(
        None, "--tools", help="Comma-separated tools it may call (default: agent.tools / all)."
    ),
    max_steps: int | None = typer.Option(
        None, "--max-steps", help="Step budget (default: agent.max_steps)."
    ),
    max_seconds: float | None = typer.Option(
        None, "--max-seconds", help="Wall-time budget (default: agent.max_seconds)."
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Model (default: agent.model)."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Run a task: plan, check, run the steps, answer with sources."""
    console = Console()
    with open_api() as rag:
        events = rag.agent_stream(
            task,
            collection=collection,
            tools=_tools(tools),
            model=model,
            max_steps=max_steps,
            max_seconds=max_seconds,
        )
        outcome = _render(events, console, live=not as_json)
    if as_json:
        print_json(outcome.to_dict())
        return
    _print_outcome(outcome, console)


@agent_app.command("resume")
def resume(
    run_id: str = typer.Argument(..., help="The run's id (from `agent run` or `agent list`)."),
    force: bool = typer.Option(
        False, "--force", help="Resume a run marked running whose process is gone elsewhere."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Go on with a run from its checkpoint (after an approval, or a crash)."""
    console = Console()
    with open_api() as rag:
        outcome = _render(rag.agent_resume(run_id, force=force), console, live=not as_json)
    if as_json:
        print_json(outcome.to_dict())
        return
    _print_outcome(outcome, console)


@agent_app.command("show")
def show(
    run_id: str = typer.Argument(..., help="The run's id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a run: its status, steps, budgets used and answer."""
    with open_api() as rag:
        data = rag.agent_show(run_id)
    if as_json:
        print_json(data)
        return
    out = data["outcome"]
    typer.echo(f"{data['id']}  {data['status']}  (created {data['created_at']})")
    typer.echo(f"  task: {data['task']}")
    if data["collection"]:
        typer.echo(f"  collection: {data['collection']}")
    typer.echo(f"  reason: {out['reason']}")
    used, budgets = out["used"], data["budgets"]
    typer.echo(
        f"  used: {used.get('steps', 0)}/{budgets.get('max_steps')} steps, "
        f"{used.get('tokens', 0)}/{budgets.get('max_tokens')} tokens, "
        f"{used.get('seconds', 0)}/{budgets.get('max_seconds')} s"
    )
    for s in out["steps"]:
        line = f"  [{s['round']}] {s['step']} {s['tool']} {s['status']}"
        if s["error"]:
            line += f": {s['error']}"
        typer.echo(line)
    if out["answer"]:
        typer.echo("")
        typer.echo(out["answer"])
    for i, src in enumerate(out["sources"], start=1):
        typer.echo(f"  [{i}] {src['source']}")


@agent_app.command("list")
def list_runs(
    status: str = typer.Option("all", "--status", "-s", help="running, waiting, done, …, all."),
    limit: int = typer.Option(20, "--limit", "-n", help="How many, newest first."),
    offset: int = typer.Option(0, "--offset", help="Skip this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List runs, newest first."""
    from ragline.store.agent_base import check_run_status

    with open_api() as rag:
        runs = rag.agent_runs.list_runs(status=check_run_status(status), limit=limit, offset=offset)
    if as_json:
        print_json([r.to_dict(state=False) for r in runs])
        return
    if not runs:
        typer.echo("no agent runs")
        return
    table = Table()
    for name in ("id", "status", "created"):
        table.add_column(name, no_wrap=True)
    table.add_column("task")
    for r in runs:
        table.add_row(r.id, r.status, r.created_at, Text(_short(r.task, 60)))
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(agent_app, name="agent")


__all__ = ["register"]
