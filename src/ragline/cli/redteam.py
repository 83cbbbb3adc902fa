"""``ragline redteam -c COLLECTION``: attack the real answer path, with and without defenses.

    ragline redteam -c sample                          # the shipped library, a table
    ragline redteam -c sample --json                   # the whole report as JSON
    ragline redteam -c sample --attacks my.jsonl --benign xstest_prompts.csv -o report.html
    ragline redteam -c sample --defenses input_guards,document_scan

Runs every attack under: all defenses on, all off, and each defense alone; prints the attack
success rate per category and the false-refusal rate on benign prompts. Planted attacks go
into a scratch copy of the collection's documents, deleted afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ragline.cli.common import CollectionOpt


def redteam(
    collection: str | None = CollectionOpt,
    attacks: Path | None = typer.Option(
        None,
        "--attacks",
        help="Attacks file (JSON list / {'attacks': [...]} or JSONL: id, category, prompt, "
        "markers, plant). Default: the shipped library.",
    ),
    benign: Path | None = typer.Option(
        None,
        "--benign",
        help="Benign prompts for the false-refusal rate: XSTest-style CSV (safe rows), JSONL "
        "(text) or one per line. Default: the shipped sample.",
    ),
    defenses: str | None = typer.Option(
        None,
        "--defenses",
        help="Comma-separated defenses to measure (input_guards, output_guards, "
        "document_scan, spotlight, grounding). Default: all.",
    ),
    model: str | None = typer.Option(None, "--model", help="Chat model (default: gateway's)."),
    style: str = typer.Option(
        "generative",
        "--style",
        help="Answer style under attack; generative lets the model follow (or resist) attacks.",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the report: .html (with charts), .md or .json."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Red-team a collection: attack success rate per category, with and without defenses."""
    from ragline.api import Ragline
    from ragline.evaluate.redteam import (
        load_attacks,
        load_benign,
        render_html,
        render_markdown,
        run_redteam,
    )

    attack_list = load_attacks(attacks)
    benign_list = load_benign(benign)
    names = [d.strip() for d in defenses.split(",") if d.strip()] if defenses else None
    console = Console(stderr=True)
    with Ragline() as rag:
        name = rag.settings.default_collection if collection is None else collection
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=json_out,
        ) as bar:
            task = bar.add_task("red team", total=None)

            def progress(config: str, done: int, total: int) -> None:
                bar.update(task, description=f"red team [{config}]", completed=done, total=total)

            report = run_redteam(
                rag,
                name,
                attacks=attack_list,
                benign=benign_list,
                defenses=names,
                model=model,
                style=style,
                progress=progress,
            )
    if output is not None:
        if output.suffix == ".html":
            output.write_text(render_html(report), encoding="utf-8")
        elif output.suffix == ".json":
            output.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
        else:
            output.write_text(render_markdown(report), encoding="utf-8")
        console.print(f"report written to {output}")
    if json_out:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        typer.echo(render_markdown(report))


def register(app: typer.Typer) -> None:
    app.command("redteam")(redteam)
