"""``/api/review``: reviewing synthetic QA pairs from the web UI (admins only).

The server reads the review files of one folder, ``server.review_dir`` (off when unset: 404
with the hint that turns it on); a name is a plain file name in that folder::

    GET  /api/review                                   → the files and their counts
    GET  /api/review/{name}?status=pending&limit=50&offset=0
                                                       → counts, version, malformed lines
                                                         and a page of items
    POST /api/review/{name}/decisions  {"accept": [ids], "reject": [ids], "note": "…"}
                                                       → applied, per-id errors, counts

Decisions go through the CLI's code path (``ragline.data.review.decide_file``): the file is
rewritten atomically under a lock with its malformed lines kept, and its data card gets a
``review`` step naming the key that decided. An unknown id is reported in ``errors``; the rest
is applied.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from ragline.server.auth import Principal, need
from ragline.server.context import ServerContext, get_context
from ragline.server.review import (
    REVIEW_ROLE,
    ReviewFiles,
    check_name,
    check_reach,
    review_files,
    reviewer,
)
from ragline.server.schemas import (
    BODY_ERRORS,
    ReviewDecisionIn,
    ReviewDecisionOut,
    ReviewListOut,
    ReviewPageOut,
    problems,
)

router = APIRouter(prefix="/api/review", tags=["review"], responses=problems(401, 403, 404, 429))


def _files(ctx: ServerContext, principal: Principal) -> ReviewFiles:
    check_reach(principal)
    return review_files(ctx.review, ctx.settings.server.review_dir)


@router.get("", response_model=ReviewListOut)
async def list_files(
    principal: Principal = Depends(need(REVIEW_ROLE)),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """The review files of ``server.review_dir`` with their counts (a file that cannot be
    read is listed with its ``error``)."""
    files = _files(ctx, principal)
    return {"files": await run_in_threadpool(files.list_files)}


@router.get("/{name}", response_model=ReviewPageOut, responses=problems(422))
async def page(
    name: str,
    status: Literal["pending", "accepted", "rejected", "all"] = "pending",
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    principal: Principal = Depends(need(REVIEW_ROLE)),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """A page of one file's items of ``status``, in file order, with the file's counts and
    its malformed lines (each with its line number and why)."""
    files = _files(ctx, principal)
    return await run_in_threadpool(
        files.page, check_name(name), status=status, limit=limit, offset=offset
    )


@router.post(
    "/{name}/decisions", response_model=ReviewDecisionOut, responses=problems(*BODY_ERRORS)
)
async def decide(
    name: str,
    body: ReviewDecisionIn,
    principal: Principal = Depends(need(REVIEW_ROLE)),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Accept and reject items by id; unknown ids come back in ``errors``, the rest is
    applied to the file and its data card (as `ragline data review` does)."""
    files = _files(ctx, principal)
    return await run_in_threadpool(
        lambda: files.decide(
            check_name(name),
            accept=body.accept,
            reject=body.reject,
            note=body.note,
            by=reviewer(principal),
        )
    )
