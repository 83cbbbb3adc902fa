"""Metric directions: the registry, and compare, reports and ``eval check`` reading it
(perplexity and bits per byte are lower-is-better; everything else higher-is-better)."""

from __future__ import annotations

import typing

import pytest

from ragline.cli.evaluate import _comparison_table, _stability_table, _summary_table
from ragline.evaluate import svg
from ragline.evaluate.compare import compare_runs
from ragline.evaluate.metrics import METRICS, metric_direction, metric_info
from ragline.evaluate.report import render_compare_html, render_run_html, summarize
from ragline.evaluate.spec import AnswerMeasure, IFEvalMetric, PerplexityMeasure, RagMeasure
from ragline.evaluate.stability import metric_stability
from ragline.store.evals_base import EvalRun, ItemResult


def test_registry_directions() -> None:
    assert metric_direction("perplexity") == "lower"
    assert metric_direction("bits_per_byte") == "lower"
    for name in ("f1", "ndcg@10", "recall@3", "mrr", "mrr@5", "faithfulness", "pairwise"):
        assert metric_direction(name) == "higher", name
    assert metric_info("ndcg@7").name == "ndcg@k"
    # a judge given its own name in a spec: higher is better, as judge ratings are
    assert metric_info("helpfulness").direction == "higher"
    assert metric_info("helpfulness").description == ""


def test_every_metric_a_spec_can_name_is_registered() -> None:
    names = [
        *typing.get_args(AnswerMeasure),
        *typing.get_args(RagMeasure),
        *typing.get_args(PerplexityMeasure),
        *IFEvalMetric(type="ifeval").names(),
        "judge_pointwise",
        "judge_reference",
        "pairwise",
        "mrr",
    ]
    missing = [n for n in names if n not in METRICS]
    assert missing == []
    lower = sorted(n for n, m in METRICS.items() if not m.higher_is_better)
    assert lower == ["bits_per_byte", "perplexity"]


def _run(run_id: str) -> EvalRun:
    return EvalRun(run_id=run_id, name=run_id, spec_hash="h", config={"slices": ["topic"]})


def _items(ppl: list[float], f1: list[float]) -> list[ItemResult]:
    return [
        ItemResult(
            item_id=f"i{i}",
            ordinal=i,
            input={"topic": "t"},
            scores={"perplexity": p, "bits_per_byte": p / 10, "f1": f},
        )
        for i, (p, f) in enumerate(zip(ppl, f1, strict=True))
    ]


@pytest.fixture
def comparison():
    # B: lower perplexity (better) and lower f1 (worse), on every item
    a = _items([20.0, 22.0, 25.0, 30.0], [0.9, 0.8, 0.7, 0.9])
    b = _items([10.0, 12.0, 16.0, 18.0], [0.5, 0.4, 0.6, 0.5])
    return compare_runs(_run("A"), a, _run("B"), b, rounds=300)


def test_compare_reads_the_direction(comparison) -> None:
    overall = {d.metric: d for d in comparison.overall()}
    ppl, bpb, f1 = overall["perplexity"], overall["bits_per_byte"], overall["f1"]
    assert ppl.delta < 0 and ppl.significant and ppl.direction == "lower"
    assert ppl.better == "B" and ppl.change == "improved"
    assert bpb.better == "B" and bpb.change == "improved"
    assert f1.delta < 0 and f1.better == "A" and f1.change == "regressed"
    row = next(d for d in comparison.to_dict()["deltas"] if d["metric"] == "perplexity")
    assert row["direction"] == "lower" and row["better"] == "B" and row["change"] == "improved"
    by_slice = {d.metric: d for d in comparison.by_slice("topic")}
    assert by_slice["perplexity"].change == "improved" and by_slice["f1"].change == "regressed"


def test_not_significant_names_no_winner() -> None:
    a = _items([10.0, 12.0, 11.0], [0.5, 0.6, 0.4])
    b = _items([11.0, 11.0, 11.0], [0.6, 0.4, 0.5])
    overall = {d.metric: d for d in compare_runs(_run("A"), a, _run("B"), b).overall()}
    assert not overall["perplexity"].significant
    assert overall["perplexity"].better is None and overall["perplexity"].change is None


def test_cli_compare_table_marks_direction_and_winner(comparison) -> None:
    text = _comparison_table(comparison)
    ppl = next(line for line in text.splitlines() if line.startswith("perplexity ↓"))
    f1 = next(line for line in text.splitlines() if line.startswith("f1 "))
    assert " *" in ppl and ppl.rstrip().endswith("B (improved)")
    assert f1.rstrip().endswith("A (B regressed)")
    assert "↓ = lower is better (perplexity, bits_per_byte)" in text


def test_compare_html_colours_by_direction(comparison) -> None:
    html = render_compare_html(comparison)
    assert "perplexity ↓" in html and "lower is better" in html
    assert "<span class='improved'>B (improved)</span>" in html
    assert "<span class='regressed'>A (B regressed)</span>" in html
    # the forest plot: a lower perplexity is green, a lower f1 red
    plot = svg.forest(
        [("perplexity", -8.0, -9.0, -7.0), ("f1", -0.3, -0.4, -0.2)],
        title="t",
        zero_line=True,
        lower_better=[True, False],
    )

    def row(label: str) -> str:  # the marks drawn after a row's label, up to the next text
        return plot.split(f">{label}</text>")[1].split("<text")[0]

    assert svg.GREEN in row("perplexity") and svg.RED not in row("perplexity")
    assert svg.RED in row("f1") and svg.GREEN not in row("f1")


def test_run_report_and_summary_show_the_direction() -> None:
    items = _items([20.0, 22.0, 25.0], [0.9, 0.8, 0.7])
    summary = summarize(items, rounds=100)
    directions = {m.name: m.direction for m in summary.metrics}
    assert directions == {"perplexity": "lower", "bits_per_byte": "lower", "f1": "higher"}
    assert summary.to_dict()["metrics"][0]["direction"] == "lower"
    html = render_run_html(_run("A"), summary, items)
    assert "lower ↓" in html and "higher ↑" in html and "perplexity ↓" in html
    text = _summary_table(summary)
    assert "perplexity ↓" in text and "↓ = lower is better" in text


def test_check_reports_the_direction() -> None:
    a = _items([20.0, 22.0, 25.0, 30.0], [0.9, 0.8, 0.7, 0.6])
    report = metric_stability("r1", a, "r2", a)
    assert report.metric("perplexity").direction == "lower"
    assert report.metric("f1").direction == "higher"
    assert report.to_dict()["metrics"][0]["direction"] == "lower"
    # raw values: perplexity rising as f1 falls is agreement, shown as a negative rho
    assert report.correlations["perplexity"]["f1"] == pytest.approx(-1.0)
    text = _stability_table(report)
    assert "perplexity ↓" in text and "negative correlation" in text
