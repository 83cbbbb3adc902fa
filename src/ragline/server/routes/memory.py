"""``/api/memory``: the caller's own long-term memory over HTTP.

Whose memory is decided by the credential alone (``Principal.memory_user``: the calling
key's, or ``memory.default_user`` on an open server); no parameter names a user, so a key
reads and forgets its own facts only::

    GET    /api/memory?history=false   → {"user", "facts": [...]} (history: superseded too)
    DELETE /api/memory/{fact_id}       → {"forgotten": N} (a current fact with its history)
    DELETE /api/memory                 → {"forgotten": N} (everything)

A fact id of another user is a 404 like an unknown one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from ragline.server.auth import Principal, need
from ragline.server.context import ServerContext, get_context
from ragline.server.schemas import MemoryForgottenOut, MemoryListOut, problems

router = APIRouter(prefix="/api/memory", tags=["memory"], responses=problems(401, 403, 429))


def _user(ctx: ServerContext, principal: Principal) -> str:
    return principal.memory_user(ctx.settings.memory.default_user)


@router.get("", response_model=MemoryListOut, responses=problems(422))
async def list_facts(
    history: bool = False,
    principal: Principal = Depends(need("read")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """The caller's remembered facts, oldest first (``history``: superseded ones too)."""
    user = _user(ctx, principal)
    facts = await run_in_threadpool(ctx.rag.memory.facts, user, history=history)
    return {"user": user, "facts": [f.to_dict() for f in facts]}


@router.delete("/{fact_id}", response_model=MemoryForgottenOut, responses=problems(404))
async def forget_fact(
    fact_id: str,
    principal: Principal = Depends(need("read")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Forget one of the caller's facts (a current one with the values it replaced)."""
    done = await run_in_threadpool(ctx.rag.memory.forget, _user(ctx, principal), fact_id)
    return {"forgotten": done.count}


@router.delete("", response_model=MemoryForgottenOut)
async def forget_all(
    principal: Principal = Depends(need("read")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Forget everything the caller told the assistant."""
    done = await run_in_threadpool(ctx.rag.memory.forget_all, _user(ctx, principal))
    return {"forgotten": done.count}
