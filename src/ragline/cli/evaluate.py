"""``ragline eval ...``: run evaluation specs, compare and rank runs, check stability, and
generate and review synthetic eval sets.

    ragline eval run examples/eval/sample-hybrid.yaml     # prints the run id, writes a report
    ragline eval run SPEC --run-id RUN                    # resume an interrupted run
    ragline eval compare RUN_A RUN_B --slice topic        # B - A with bootstrap CIs
    ragline eval rank comparisons.csv | --run RUN         # Elo, Bradley-Terry, TrueSkill
    ragline eval check SPEC                               # run twice: metric stability
    ragline eval generate -c handbook -n 20 -o qa.jsonl   # question/answer/passage triples
    ragline eval review qa.jsonl                          # accept / edit / drop each
    ragline eval runs                                     # list stored runs
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ragline.cli.common import CollectionOpt
from ragline.errors import ConfigError, InvalidQueryError, MalformedInputError

if TYPE_CHECKING:
    from ragline.config import Settings
    from ragline.evaluate.compare import RunComparison
    from ragline.evaluate.ranking import Comparison, Ranking
    from ragline.evaluate.report import RunSummary
    from ragline.evaluate.runner import EvalRunner, RunOutcome
    from ragline.evaluate.stability import StabilityReport
    from ragline.store.evals_base import EvalRun, EvalStore

eval_app = typer.Typer(
    name="eval",
    help="Evaluate: run specs, compare and rank runs, check metrics, build eval sets.",
    no_args_is_help=True,
)
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")


# --------------------------------------------------------------------------- helpers


def _settings() -> Settings:
    from ragline.config import load_settings

    return load_settings()


def reports_dir(settings: Settings) -> Path:
    return Path(settings.eval.reports_dir or Path(settings.home) / "evals")


@contextmanager
def _runner(settings: Settings) -> Iterator[EvalRunner]:
    from ragline.evaluate.runner import EvalRunner
    from ragline.store.factory import open_evals

    store = open_evals(settings)
    runner = EvalRunner(settings, store)
    try:
        yield runner
    finally:
        runner.close()
        store.close()


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Any]:
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def print_json(obj: Any) -> None:
    from ragline.evaluate.report import to_json_text

    typer.echo(to_json_text(obj))


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) for c, w in zip(cells, widths, strict=True)
    ).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _get_run(store: EvalStore, run_id: str) -> EvalRun:
    run = store.get_run(run_id)
    if run is None:
        raise InvalidQueryError(
            f"no evaluation run {run_id!r}", hint="`ragline eval runs` lists the stored runs"
        )
    return run


def _lower_legend(names: Sequence[str]) -> str:
    """A line naming the lower-is-better metrics among ``names`` ("" when there is none)."""
    from ragline.evaluate.report import LOWER_MARK, metric_label

    lower = [n for n in names if metric_label(n) != n]
    return f"{LOWER_MARK} = lower is better ({', '.join(lower)})" if lower else ""


def _summary_table(summary: RunSummary) -> str:
    from ragline.evaluate.report import declines_text, metric_label

    pct = round(summary.confidence * 100)
    rows = [
        [metric_label(m.name), _f(m.mean), f"{_f(m.low)} – {_f(m.high)}", str(m.n), str(m.missing)]
        for m in summary.metrics
    ]
    out = _table(["metric", "mean", f"{pct}% CI", "n", "missing"], rows)
    if legend := _lower_legend([m.name for m in summary.metrics]):
        out += f"\n{legend}"
    if (declines := declines_text(summary)) is not None:
        out += f"\ngrounded answers: {declines}"
    for j in summary.judges:
        if j["kind"] == "rating":
            agree = j.get("agreement") or {}
            out += (
                f"\njudge {j['name']}: {j['verdicts']} verdicts, {j['unparsed']} unparsed, "
                f"mean {_f(j['mean'], 2)}, repeat std {_f(j['within_item_std'], 3)}"
            )
            if agree:
                out += (
                    f"; vs humans (n={agree['n']}): accuracy {_f(agree['accuracy'], 2)}, "
                    f"kappa {_f(agree['kappa'], 2)}, spearman {_f(agree['spearman'], 2)}"
                )
        else:
            out += (
                f"\njudge {j['name']}: {j['pairs']} pairs, {j['unparsed']} unparsed, "
                f"position consistency {_f(j['position_consistency'], 2)}, "
                f"first-position win rate {_f(j['first_position_win_rate'], 2)}, "
                f"longer-answer win rate {_f(j['longer_win_rate'], 2)}, "
                f"length correlation {_f(j['length_correlation'], 2)}"
            )
    return out


def _write_report(settings: Settings, outcome: RunOutcome, out: Path | None) -> Path:
    from ragline.evaluate.report import write_run_report

    folder = out or reports_dir(settings) / outcome.run.run_id
    paths = write_run_report(outcome.run, outcome.summary, outcome.items, folder)
    return paths.html


# --------------------------------------------------------------------------- run


@eval_app.command("run")
def run_cmd(
    spec_path: Path = typer.Argument(..., help="The spec: .yaml, .toml or .json."),
    run_id: str | None = typer.Option(
        None,
        "--run-id",
        help="Resume this run (items already scored are skipped), or name a new one.",
    ),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N items."),
    concurrency: int | None = typer.Option(
        None, "--concurrency", help="Items evaluated at once (default: eval.concurrency)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Report folder (default: $RAGLINE_HOME/evals/RUN_ID)."
    ),
    as_json: bool = JsonOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    allow_code_execution: bool = typer.Option(
        False,
        "--allow-code-execution",
        help="Let the code metric run model-written programs (sandboxed; see "
        "docs/evaluation.md, Code execution). Same as eval.allow_code_execution.",
    ),
) -> None:
    """Run an evaluation spec, store every item's output and scores, write the report."""
    from ragline.evaluate.runner import new_run_id
    from ragline.evaluate.spec import load_spec

    spec = load_spec(spec_path)
    settings = _settings()
    if allow_code_execution:
        settings = settings.model_copy(
            update={"eval": settings.eval.model_copy(update={"allow_code_execution": True})}
        )
    with _runner(settings) as runner, _progress(f"eval {spec.name}", quiet or as_json) as update:
        rid = run_id or new_run_id(spec.name)
        if not as_json:
            typer.echo(f"run {rid}  (resume after an interruption with --run-id {rid})", err=True)
        outcome = runner.run(
            spec, run_id=rid, limit=limit, concurrency=concurrency, progress=update
        )
    html = _write_report(settings, outcome, out)
    if as_json:
        print_json({"run_id": outcome.run.run_id, "report": str(html), **outcome.summary.to_dict()})
        return
    s = outcome.summary
    typer.echo(
        f"run {outcome.run.run_id}: {s.items} items ({outcome.evaluated} evaluated, "
        f"{outcome.skipped} resumed, {s.failed} failed)"
    )
    typer.echo(_summary_table(s))
    for error in s.errors:
        typer.echo(f"error: {error}", err=True)
    typer.echo(f"report: {html}\n        {html.with_suffix('.json')}")


@eval_app.command("runs")
def runs_cmd(
    name: str | None = typer.Option(None, "--name", help="Only runs of this spec name."),
    limit: int = typer.Option(20, "--limit", help="How many (newest first)."),
    as_json: bool = JsonOpt,
) -> None:
    """List stored evaluation runs, newest first."""
    from ragline.store.factory import open_evals

    settings = _settings()
    with closing(open_evals(settings)) as store:
        runs = store.list_runs(name=name, limit=limit)
    if as_json:
        print_json([{k: v for k, v in r.to_dict().items() if k != "config"} for r in runs])
        return
    if not runs:
        typer.echo("no evaluation runs yet: `ragline eval run SPEC`")
        return
    rows = []
    for r in runs:
        means = {m["name"]: m["mean"] for m in r.summary.get("metrics", [])}
        shown = ", ".join(f"{k}={_f(v)}" for k, v in list(means.items())[:3])
        rows.append([r.run_id, r.status, r.created_at, str(r.items_total), shown])
    typer.echo(_table(["run", "status", "created", "items", "metrics"], rows))


@eval_app.command("report")
def report_cmd(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Report folder."),
) -> None:
    """(Re)write a stored run's JSON and HTML report."""
    from ragline.evaluate.report import summarize
    from ragline.evaluate.runner import RunOutcome
    from ragline.store.factory import open_evals

    settings = _settings()
    cfg = settings.eval
    with closing(open_evals(settings)) as store:
        run = _get_run(store, run_id)
        items = store.get_items(run.run_id)
    summary = summarize(
        items,
        slices=run.config.get("slices", []),
        rounds=cfg.bootstrap_rounds,
        confidence=cfg.confidence,
        seed=cfg.seed,
    )
    outcome = RunOutcome(run=run, items=items, summary=summary, skipped=0, evaluated=0, failed=0)
    typer.echo(f"report: {_write_report(settings, outcome, out)}")


# --------------------------------------------------------------------------- compare


def _comparison_table(cmp: RunComparison) -> str:
    from ragline.evaluate.report import metric_label

    pct = round(cmp.confidence * 100)
    lines = [
        f"A = {cmp.run_a} ({cmp.name_a})",
        f"B = {cmp.run_b} ({cmp.name_b})",
        f"{cmp.common_items} common items; deltas are B - A, {pct}% paired bootstrap CI "
        f"({cmp.rounds} rounds); * = the interval excludes 0; better = the run that is "
        "better there (by the metric's direction)",
    ]
    if legend := _lower_legend(cmp.metrics):
        lines.append(legend)
    lines.append("")

    def rows(deltas: Sequence[Any], label: Any) -> list[list[str]]:
        return [
            [
                label(d),
                str(d.n),
                _f(d.mean_a),
                _f(d.mean_b),
                f"{d.delta:+.3f}{' *' if d.significant else ''}",
                f"{_f(d.low)} – {_f(d.high)}",
                _f(d.p_value),
                d.winner_text,
            ]
            for d in deltas
        ]

    headers = ["metric", "n", "A", "B", "delta", f"{pct}% CI", "p", "better"]
    lines.append(_table(headers, rows(cmp.overall(), lambda d: metric_label(d.metric))))
    for field_name in cmp.slices:
        deltas = cmp.by_slice(field_name)
        if deltas:
            lines += ["", f"by {field_name}:"]
            lines.append(
                _table(
                    [field_name, *headers[1:]],
                    rows(deltas, lambda d: f"{d.slice_value} {metric_label(d.metric)}"),
                )
            )
    return "\n".join(lines)


@eval_app.command("compare")
def compare_cmd(
    run_a: str = typer.Argument(..., help="Baseline run id (or unique prefix)."),
    run_b: str = typer.Argument(..., help="Candidate run id (or unique prefix)."),
    slices: list[str] = typer.Option(
        [], "--slice", "-s", help="Slice by this item field (repeatable; default: the specs')."
    ),
    metrics: list[str] = typer.Option([], "--metric", "-m", help="Only these metrics."),
    rounds: int | None = typer.Option(None, "--rounds", help="Bootstrap rounds."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Report folder."),
    as_json: bool = JsonOpt,
) -> None:
    """Per-metric deltas B - A with paired bootstrap CIs, overall and per slice."""
    from ragline.evaluate.compare import compare_runs
    from ragline.evaluate.report import write_compare_report
    from ragline.store.factory import open_evals

    settings = _settings()
    cfg = settings.eval
    with closing(open_evals(settings)) as store:
        a, b = _get_run(store, run_a), _get_run(store, run_b)
        cmp = compare_runs(
            a,
            store.get_items(a.run_id),
            b,
            store.get_items(b.run_id),
            slices=slices or None,
            metrics=metrics or None,
            rounds=rounds or cfg.bootstrap_rounds,
            confidence=cfg.confidence,
            seed=cfg.seed,
        )
    folder = out or reports_dir(settings) / f"compare-{a.run_id}-vs-{b.run_id}"
    paths = write_compare_report(cmp, folder)
    if as_json:
        print_json({"report": str(paths.html), **cmp.to_dict()})
        return
    typer.echo(_comparison_table(cmp))
    typer.echo(f"report: {paths.html}")


# --------------------------------------------------------------------------- rank


def _read_comparisons(path: Path) -> list[Comparison]:
    from ragline.evaluate.ranking import comparisons_from_records, load_comparisons

    if path.suffix.lower() in (".jsonl", ".json"):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MalformedInputError(str(path), f"cannot read: {exc}") from exc
        try:
            if path.suffix.lower() == ".json":
                records = json.loads(text)
            else:
                records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise MalformedInputError(str(path), f"not JSON: {exc}") from exc
        try:
            return comparisons_from_records(records)
        except ConfigError as exc:
            raise MalformedInputError(str(path), exc.message) from exc
    return load_comparisons(path)


def _ranking_table(ranking: Ranking) -> str:
    has_ci = any(r.low is not None for r in ranking.items)
    headers = ["rank", "item", "score", *(["low", "high"] if has_ci else [])]
    digits = 1 if ranking.method == "elo" else 4
    rows = [
        [
            str(r.rank),
            r.item,
            _f(r.score, digits),
            *([_f(r.low, digits), _f(r.high, digits)] if has_ci else []),
        ]
        for r in ranking.items
    ]
    return _table(headers, rows)


@eval_app.command("rank")
def rank_cmd(
    file: Path | None = typer.Argument(
        None, help="Comparisons: CSV or JSONL with left, right, winner (left/right/tie)."
    ),
    runs: list[str] = typer.Option(
        [], "--run", "-r", help="Use the pairwise judge verdicts of this run (repeatable)."
    ),
    method: str = typer.Option("all", "--method", help="elo, bt, trueskill or all."),
    rounds: int = typer.Option(200, "--rounds", help="Bradley-Terry bootstrap rounds."),
    k: float = typer.Option(4.0, "--k", help="Elo K factor."),
    as_json: bool = JsonOpt,
) -> None:
    """Rank systems from pairwise comparisons: Elo, Bradley-Terry (bootstrap CIs), TrueSkill."""
    from ragline.evaluate.judge_stats import comparisons_from_details
    from ragline.evaluate.ranking import (
        bradley_terry_bootstrap,
        elo,
        trueskill_ratings,
    )
    from ragline.store.factory import open_evals

    if method not in ("elo", "bt", "trueskill", "all"):
        raise typer.BadParameter("use elo, bt, trueskill or all", param_hint="--method")
    comparisons: list[Comparison] = _read_comparisons(file) if file else []
    if runs:
        settings = _settings()
        with closing(open_evals(settings)) as store:
            for run_id in runs:
                run = _get_run(store, run_id)
                for item in store.get_items(run.run_id):
                    comparisons += comparisons_from_details(
                        d
                        for d in item.details.values()
                        if isinstance(d, dict) and d.get("kind") == "pairwise"
                    )
    if not comparisons:
        raise ConfigError(
            "no comparisons to rank",
            hint="give a CSV/JSONL file, or --run RUN of a spec with a pairwise metric",
        )
    rankings: dict[str, Ranking] = {}
    if method in ("elo", "all"):
        rankings["elo"] = elo(comparisons, k=k)
    if method in ("bt", "all"):
        # Resamples where an item never wins converge slowly (towards 0): bound the work.
        rankings["bradley_terry"] = bradley_terry_bootstrap(
            comparisons, rounds=rounds, tolerance=1e-6, max_iterations=300
        )
    if method in ("trueskill", "all"):
        rankings["trueskill"] = trueskill_ratings(comparisons)
    if as_json:
        print_json(
            {"comparisons": len(comparisons), **{k_: r.to_dict() for k_, r in rankings.items()}}
        )
        return
    typer.echo(f"{len(comparisons)} comparisons")
    for name, ranking in rankings.items():
        typer.echo(f"\n{name}:\n{_ranking_table(ranking)}")


# --------------------------------------------------------------------------- check


def _stability_table(report: StabilityReport) -> str:
    from ragline.evaluate.report import metric_label

    rows = [
        [
            metric_label(m.metric),
            str(m.n),
            _f(m.agreement),
            _f(m.mean_abs_diff),
            _f(m.spearman),
            _f(m.mean_1),
            _f(m.mean_2),
        ]
        for m in report.metrics
    ]
    out = _table(["metric", "n", "agreement", "mean |diff|", "spearman", "run 1", "run 2"], rows)
    names = list(report.correlations)
    if len(names) > 1:
        corr = [
            [metric_label(n), *(_f(report.correlations[n].get(o), 2) for o in names)] for n in names
        ]
        out += "\n\nSpearman correlation between metrics across items (run 1):\n"
        out += _table(["", *(metric_label(n) for n in names)], corr)
    if legend := _lower_legend([m.metric for m in report.metrics]):
        out += (
            f"\n{legend}: agreeing with a higher-is-better metric shows as a negative correlation"
        )
    return out


@eval_app.command("check")
def check_cmd(
    spec_path: Path = typer.Argument(..., help="The spec to run twice."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N items."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Where to write stability.json."),
    as_json: bool = JsonOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run a spec twice and report each metric's stability and the metrics' correlations."""
    from ragline.evaluate.report import write_json
    from ragline.evaluate.runner import new_run_id
    from ragline.evaluate.spec import load_spec
    from ragline.evaluate.stability import check_spec

    spec = load_spec(spec_path)
    settings = _settings()
    base = new_run_id(f"{spec.name}-check")
    with _runner(settings) as runner:

        def once(rid: str) -> tuple[str, Any]:
            with _progress(rid, quiet or as_json) as update:
                outcome = runner.run(spec, run_id=rid, limit=limit, progress=update)
            return outcome.run.run_id, outcome.items

        report = check_spec(once, base)
    path = write_json(out or reports_dir(settings) / base / "stability.json", report.to_dict())
    if as_json:
        print_json({"report": str(path), **report.to_dict()})
        return
    typer.echo(f"runs {report.run_1} and {report.run_2}: {report.items} items")
    typer.echo(_stability_table(report))
    typer.echo(f"report: {path}")


# --------------------------------------------------------------------------- synthetic


@eval_app.command("generate")
def generate_cmd(
    collection: str | None = CollectionOpt,
    n: int = typer.Option(20, "--n", "-n", help="How many questions."),
    output: Path = typer.Option(
        Path("synthetic.jsonl"), "--out", "-o", help="JSONL file to write (items are 'pending')."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Gateway model (default: eval.judge_model, else the default model)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Passage sampling seed."),
    prompt: str | None = typer.Option(None, "--prompt", help="Prompt name or file."),
) -> None:
    """Write question / answer / source-passage triples from a collection, for review."""
    from ragline.evaluate.synthetic import generate_synthetic, write_items
    from ragline.models.gateway import Gateway
    from ragline.prompts import PromptRegistry
    from ragline.store.factory import open_documents

    settings = _settings()
    cfg = settings.eval
    name = collection or settings.default_collection
    chosen = model or cfg.judge_model or settings.gateway.default_model
    store = open_documents(settings)
    try:
        if not store.has_collection(name):
            from ragline.errors import CollectionNotFoundError

            raise CollectionNotFoundError(name)
        with Gateway(settings) as gateway:
            report = generate_synthetic(
                store,
                gateway,
                name,
                n=n,
                model=chosen,
                seed=cfg.seed if seed is None else seed,
                min_tokens=cfg.synthetic_min_tokens,
                max_tokens=cfg.synthetic_max_tokens,
                concurrency=cfg.concurrency,
                prompt=prompt,
                prompts=PromptRegistry.from_settings(settings),
            )
    finally:
        store.close()
    write_items(output, report.items)
    for failure in report.failures:
        typer.echo(f"skipped: {failure}", err=True)
    typer.echo(
        f"wrote {len(report.items)} pending items to {output} ({len(report.failures)} failed; "
        f"model {report.model}, prompt {report.prompt}); review them: ragline eval review {output}"
    )


@eval_app.command("review")
def review_cmd(
    file: Path = typer.Argument(..., help="A JSONL file from `ragline eval generate`."),
    output: Path | None = typer.Option(
        None, "--out", "-o", help="Where to write the reviewed items (default: FILE itself)."
    ),
) -> None:
    """Accept, edit or drop each pending item (answers read from stdin, one per line)."""
    from ragline.evaluate.synthetic import read_items, review_items, write_items

    items = read_items(file)

    def ask(prompt: str) -> str | None:
        typer.echo(prompt, nl=False)
        line = sys.stdin.readline()
        if not line:
            typer.echo("")
            return None
        return line.rstrip("\n")

    report = review_items(items, ask, typer.echo)
    target = output or file
    write_items(target, report.items)
    typer.echo(
        f"\n{report.accepted} accepted, {report.edited} edited, {report.dropped} dropped, "
        f"{report.pending} still pending; wrote {len(report.items)} items to {target}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


__all__ = ["eval_app", "register"]
