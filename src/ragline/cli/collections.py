"""``ragline collections`` and ``ragline stats``."""

from __future__ import annotations

import dataclasses

import typer
from rich.console import Console
from rich.table import Table

from ragline.cli.common import CollectionOpt, open_api, print_json


def collections(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    delete: str | None = typer.Option(None, "--delete", help="Delete this collection."),
) -> None:
    """List collections with their document and chunk counts."""
    with open_api() as rag:
        if delete:
            rag.delete_collection(delete)
            typer.echo(f"deleted collection {delete}")
            return
        infos = rag.collections()
    if as_json:
        print_json([dataclasses.asdict(i) for i in infos])
        return
    if not infos:
        typer.echo("no collections yet: run `ragline ingest PATH` first")
        return
    table = Table("collection", "documents", "chunks", "created")
    for i in infos:
        table.add_row(i.name, str(i.documents), str(i.chunks), i.created_at)
    Console().print(table)


def stats(
    collection: str | None = CollectionOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    latency: bool = typer.Option(
        False, "--latency", help="Latency, TTFT, TPOT, tokens/s, cost and goodput of traces."
    ),
    since: str | None = typer.Option(None, "--since", help="With --latency: window, e.g. 24h."),
) -> None:
    """Size of a collection: documents, chunks, tokens, vocabulary, embedder, file types."""
    if latency:
        from ragline.cli.traces import print_latency

        print_latency(since, as_json)
        return
    with open_api() as rag:
        s = rag.stats(collection)
        path = rag.settings.store_url
    if as_json:
        print_json({**dataclasses.asdict(s), "database": path})
        return
    table = Table("", s.name, show_header=True)
    table.add_row("documents", f"{s.documents:,}")
    table.add_row("chunks", f"{s.chunks:,}")
    table.add_row("tokens", f"{s.tokens:,}")
    table.add_row("BM25 vocabulary", f"{s.vocabulary:,}")
    table.add_row("embedder", f"{s.embedder} ({s.embedding_dim} dims)")
    table.add_row("file types", ", ".join(f"{k} {v}" for k, v in sorted(s.sources.items())))
    table.add_row("database", f"{path} ({s.database_bytes / 1e6:.1f} MB)")
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("collections")(collections)
    app.command("stats")(stats)
