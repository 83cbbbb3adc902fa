"""``ragline drift``: compare two windows of traffic (queries, answers, feedback)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from ragline.cli.common import open_api, print_json

if TYPE_CHECKING:
    from ragline.trace.drift import DriftReport


def _num(value: float | None, fmt: str = ".4g") -> str:
    return "—" if value is None else format(value, fmt)


def drift_table(report: DriftReport) -> Table:
    table = Table(
        "test",
        "baseline",
        "current",
        "statistic",
        "threshold",
        "p-value",
        "shifted",
        "n",
        title=f"baseline {report.baseline}  vs  current {report.current}  (alpha {report.alpha})",
        title_justify="left",
    )
    for t in report.tests:
        shifted = "—" if t.shifted is None else ("[red]yes[/]" if t.shifted else "no")
        table.add_row(
            t.name,
            _num(t.baseline),
            _num(t.current),
            _num(t.statistic),
            _num(t.threshold),
            _num(t.p_value, ".3g"),
            shifted,
            f"{t.n_baseline} / {t.n_current}",
        )
    return table


def drift(
    baseline: str = typer.Option(..., "--baseline", "-b", help="Window, e.g. 30d..7d."),
    current: str = typer.Option("7d", "--current", "-c", help="Window, e.g. 7d (until now)."),
    alpha: float | None = typer.Option(None, "--alpha", help="Significance level of each test."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Did the traffic change? Compares query embeddings (MMD permutation test), answer
    length (KS), abstention rate and negative-feedback rate (two-proportion z) between
    two windows, each with its statistic, threshold and verdict. Exits 1 if any shifted.

    Windows are START..END with durations before now (30d, 12h) or dates; a single
    point means until now.

    Example:
      ragline drift --baseline 30d..7d --current 7d
    """
    from ragline.trace.drift import detect_drift
    from ragline.trace.windows import parse_window

    base_w, cur_w = parse_window(baseline), parse_window(current)
    with open_api() as rag:
        cfg = rag.settings.trace
        report = detect_drift(
            rag.traces,
            base_w,
            cur_w,
            embed=lambda texts: rag.embedder.embed(texts),
            alpha=alpha if alpha is not None else cfg.drift_alpha,
            min_samples=cfg.drift_min_samples,
            max_vectors=cfg.drift_max_samples,
        )
    if as_json:
        print_json(report.to_dict())
    else:
        Console(width=max(140, Console().width)).print(drift_table(report))
        typer.echo("drift detected" if report.shifted else "no drift detected")
    if report.shifted:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("drift")(drift)
