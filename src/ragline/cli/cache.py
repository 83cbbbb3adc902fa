"""``ragline cache``: calibrate the semantic cache on your own question pairs, probe it, and
look at or clear what is cached."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ragline.cli.common import CollectionOpt, print_json

if TYPE_CHECKING:
    from ragline.api import Ragline
    from ragline.cache.calibrate import Pair

cache_app = typer.Typer(
    help="The answer caches (exact and semantic): calibrate the semantic threshold on your own "
    "question pairs, probe the configured cache, show what is cached, clear it.\n\n"
    'A pairs file has one JSON object per line: {"q1": "...", "q2": "...", '
    '"duplicate": true|false} (an "id" is carried through; other fields are ignored).',
    no_args_is_help=True,
)

PairsOpt = typer.Option(
    ..., "--pairs", exists=True, dir_okay=False, help="JSON lines of question pairs."
)


def _open() -> Ragline:
    from ragline.cli.common import open_api

    return open_api()


def _read(path: Path) -> list[Pair]:
    """The file's pairs; each malformed line is reported on stderr and left out."""
    from ragline.cache.calibrate import read_pairs

    pairs, errors = read_pairs(path)
    for message in errors:
        typer.echo(f"skipped: {message}", err=True)
    if errors:
        typer.echo(
            f"{len(errors)} malformed line(s) skipped; "
            'each line must be like {"q1": "...", "q2": "...", "duplicate": true}',
            err=True,
        )
    if not pairs:
        raise typer.BadParameter(f"no usable pair in {path}", param_hint="--pairs")
    return pairs


@contextlib.contextmanager
def _bar(label: str, total: int, quiet: bool) -> Iterator[Callable[[int], None]]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        disable=quiet,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.update(task, advance=n)


@cache_app.command("calibrate")
def calibrate_cmd(
    pairs_file: Path = PairsOpt,
    collection: str | None = CollectionOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Hit rate on duplicates and false-hit rate on non-duplicates at a range of thresholds,
    with and without the near-miss gate, and the threshold to set (cache.threshold)."""
    from ragline.cache.calibrate import calibrate, score_pairs

    pairs = _read(pairs_file)
    with _open() as rag:
        name = collection or rag.settings.default_collection
        rag.store.collection_version(name)  # an unknown collection: a clear error now
        with _bar("scoring pairs", len(pairs), as_json) as advance:
            scores = score_pairs(
                pairs,
                rag.embedder,
                rag.retriever,
                rag.settings,
                collection=name,
                progress=advance,
            )
        report = calibrate(scores, rag.settings)
    if as_json:
        print_json(report)
        return
    _print_calibration(report)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:5.1f}%"


def _print_calibration(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"semantic cache on {report['pairs']} pairs")
    for col in (
        "threshold",
        "hits (gate)",
        "false hits (gate)",
        "hits (cosine only)",
        "false hits (cosine only)",
    ):
        table.add_column(col, justify="right")
    for row in report["table"]:
        g, c = row["with_gate"], row["without_gate"]
        table.add_row(
            f"{row['threshold']:.2f}",
            _pct(g["hit_rate"]),
            _pct(g["false_hit_rate"]),
            _pct(c["hit_rate"]),
            _pct(c["false_hit_rate"]),
        )
    console.print(table)
    if report["rejections_on_non_duplicates"]:
        console.print(
            f"gate and retrieval rejections on non-duplicates: "
            f"{report['rejections_on_non_duplicates']}"
        )
    best = report["recommended_threshold"]
    if best is None:
        console.print(
            f"[yellow]no threshold keeps false hits within "
            f"{_pct(report['max_false_hit_rate']).strip()}[/]: keep the semantic cache off "
            "(cache.semantic = false)"
        )
    else:
        at = report["at_recommended"]["with_gate"]
        console.print(
            f"recommended: cache.threshold = {best:.2f} (hits {_pct(at['hit_rate']).strip()}, "
            f"false hits {_pct(at['false_hit_rate']).strip()}; configured now: "
            f"{report['configured_threshold']:.2f})"
        )


@cache_app.command("probe")
def probe_cmd(
    pairs_file: Path = PairsOpt,
    collection: str | None = CollectionOpt,
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the JSON lines."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run the configured cache as `ask` would: store q1's answer (a stand-in citing its first
    passage; nothing is generated), look q2 up; write hit, score and reason per pair."""
    from ragline.cache.calibrate import probe
    from ragline.store.factory import open_cache

    pairs = _read(pairs_file)
    with _open() as rag, tempfile.TemporaryDirectory(prefix="ragline-probe-") as tmp:
        name = collection or rag.settings.default_collection
        rag.store.collection_version(name)
        # a throwaway cache with the configured settings: the user's cache is left alone
        url = f"sqlite:///{Path(tmp) / 'probe.db'}"
        settings = rag.settings.model_copy(
            update={"cache": rag.settings.cache.model_copy(update={"url": url})}
        )
        scope = rag.answerer.cache_scope(
            rag.answerer.params(),
            samples=None,
            model=None,
            max_passages=None,
            style=rag.settings.answer.style,
            filters=None,
        )
        with _bar("probing", len(pairs), quiet) as advance:
            results = probe(
                pairs,
                settings=settings,
                retriever=rag.retriever,
                embedder=lambda: rag.embedder,
                open_store=lambda: open_cache(settings),
                collection=name,
                scope=scope,
                progress=advance,
            )
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as out:
        for r in results:
            out.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    hits = sum(r.lookup.hit for r in results)
    typer.echo(f"{hits} of {len(results)} pairs hit; wrote {output}", err=True)


@cache_app.command("stats")
def stats_cmd(
    collection: str | None = typer.Option(None, "--collection", "-c", help="One collection."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Entries and hits per collection."""
    from ragline.store.factory import open_cache

    with _open() as rag:
        store = open_cache(rag.settings)
        try:
            stats = [s for s in store.stats() if collection is None or s.collection == collection]
        finally:
            store.close()
        enabled = rag.settings.cache.enabled
    if as_json:
        print_json({"enabled": enabled, "collections": [s.to_dict() for s in stats]})
        return
    if not enabled:
        typer.echo("the answer caches are off (cache.enabled = false)", err=True)
    if not stats:
        typer.echo("nothing cached")
        return
    for s in stats:
        typer.echo(
            f"{s.collection}: {s.entries} entries ({s.semantic_entries} semantic), "
            f"{s.hits} hits, {len(s.scopes)} scope(s)"
        )


@cache_app.command("clear")
def clear_cmd(
    collection: str | None = typer.Option(None, "--collection", "-c", help="One collection."),
) -> None:
    """Delete the cached answers (of one collection, or all)."""
    from ragline.store.factory import open_cache

    with _open() as rag:
        store = open_cache(rag.settings)
        try:
            gone = store.clear(collection)
        finally:
            store.close()
    where = f" of {collection}" if collection else ""
    typer.echo(f"cleared {gone} cached answer(s){where}")


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")


__all__ = ["cache_app", "register"]
