"""``POST /api/feedback``: thumbs, a 1–5 rating and/or a comment on a traced answer.

The answer's ``trace_id`` comes with its ``start`` / ``done`` events. Feedback is stored by
``ragline.feedback`` (linked to the trace); a build without it answers 501. A trace belongs
to its collection: a key that may not read that collection gets the same 404 as for an
unknown trace (so it cannot learn which ids exist), and a trace of no collection (a plain
model call) takes a key of every collection. Handoff items (a coming issue) belong to their
trace's collection too: they should check :func:`trace_visible` the same way.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from ragline.errors import MissingDependencyError
from ragline.server.auth import Principal, need
from ragline.server.context import ServerContext, get_context
from ragline.server.problems import ResourceNotFoundError
from ragline.server.schemas import BODY_ERRORS, FeedbackIn, FeedbackOut, problems

router = APIRouter(prefix="/api", tags=["feedback"], responses=problems(*BODY_ERRORS, 404, 501))


def trace_visible(ctx: ServerContext, principal: Principal, store: Any, trace_id: str) -> bool:
    """Whether ``trace_id`` exists and belongs to a collection the caller may read; a trace
    still queued for the writer is flushed first. Without a way to look traces up, only an
    open server or a key of every collection may write."""
    get_trace = getattr(store, "get_trace", None)
    if get_trace is None:
        return principal.may_read(None)
    trace = get_trace(trace_id)
    if trace is None:
        tracer = getattr(ctx.rag, "tracer", None)
        if tracer is not None:
            tracer.flush()
        trace = get_trace(trace_id)
    return (
        trace is not None
        and trace.trace_id == trace_id  # a whole id: a prefix could point at anyone's trace
        and principal.may_read(trace.summary.collection)
    )


def _check_trace(ctx: ServerContext, principal: Principal, store: Any, trace_id: str) -> None:
    """404 for a trace that is unknown or belongs to a collection the key may not read."""
    if not trace_visible(ctx, principal, store, trace_id):
        raise ResourceNotFoundError(
            f"no answer with trace id {trace_id!r}",
            hint="send the trace_id of an answer's start or done event (of a collection "
            "your key may read)",
        )


def _record(ctx: ServerContext, principal: Principal, body: FeedbackIn) -> list[str]:
    recorder = getattr(ctx.rag, "feedback", None)
    if recorder is None or not hasattr(recorder, "thumbs"):
        raise MissingDependencyError(
            "feedback storage is not available in this build of ragline",
            hint="it comes with ragline.feedback (tracing must be enabled)",
        )
    _check_trace(ctx, principal, getattr(recorder, "store", None), body.trace_id)
    recorded: list[Any] = []
    comment = body.comment
    if body.thumbs is not None:
        recorded.append(recorder.thumbs(body.trace_id, body.thumbs == "up", comment=comment))
        comment = None
    if body.rating is not None:
        recorded.append(recorder.rate(body.trace_id, body.rating, comment=comment))
        comment = None
    if comment is not None:
        recorded.append(recorder.comment(body.trace_id, comment))
    return [str(getattr(r, "kind", "feedback")) for r in recorded]


@router.post("/feedback", response_model=FeedbackOut, status_code=201)
async def feedback(
    body: FeedbackIn,
    principal: Principal = Depends(need("read")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Record feedback on an answer (its ``trace_id``): thumbs up/down, rating, comment."""
    kinds = await run_in_threadpool(_record, ctx, principal, body)
    return {"trace_id": body.trace_id, "recorded": kinds}
