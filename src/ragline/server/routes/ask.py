"""``POST /api/collections/{name}/ask``: a grounded answer, streamed as server-sent events.

Each event of the answer vocabulary (``ragline.answer.events``) is one server-sent event named
by its kind, in order: ``start`` (``trace_id``, ``model``, ``collection``), ``retrieved``
(the search query, the passages' numbers and sources), ``token`` (``text``) pieces of the
unchecked draft as the model writes, ``sentence`` (a checked sentence: ``status``, ``kept``,
``rendered``), then ``answer`` (the checked answer ``text``, which replaces the draft),
``citations`` (the passages, each with ``n``, ``text``, ``source``, ``location`` and whether
the answer ``cited`` it), ``done`` (``finish_reason``: ``declined`` or the model's;
``decline_reason``; ``model_finish_reason``, "length" when ``max_tokens`` cut the draft;
``usage``). When guards run (``ragline.guard``), a ``guard`` event carries each decision
(``action``, ``decided_by``, ``reason``, ``flags``); a refused question goes from its
``guard`` event to ``answer`` (the refusal), ``citations`` (none) and ``done``
(``decline_reason`` ``blocked`` or ``handoff``, and ``guard``). Clients skip event names
they do not know: new kinds join the stream this way.
A failure after ``start`` is an ``error`` event carrying the problem body.
``"stream": false`` returns one JSON answer instead. With the answer caches on, a ``cache``
event follows ``start`` (``cached``: ``exact``, ``semantic`` or null, and the ``reason``), the
JSON answer says ``cached``, and the ``X-Ragline-Cache`` header says ``exact``, ``semantic``,
``miss`` or ``off`` (``"cache": false`` in the body skips the caches for this answer).
``max_tokens``, ``temperature``, ``top_p``, ``stop`` and ``seed`` apply to this answer only.
A client that disconnects stops its generation at the next token.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from ragline.answer.events import AnswerDone
from ragline.errors import CollectionNotFoundError
from ragline.server.answering import (
    CACHE_HEADER,
    AnswerRequest,
    answer_events,
    collect,
    with_cache_lookup,
)
from ragline.server.auth import Principal, need_collection
from ragline.server.context import ServerContext, get_context
from ragline.server.generation import Generation, admit
from ragline.server.policy import admit_generation
from ragline.server.problems import problem_for
from ragline.server.routes.feedback import trace_visible
from ragline.server.schemas import BODY_ERRORS, AnswerOut, AskIn, problems
from ragline.server.streaming import EventStreamResponse, event_frames, sse

router = APIRouter(
    prefix="/api/collections",
    tags=["ask"],
    responses=problems(*BODY_ERRORS, 404, 429, 502, 503, 504),
)


async def check_collection(ctx: ServerContext, name: str) -> None:
    if not await run_in_threadpool(ctx.rag.store.has_collection, name):
        raise CollectionNotFoundError(name)


def check_model(ctx: ServerContext, model: str | None) -> None:
    """Resolve the model before admitting the request: an unknown name is a 400, not a 200
    stream that fails."""
    if model is not None:
        ctx.gateway.resolve(model)


def _record_regeneration(ctx: ServerContext, principal: Principal, trace_id: str) -> None:
    """Implicit feedback on an earlier answer, only on a trace the key may read."""
    with contextlib.suppress(Exception):  # implicit feedback must never fail an answer
        store = getattr(ctx.rag.feedback, "store", None)
        if trace_visible(ctx, principal, store, trace_id):
            ctx.rag.feedback.regenerated(trace_id, via="server")


def grounded_admission(
    ctx: ServerContext, principal: Principal, req: AnswerRequest, model: str | None
) -> Any:
    """The key's policy for one grounded answer: its prompt is the question, the history and
    up to ``max_passages`` passages (``ragline.server.policy``)."""
    cfg = ctx.settings.answer
    passages = (req.max_passages or cfg.max_passages) * cfg.passage_max_tokens
    chars = len(req.question) + sum(len(m.get("content", "")) for m in req.history)
    return admit_generation(
        ctx,
        principal,
        model=model,
        prompt_chars=chars,
        max_tokens=int(req.sampling.get("max_tokens") or cfg.max_tokens),
        passages_tokens=passages,
    )


async def _sse(gen: Generation, req: AnswerRequest, path: str) -> AsyncIterator[bytes]:
    ctx = gen.ctx
    async with contextlib.aclosing(gen.events(lambda: answer_events(ctx.rag, req))) as events:
        try:
            async for event in events:
                yield event_frames(event)
        except Exception as exc:  # after the 200: report in-band, keep the server up
            _, body, _ = problem_for(exc, path)
            yield sse(body, "error")


async def collect_answer(gen: Generation, req: AnswerRequest, request: Request) -> dict[str, Any]:
    """Run an answer to the end (or until the client leaves) and return it whole."""
    ctx = gen.ctx
    async with contextlib.aclosing(gen.events(lambda: answer_events(ctx.rag, req))) as events:
        got = await collect(events, request.is_disconnected)
    out: dict[str, Any] = {
        "answer": got.text,
        "citations": [],
        "trace_id": got.started.trace_id if got.started else None,
        "model": got.started.model if got.started else gen.model,
        "finish_reason": "cancelled",
        "usage": {},
        "cached": None,
    }
    if isinstance(done := got.done, AnswerDone):
        out.update(done.to_dict(), citations=done.citations())
    out["guards"] = [g.to_dict() for g in got.guards]
    return out


@router.post(
    "/{name}/ask",
    response_model=AnswerOut,
    responses={200: {"content": {"text/event-stream": {}}, "description": "events or JSON"}},
)
async def ask(
    name: str,
    body: AskIn,
    request: Request,
    response: Response,
    principal: Principal = Depends(need_collection("read")),
    ctx: ServerContext = Depends(get_context),
) -> Any:
    """Answer a question from a collection, with citations (streamed by default)."""
    await check_collection(ctx, name)
    check_model(ctx, body.model)
    if body.regenerate_of:
        await run_in_threadpool(_record_regeneration, ctx, principal, body.regenerate_of)
    req = AnswerRequest(
        question=body.question,
        collection=name,
        history=[m.model_dump() for m in body.history],
        model=body.model,
        sampling=body.sampling(),
        max_passages=body.k,
        style=body.style,
        owner=principal.key.id if principal.key is not None else None,
        cache=body.cache and not body.regenerate_of,  # a regeneration wants a new answer
        readable=principal.key.may_use if principal.key is not None else None,
        user=principal.memory_user(ctx.settings.memory.default_user),
    )
    key = principal.key
    req, cached = await run_in_threadpool(
        with_cache_lookup,
        ctx.rag,
        req,
        key.name if key is not None else None,
        key.id if key is not None else None,
    )
    metered = await run_in_threadpool(grounded_admission, ctx, principal, req, body.model)
    gen = await admit(ctx, body.model, metered)
    if not body.stream:
        try:
            response.headers[CACHE_HEADER] = cached
            return await collect_answer(gen, req, request)
        finally:
            gen.close()
    try:
        return EventStreamResponse(
            _sse(gen, req, request.url.path),
            on_close=lambda _: gen.close(),
            headers={CACHE_HEADER: cached},
        )
    except BaseException:
        gen.close()
        raise
