"""Run summaries and the JSON + HTML reports (inline SVG plots)."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ragline.evaluate.compare import compare_runs
from ragline.evaluate.report import summarize, write_compare_report, write_run_report
from ragline.evaluate.svg import bars, forest, histogram, nice_range
from ragline.store.evals_base import EvalRun, ItemResult


def _items(offset: float = 0.0) -> list[ItemResult]:
    out = []
    for i in range(12):
        out.append(
            ItemResult(
                item_id=f"i{i}",
                ordinal=i,
                input={"topic": "a" if i < 6 else "b<&>", "question": "q?"},
                output=f"<script>alert({i})</script>",
                scores={"f1": min(1.0, i / 11 + offset), "judge": 1 + i % 5, "gone": None},
                details={
                    "answer": {"tokens": 10, "cost": 0.001},
                    "judge": {"kind": "rating", "verdicts": [{"value": 1 + i % 5, "tokens": 5}]},
                },
                error="ModelTimeoutError: slow" if i == 11 else None,
            )
        )
    return out


def _svgs(html: str) -> list[str]:
    found = re.findall(r"<svg.*?</svg>", html, re.S)
    for s in found:
        ET.fromstring(s)  # well-formed XML
    return found


def test_summarize() -> None:
    s = summarize(_items(), slices=["topic"], rounds=200)
    assert s.items == 12 and s.scored == 11 and s.failed == 1
    assert s.errors == ("ModelTimeoutError: slow",)
    f1 = s.metric("f1")
    assert f1.n == 11 and f1.missing == 0 and f1.low <= f1.mean <= f1.high
    assert f1.mean == sum(i / 11 for i in range(11)) / 11
    gone = s.metric("gone")
    assert gone.n == 0 and gone.missing == 11 and math.isnan(gone.mean)
    assert {r.value: r.n for r in s.slices} == {"a": 6, "b<&>": 5}
    assert s.judges[0]["name"] == "judge" and s.judges[0]["kind"] == "rating"
    assert s.tokens == 12 * 10 + 12 * 5 and s.cost is None  # judge verdicts had no price
    d = s.to_dict()
    assert d["metrics"][0]["name"] == "f1" and d["slices"][0]["field"] == "topic"


def test_run_report_files(tmp_path: Path) -> None:
    run = EvalRun(
        run_id="r1",
        name="demo <b>",
        spec_hash="h",
        models=["fake"],
        prompts={"judge": "judge_pointwise_v1@abc"},
        config={"dataset": "d.jsonl"},
    )
    items = _items()
    summary = summarize(items, slices=["topic"], rounds=200)
    paths = write_run_report(run, summary, items, tmp_path / "out")
    data = json.loads(paths.json.read_text())
    assert data["run"]["run_id"] == "r1" and len(data["items"]) == 12
    assert data["summary"]["metrics"][2]["mean"] is None  # NaN written as null
    html = paths.html.read_text()
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "demo &lt;b&gt;" in html and "judge_pointwise_v1@abc" in html
    svgs = _svgs(html)
    assert len(svgs) >= 1 + 3 + 2  # forest plots, a histogram per metric, slice bars


def test_compare_report_files(tmp_path: Path) -> None:
    a = EvalRun(run_id="A", name="a", spec_hash="h", config={"slices": ["topic"]})
    b = EvalRun(run_id="B", name="b", spec_hash="h", config={"slices": ["topic"]})
    cmp = compare_runs(a, _items(), b, _items(0.2), rounds=200)
    paths = write_compare_report(cmp, tmp_path)
    assert json.loads(paths.json.read_text())["common_items"] == 11
    html = paths.html.read_text()
    assert len(_svgs(html)) == 2 and "By topic" in html


def test_svg_helpers_handle_edge_cases() -> None:
    for s in (
        forest([("x", math.nan, math.nan, math.nan), ("y", 0.5, 0.2, 0.9)], title="t"),
        forest([("d", -0.2, -0.5, 0.1)], title="<delta>", zero_line=True),
        histogram([], title="empty"),
        histogram([3.0, 3.0], title="one value"),
        bars([("a", math.nan, 0), ("b", 0.0, 3)], title="bars"),
    ):
        ET.fromstring(s)
    assert nice_range([0.2, 0.9]) == (0.0, 1.0)
    assert nice_range([1.0, 4.5]) == (1.0, 5.0)
    lo, hi = nice_range([-0.8, 0.4], include_zero=True)
    assert lo <= -0.8 and hi >= 0.4
