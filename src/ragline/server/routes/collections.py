"""``/api/collections``: list, create, inspect and delete collections; read one passage."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool

from ragline.errors import CollectionNotFoundError
from ragline.server.auth import Principal, need, need_collection
from ragline.server.context import ServerContext, get_context
from ragline.server.problems import ResourceNotFoundError
from ragline.server.schemas import BODY_ERRORS, CollectionCreate, CollectionOut, problems

router = APIRouter(
    prefix="/api/collections", tags=["collections"], responses=problems(*BODY_ERRORS, 404)
)


@router.get("", response_model=list[CollectionOut])
async def list_collections(
    principal: Principal = Depends(need("read")), ctx: ServerContext = Depends(get_context)
) -> list[dict[str, Any]]:
    """Collections this key may use, with their document and chunk counts."""
    infos = await run_in_threadpool(ctx.rag.collections)
    allowed = set(principal.visible(i.name for i in infos))
    return [dataclasses.asdict(i) for i in infos if i.name in allowed]


@router.post("", response_model=CollectionOut, status_code=201)
async def create_collection(
    body: CollectionCreate,
    principal: Principal = Depends(need("ingest")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Create an empty collection (creating an existing one changes nothing)."""
    principal.check_collection(body.name)

    def create() -> dict[str, Any]:
        ctx.rag.store.create_collection(body.name)
        info = next(i for i in ctx.rag.collections() if i.name == body.name)
        return dataclasses.asdict(info)

    return await run_in_threadpool(create)


@router.get("/{name}")
async def collection_stats(
    name: str,
    principal: Principal = Depends(need_collection("read")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Size of a collection: documents, chunks, tokens, vocabulary, embedder, file types."""
    stats = await run_in_threadpool(ctx.rag.stats, name)
    return dataclasses.asdict(stats)


@router.delete("/{name}", status_code=204)
async def delete_collection(
    name: str,
    principal: Principal = Depends(need_collection("admin")),
    ctx: ServerContext = Depends(get_context),
) -> Response:
    """Delete a collection and everything in it (admin keys only)."""

    def delete() -> None:
        if not ctx.rag.store.has_collection(name):
            raise CollectionNotFoundError(name)
        ctx.rag.delete_collection(name)

    await run_in_threadpool(delete)
    return Response(status_code=204)


@router.get("/{name}/chunks/{chunk_id}")
async def get_chunk(
    name: str,
    chunk_id: str,
    principal: Principal = Depends(need_collection("read")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """One passage with where it comes from (what a citation points at)."""
    chunks = await run_in_threadpool(ctx.rag.store.get_chunks, name, [chunk_id])
    if not chunks:
        raise ResourceNotFoundError(
            f"no passage {chunk_id!r} in collection {name!r}",
            hint="passage ids come from search hits and citations (chunk_id)",
        )
    c = chunks[0]
    return {**dataclasses.asdict(c), "location": c.location}
