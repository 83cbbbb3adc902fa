"""``/api/agent/runs``: the agent loop over HTTP.

::

    POST /api/agent/runs               {"task": "…", "collection": "docs", "tools": ["search"],
                                        "max_steps": 4}          → the outcome (JSON)
                                        "stream": true           → its events (SSE), named by kind
    GET  /api/agent/runs?status=…      → runs, newest first
    GET  /api/agent/runs/{id}          → the run: outcome, budgets, step log
    POST /api/agent/runs/{id}/resume   {"force": false}          → the outcome (after approval)

A run belongs to the key that started it (its owner); an ``admin`` key sees every run. A
run's step that has side effects waits in the handoff inbox (``/api/handoff``: an operator
closes it with ``{"resolution": "approved"}`` or ``"rejected"``), then ``resume`` goes on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from ragline.errors import ResourceNotFoundError
from ragline.server.auth import Principal, need
from ragline.server.context import ServerContext, get_context
from ragline.server.schemas import BODY_ERRORS, problems
from ragline.server.streaming import EventStreamResponse, sse

router = APIRouter(prefix="/api/agent", tags=["agent"], responses=problems(401, 403, 429))
#: A run's answer: its outcome as JSON, or (``"stream": true``) its events as SSE.
OUTCOME = {
    200: {
        "content": {"application/json": {}, "text/event-stream": {}},
        "description": "the outcome (JSON), or the run's events (server-sent events)",
    }
}


class AgentRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, max_length=4000)
    collection: str | None = Field(None, max_length=200)
    tools: list[str] | None = Field(None, max_length=64)
    max_steps: int | None = Field(None, ge=1, le=1000, description="agent.max_steps if unset")
    max_seconds: float | None = Field(None, gt=0, le=3600)
    stream: bool = False


class AgentResumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: bool = False
    stream: bool = False


def _owner(principal: Principal) -> str | None:
    return None if principal.key is None else principal.key.id


def _visible(ctx: ServerContext, principal: Principal, run_id: str) -> Any:
    """The run's record, if the caller may see it (else the 404 of an unknown one)."""
    record = ctx.rag.agent_runs.load_run(run_id)
    key = principal.key
    if record is None or (key is not None and not key.allows("admin") and record.owner != key.id):
        raise ResourceNotFoundError(
            f"no agent run {run_id!r}", hint="list your runs with GET /api/agent/runs"
        )
    return record


def _stream(events: Any) -> EventStreamResponse:
    from ragline.models.chat import iterate_in_thread

    async def frames() -> AsyncIterator[bytes]:
        async for event in iterate_in_thread(lambda cancel: events):
            yield sse(event.to_dict(), event.kind)

    return EventStreamResponse(frames())


@router.post("/runs", responses={**OUTCOME, **problems(*BODY_ERRORS, 404, 409)})
async def start_run(
    body: AgentRunIn,
    principal: Principal = Depends(need("read")),
    ctx: ServerContext = Depends(get_context),
) -> Any:
    """Run a task (JSON outcome, or ``"stream": true`` for its events)."""
    collection = body.collection or ctx.settings.default_collection
    principal.check_collection(collection)
    kwargs: dict[str, Any] = {
        "collection": collection,
        "tools": body.tools,
        "owner": _owner(principal),
        "max_steps": body.max_steps,
        "max_seconds": body.max_seconds,
    }
    if body.stream:
        return _stream(ctx.rag.agent_stream(body.task, **kwargs))
    outcome = await run_in_threadpool(lambda: ctx.rag.agent_run(body.task, **kwargs))
    return outcome.to_dict()


@router.get("/runs", responses=problems(422))
async def list_runs(
    status: Literal[
        "running", "waiting", "done", "stopped", "failed", "refused", "rejected", "all"
    ] = "all",
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    principal: Principal = Depends(need("read")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Runs newest first (a key that is not admin: its own)."""
    key = principal.key
    owner = None if key is None or key.allows("admin") else key.id
    runs = await run_in_threadpool(
        lambda: ctx.rag.agent_runs.list_runs(
            status=None if status == "all" else status, owner=owner, limit=limit, offset=offset
        )
    )
    return {"runs": [r.to_dict(state=False) for r in runs], "limit": limit, "offset": offset}


@router.get("/runs/{run_id}", responses=problems(404))
async def get_run(
    run_id: str,
    principal: Principal = Depends(need("read")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """A run: its outcome (status, answer, sources, why), budgets and step log."""

    def show() -> dict[str, Any]:
        _visible(ctx, principal, run_id)
        return ctx.rag.agent_show(run_id)

    return await run_in_threadpool(show)


@router.post("/runs/{run_id}/resume", responses={**OUTCOME, **problems(*BODY_ERRORS, 404, 409)})
async def resume_run(
    run_id: str,
    body: AgentResumeIn | None = None,
    principal: Principal = Depends(need("read")),
    ctx: ServerContext = Depends(get_context),
) -> Any:
    """Go on with a run from its checkpoint (after its approval was decided)."""
    opts = body or AgentResumeIn()
    await run_in_threadpool(_visible, ctx, principal, run_id)
    if opts.stream:
        return _stream(ctx.rag.agent_resume(run_id, force=opts.force))

    def resume() -> dict[str, Any]:
        from ragline.agent.outcome import last_outcome

        return last_outcome(ctx.rag.agent_resume(run_id, force=opts.force)).to_dict()

    return await run_in_threadpool(resume)


__all__ = ["router"]
