"""``POST /api/collections/{name}/search``: ranked passages, run in the thread pool.

Searches run concurrently (retrieval is numpy and SQLite reads, which release the GIL), each
in a worker thread of the server's pool (``server.threads``).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ragline.errors import InvalidQueryError
from ragline.server.auth import Principal, need_collection
from ragline.server.context import ServerContext, get_context
from ragline.server.schemas import BODY_ERRORS, SearchIn, SearchOut, problems

router = APIRouter(
    prefix="/api/collections", tags=["search"], responses=problems(*BODY_ERRORS, 404, 429, 503)
)


def hit_dict(hit: Any) -> dict[str, Any]:
    return {**hit.to_dict(), "location": hit.chunk.location}


@router.post("/{name}/search", response_model=SearchOut)
async def search(
    name: str,
    body: SearchIn,
    principal: Principal = Depends(need_collection("read")),
    ctx: ServerContext = Depends(get_context),
) -> JSONResponse:
    """Hybrid (default), BM25 or dense search with optional source glob and metadata filters."""
    cfg = ctx.settings
    mode, k = cfg.retrieval.resolve(body.mode, body.k)  # the one place defaults are filled
    if k > cfg.server.max_k:
        raise InvalidQueryError(
            f"k={k} is over this server's limit of {cfg.server.max_k}",
            hint="ask for fewer hits, or raise RAGLINE_SERVER__MAX_K",
        )
    t0 = time.perf_counter()
    hits = await run_in_threadpool(
        ctx.rag.search,
        body.query,
        collection=name,
        mode=mode,
        k=k,
        source=body.source,
        metadata=body.metadata,
    )
    return JSONResponse(
        {
            "query": body.query,
            "collection": name,
            "mode": mode,
            "k": k,
            "took_ms": round((time.perf_counter() - t0) * 1000, 3),
            "hits": [hit_dict(h) for h in hits],
        }
    )
