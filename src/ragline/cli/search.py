"""``ragline search``: one query, or a batch file of queries."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import Progress

from ragline.cli.common import CollectionOpt, open_api, parse_metadata, print_json
from ragline.types import SearchMode

if TYPE_CHECKING:
    from ragline.retrieve.retriever import RankedIds


def _documents(r: RankedIds) -> list[dict[str, object]]:
    """Document-level ranking: each document scored by its best chunk."""
    best: dict[str, float] = {}
    for doc, score in zip(r.doc_ids, r.scores, strict=True):
        if doc not in best:
            best[doc] = score
    return [{"id": d, "score": s} for d, s in best.items()]


def search(
    query: str | None = typer.Argument(None, help="What to search for."),
    collection: str | None = CollectionOpt,
    mode: SearchMode | None = typer.Option(
        None, "--mode", "-m", help="bm25, dense or hybrid (default: retrieval.default_mode)."
    ),
    k: int | None = typer.Option(
        None, "-k", help="How many results (default: retrieval.default_k; batch: batch_k)."
    ),
    source: str | None = typer.Option(None, "--source", help="Only sources matching this glob."),
    where: list[str] = typer.Option([], "--where", help="Metadata filter KEY=VALUE (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
    queries: Path | None = typer.Option(
        None, "--queries", help="Batch mode: a JSONL file of {_id, text} (BEIR queries.jsonl)."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Batch mode: write one JSON line per query here."
    ),
) -> None:
    """Search a collection with BM25, dense vectors or both (hybrid, the default).

    Examples:
      ragline search "how do I reset my password" -k 5
      ragline search --queries queries.jsonl --output run.jsonl --mode bm25 -k 100
    """
    metadata = parse_metadata(where)
    if queries is not None:
        _batch(queries, output, collection, mode, k, source, metadata)
        return
    if not query:
        raise typer.BadParameter("give a query, or --queries FILE for batch mode")
    with open_api() as rag:
        hits = rag.search(
            query, collection=collection, mode=mode, k=k, source=source, metadata=metadata
        )
    if as_json:
        print_json([h.to_dict() for h in hits])
        return
    if not hits:
        typer.echo("no results")
        return
    for h in hits:
        typer.echo(f"{h.rank:>2}. {h.score:.4f}  {h.chunk.location}")
        if flagged := h.chunk.metadata.get("guard"):  # a document guard's finding
            labels = ", ".join(dict.fromkeys(f["label"] for f in flagged.get("flags", [])))
            typer.echo(
                f"    ⚠ flagged by the {flagged.get('decided_by')} guard"
                f"{f' ({labels})' if labels else ''}: kept out of answers unless "
                "guard.document_action is flag"
            )
        snippet = textwrap.shorten(" ".join(h.chunk.text.split()), width=300)
        typer.echo(textwrap.indent(textwrap.fill(snippet, 96), "    "))


def _batch(
    queries_path: Path,
    output: Path | None,
    collection: str | None,
    mode: SearchMode | None,
    k: int | None,
    source: str | None,
    metadata: dict[str, str],
) -> None:
    from ragline.api import read_queries

    qs = read_queries(queries_path)
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        with (
            open_api() as rag,
            Progress(console=Console(stderr=True), disable=output is None) as bar,
        ):
            task = bar.add_task("searching", total=len(qs))
            for qid, ranked in rag.search_batch(
                qs, collection=collection, mode=mode, k=k, source=source, metadata=metadata
            ):
                line = {
                    "query_id": qid,
                    "results": [
                        {"chunk_id": c, "document_id": d, "score": s}
                        for c, d, s in zip(
                            ranked.chunk_ids, ranked.doc_ids, ranked.scores, strict=True
                        )
                    ],
                    "documents": _documents(ranked),
                }
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                bar.advance(task)
    finally:
        if output:
            out.close()
    if output:
        typer.echo(f"wrote {len(qs)} rankings to {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("search")(search)
