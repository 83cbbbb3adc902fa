"""``/api/handoff``: the human handoff inbox over HTTP, for operators and for the user.

Operators (``admin`` keys; ``ragline.server.handoff`` has the rules) list the items of their
collections, read a thread, reply and close::

    GET  /api/handoff?status=open|answered|closed|all&limit=50&offset=0
    GET  /api/handoff/{id}
    POST /api/handoff/{id}/reply   {"text": "…", "author": "ana"}       → 201, the message
    POST /api/handoff/{id}/close   {"resolution": "resolved"} (optional) → the item

The user whose answer was handed over (the key that asked: the item's owner) waits for the
reply by polling, and may add messages meanwhile::

    GET  /api/handoff/{id}/messages?after=N   → the messages with seq > N, the status, last
    POST /api/handoff/{id}/messages {"text": "…"}                        → 201, the message

An id the caller may not see is a 404 like an unknown one; a message to a closed item is a
409; an empty text is a 422.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from ragline.server.auth import Principal, need
from ragline.server.context import ServerContext, get_context
from ragline.server.handoff import (
    OPERATOR_ROLE,
    author_of,
    listing,
    owned_item,
    visible_item,
)
from ragline.server.schemas import (
    BODY_ERRORS,
    HandoffCloseIn,
    HandoffItemOut,
    HandoffListOut,
    HandoffMessageIn,
    HandoffMessageOut,
    HandoffMessagesOut,
    HandoffReplyIn,
    problems,
)
from ragline.store.handoff_base import check_status

router = APIRouter(prefix="/api/handoff", tags=["handoff"], responses=problems(401, 403, 429))
ITEM_ERRORS = problems(404)
POST_ERRORS = problems(*BODY_ERRORS, 404, 409)


def _store(ctx: ServerContext) -> Any:
    return ctx.rag.handoffs


@router.get("", response_model=HandoffListOut, responses=problems(422))
async def list_items(
    status: Literal["open", "answered", "closed", "all"] = "open",
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    principal: Principal = Depends(need("read")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Items newest first: an operator sees its collections' items, another key its own."""
    query = listing(principal, check_status(status), limit, offset)
    items = await run_in_threadpool(_store(ctx).list_items, query)
    return {
        "items": [i.to_dict(messages=False) for i in items],
        "limit": limit,
        "offset": offset,
    }


@router.get("/{item_id}", response_model=HandoffItemOut, responses=ITEM_ERRORS)
async def get_item(
    item_id: str,
    principal: Principal = Depends(need("read")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """One item with its whole thread (its owner, or an operator of its collection)."""
    item = await run_in_threadpool(visible_item, _store(ctx), principal, item_id)
    return item.to_dict()


def _reply(ctx: ServerContext, principal: Principal, item_id: str, body: HandoffReplyIn) -> Any:
    store = _store(ctx)
    visible_item(store, principal, item_id, messages=False)
    return store.reply(item_id, body.text, author=author_of(principal, body.author))


@router.post(
    "/{item_id}/reply", response_model=HandoffMessageOut, status_code=201, responses=POST_ERRORS
)
async def reply(
    item_id: str,
    body: HandoffReplyIn,
    principal: Principal = Depends(need(OPERATOR_ROLE)),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """A person's reply: it reaches the user's conversation at the user's next poll."""
    message = await run_in_threadpool(_reply, ctx, principal, item_id, body)
    return message.to_dict()


def _close(
    ctx: ServerContext, principal: Principal, item_id: str, body: HandoffCloseIn | None
) -> Any:
    store = _store(ctx)
    visible_item(store, principal, item_id, messages=False)
    resolution = body.resolution if body is not None else None
    return store.close_item(item_id, author=author_of(principal, None), resolution=resolution)


@router.post(
    "/{item_id}/close",
    response_model=HandoffItemOut,
    responses=problems(*BODY_ERRORS, 404),
)
async def close(
    item_id: str,
    body: HandoffCloseIn | None = None,
    principal: Principal = Depends(need(OPERATOR_ROLE)),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Close the item (closing a closed one changes nothing)."""
    item = await run_in_threadpool(_close, ctx, principal, item_id, body)
    return item.to_dict()


def _since(ctx: ServerContext, principal: Principal, item_id: str, after: int) -> dict[str, Any]:
    store = _store(ctx)
    item = owned_item(store, principal, item_id)
    messages = store.messages_since(item_id, after)
    last = messages[-1].seq if messages else max(after, 0)
    return {
        "id": item.id,
        "status": item.status,
        "messages": [m.to_dict() for m in messages],
        "last": last,
    }


@router.get("/{item_id}/messages", response_model=HandoffMessagesOut, responses=problems(404, 422))
async def messages(
    item_id: str,
    after: int = Query(0, ge=0, description="the last seq already seen"),
    principal: Principal = Depends(need("read")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """The user polls for the person's reply: messages after ``after`` (the owner only)."""
    return await run_in_threadpool(_since, ctx, principal, item_id, after)


def _add(ctx: ServerContext, principal: Principal, item_id: str, text: str) -> Any:
    store = _store(ctx)
    owned_item(store, principal, item_id)
    return store.add_message(item_id, text)


@router.post(
    "/{item_id}/messages", response_model=HandoffMessageOut, status_code=201, responses=POST_ERRORS
)
async def add_message(
    item_id: str,
    body: HandoffMessageIn,
    principal: Principal = Depends(need("read")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """The user adds a message while waiting (the owner only; the item opens again)."""
    message = await run_in_threadpool(_add, ctx, principal, item_id, body.text)
    return message.to_dict()
