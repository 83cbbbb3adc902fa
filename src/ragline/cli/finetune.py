"""``ragline finetune``: LoRA adapters for the chat model, a finetuned embedder, re-indexing.

Every input is checked before the long work starts (the data file, the base model, the
output folder); torch and transformers are imported only by the command that trains.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ragline.cli.common import print_json

app = typer.Typer(
    help="Finetune: LoRA adapters for the chat model, embedders for retrieval (docs/finetune.md).",
    no_args_is_help=True,
)
console = Console(stderr=True)


def _progress(label: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeRemainingColumn(),
        console=console,
    )


def _problems(data: object, quiet: bool) -> None:
    problems = getattr(data, "problems", [])
    if problems and not quiet:
        for p in problems[:5]:
            console.print(f"[yellow]skipped line {p.line}:[/] {p.reason}", highlight=False)
        if len(problems) > 5:
            console.print(f"[yellow]… and {len(problems) - 5} more lines skipped[/]")


def _output_folder(output: str, root: Path, what: str) -> Path:
    """``-o``: a NAME (a folder under ``root``, the name checked) or a path with a ``/``."""
    from ragline.models.adapters import check_name

    return Path(output).expanduser() if "/" in output else root / check_name(output, what)


@app.command("chat")
def chat(
    data: Path = typer.Option(
        ..., "--data", help="Chat or preference JSONL (ragline data export)."
    ),
    output: str = typer.Option(
        ..., "--output", "-o", help="Adapter NAME (under finetune.adapters_dir) or a folder."
    ),
    base: str = typer.Option("smollm2-135m", "--base", help="Base model: smollm2-135m, qwen…"),
    epochs: float | None = typer.Option(None, "--epochs", help="Default: finetune.chat_epochs."),
    lr: float | None = typer.Option(None, "--lr", help="Default: finetune.chat_lr."),
    rank: int | None = typer.Option(None, "--rank", help="LoRA rank (finetune.lora_rank)."),
    max_seq_len: int | None = typer.Option(None, "--max-seq-len", help="Tokens per example."),
    layers: int | None = typer.Option(None, "--layers", help="Adapt the top N layers (0: all)."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after N steps."),
    max_minutes: float | None = typer.Option(
        None, "--max-minutes", help="Stop training after this long (then evaluate, export)."
    ),
    eval_data: Path | None = typer.Option(
        None, "--eval-data", help="Held-out JSONL (default: finetune.eval_share of --data)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a LoRA adapter, convert it to GGUF; serve it as the model BASE+NAME."""
    from ragline.config import load_settings
    from ragline.finetune.data import read_chat
    from ragline.models.adapters import base_file

    settings = load_settings()
    folder = _output_folder(output, settings.adapters_dir, "adapter")
    base_file(base, settings)  # an unknown or missing base fails here, before any data work
    train = read_chat(data)
    _problems(train, quiet)
    held = read_chat(eval_data).examples if eval_data is not None else None
    from ragline.finetune.chat import ChatTrainConfig, split_eval, train_chat

    examples = train.examples
    if held is None:
        examples, held = split_eval(examples, settings.finetune.eval_share, settings.finetune.seed)
    config = ChatTrainConfig.from_settings(
        settings,
        base,
        folder,
        epochs=epochs,
        lr=lr,
        rank=rank,
        alpha=2.0 * rank if rank else None,
        max_seq_len=max_seq_len,
        layers=layers,
        max_steps=max_steps,
        max_minutes=max_minutes,
    )
    if not quiet:
        console.print(f"{train.summary()}; {len(examples)} to train, {len(held)} held out")
    with _progress("training") as progress:
        task = progress.add_task("train", total=None, loss="-", visible=not quiet)

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(task, completed=step, total=total, loss=f"{loss:.3f}")

        report = train_chat(
            examples,
            config,
            settings,
            eval_examples=held,
            data_sha256=train.sha256,
            on_step=on_step,
            log=(lambda _: None) if quiet else console.print,
        )
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(f"adapter {folder} ({report.steps} steps, {report.seconds:.0f} s)")
    if report.before is not None and report.after is not None:
        typer.echo(
            f"held-out loss {report.before.loss} -> {report.after.loss}, answer-token accuracy "
            f"{report.before.token_accuracy} -> {report.after.token_accuracy} "
            f"({report.after.examples} examples)"
        )
    typer.echo(f"use it as the model '{report.base}+{folder.name}'")


@app.command("embedder")
def embedder(
    data: Path = typer.Option(..., "--data", help="Triples JSONL: query, positive, negative."),
    output: str = typer.Option(
        "finetuned", "--output", "-o", help="Embedder NAME (under finetune.embedders_dir)."
    ),
    epochs: float | None = typer.Option(
        None, "--epochs", help="Default: finetune.embedder_epochs."
    ),
    lr: float | None = typer.Option(None, "--lr", help="Default: finetune.embedder_lr."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="In-batch negatives."),
    max_seq_len: int | None = typer.Option(None, "--max-seq-len", help="Default: 256 tokens."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after N steps."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Finetune all-MiniLM-L6-v2 (multiple-negatives ranking loss), export ONNX int8."""
    from ragline.config import load_settings
    from ragline.finetune.data import read_triples

    settings = load_settings()
    folder = _output_folder(output, settings.embedders_dir, "embedder")
    triples = read_triples(data)
    _problems(triples, quiet)
    from ragline.finetune.embedder import EmbedderTrainConfig, train_embedder

    f = settings.finetune
    config = EmbedderTrainConfig(
        output=folder,
        epochs=epochs or f.embedder_epochs,
        lr=lr or f.embedder_lr,
        batch_size=batch_size or f.embedder_batch_size,
        max_seq_len=max_seq_len or settings.embedder.max_seq_tokens,
        seed=f.seed,
        threads=f.threads,
        max_steps=max_steps,
    )
    if not quiet:
        console.print(triples.summary())
    with _progress("training") as progress:
        task = progress.add_task("train", total=None, loss="-", visible=not quiet)

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(task, completed=step, total=total, loss=f"{loss:.3f}")

        report = train_embedder(
            triples.examples, config, data_sha256=triples.sha256, on_step=on_step
        )
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(f"embedder {report.name} in {folder} ({report.steps} steps, {report.seconds:.0f} s)")
    typer.echo(
        f"use it: RAGLINE_EMBEDDER__MODEL_PATH={folder}, or re-index a collection with "
        f"`ragline finetune reindex COLLECTION --embedder {folder.name}`"
    )


@app.command("reindex")
def reindex_cmd(
    collection: str = typer.Argument(..., help="The collection to re-index."),
    embedder: str = typer.Option(..., "--embedder", help="Finetuned embedder NAME or folder."),
    into: str | None = typer.Option(
        None, "--into", help="New collection (default: COLLECTION-EMBEDDER)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Copy a collection into a new one embedded by a finetuned embedder."""
    from ragline.api import Ragline
    from ragline.config import load_settings
    from ragline.finetune.embedder import embedder_settings
    from ragline.finetune.reindex import reindex
    from ragline.models.embedder import get_embedder

    settings = load_settings()
    tuned = embedder_settings(embedder, settings)
    target = into or f"{collection}-{Path(embedder).name}"
    with Ragline(settings) as rag, _progress("re-indexing") as progress:
        task = progress.add_task("reindex", total=None, loss="-")
        report = reindex(
            rag,
            collection,
            target,
            get_embedder(tuned.embedder),
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    if as_json:
        print_json(dataclasses.asdict(report))
        return
    typer.echo(
        f"{report.documents} documents, {report.chunks} chunks of {collection!r} → {target!r} "
        f"({report.embedder}, {report.seconds:.1f} s)"
    )
    typer.echo(f"search it with RAGLINE_EMBEDDER__MODEL_PATH={tuned.embedder.model_path}")


@app.command("adapters")
def adapters(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the chat adapters (model name BASE+NAME) under finetune.adapters_dir."""
    from ragline.config import load_settings
    from ragline.models.adapters import list_adapters

    settings = load_settings()
    found = list_adapters(settings)
    if as_json:
        print_json(
            [
                {"model": f"{a.info.base}+{a.info.name}", **json.loads(a.info.to_json())}
                for a in found
            ]
        )
        return
    if not found:
        typer.echo(
            f"no adapters in {settings.adapters_dir}: train one with `ragline finetune chat`"
        )
        return
    for a in found:
        typer.echo(f"{a.info.base}+{a.info.name}\trank {a.info.rank}\t{a.info.examples} examples")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="finetune")
