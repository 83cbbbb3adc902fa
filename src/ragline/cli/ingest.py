"""``ragline ingest``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ragline.cli.common import CollectionOpt, open_api, print_json

if TYPE_CHECKING:
    from ragline.ingest.pipeline import IngestEvent


def ingest(
    paths: list[Path] = typer.Argument(..., help="Files and folders (folders are recursive)."),
    collection: str | None = CollectionOpt,
    include: list[str] = typer.Option(
        [], "--include", "-i", help="Only files matching this glob (repeatable), e.g. '*.md'."
    ),
    exclude: list[str] = typer.Option(
        [], "--exclude", "-x", help="Skip files matching this glob (repeatable)."
    ),
    prune: bool = typer.Option(
        False, "--prune", help="Remove documents whose files no longer exist."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Ingest .txt .md .html .pdf .jsonl files into a collection.

    Unchanged files are skipped, changed ones replaced; bad files are reported and skipped.

    Example: ragline ingest docs/ --collection handbook --exclude 'drafts/*'
    """
    err = Console(stderr=True)
    with open_api() as rag:
        progress = Progress(
            TextColumn("[bold]ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[docs]:,} documents written"),
            TextColumn("{task.fields[name]}"),
            console=err,
            disable=quiet or as_json,
            transient=False,
        )
        with progress:
            task = progress.add_task("ingest", total=None, name="", docs=0)

            def on_event(ev: IngestEvent) -> None:
                progress.update(
                    task,
                    total=ev.total,
                    completed=ev.done,
                    name=Path(ev.path).name,
                    docs=ev.documents,
                )

            report = rag.ingest(
                paths,
                collection=collection,
                include=include,
                exclude=exclude,
                prune=prune,
                progress=on_event,
            )
    if as_json:
        print_json(report.to_dict())
    else:
        for f in report.failed:
            err.print(f"[yellow]skipped[/] {f.source}: {f.reason}", highlight=False)
        typer.echo(
            f"collection {report.collection}: {report.added} added, {report.updated} updated, "
            f"{report.unchanged} unchanged, {report.duplicates} duplicates, "
            f"{report.pruned} pruned, {len(report.failed)} failed; "
            f"{report.chunks} chunks in {report.seconds:.1f} s"
            + (
                f"; {report.flagged_chunks} flagged by document guards "
                f"(guard.document_action: {rag.settings.guard.document_action})"
                if report.flagged_chunks
                else ""
            )
        )
        if not report.changed and not report.failed:
            typer.echo("nothing changed: every document was already up to date")
    if report.failed and not (report.added or report.updated or report.unchanged):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
