"""Cleaning quality: HTML main-text extraction and mojibake repair.

1. Article extraction benchmark (scrapinghub, 181 pages with hand-made article bodies): the
   HTML loader's own extraction (:func:`ragline.ingest.loaders.extract_html`) is scored with
   the benchmark's convention. Per page, the token 4-gram shingle multisets (tokens are
   ``\\w+``) of truth and prediction give TP/FP/FN, normalised to sum 1; precision is
   averaged over pages that predicted something, recall over pages with a truth; F1 comes
   from the two averages. 95% intervals by bootstrap over pages (1.96 standard deviations,
   as the benchmark does). The stored output of trafilatura 2.0 in the data folder is
   scored by the same code as a check of the evaluator (published: F1 0.958).
2. ftfy's public test cases: exact-match rate of the repair step (:func:`fix_mojibake`
   against the expected encoding fix) and of :func:`clean_text` (against the expected text
   with layout normalised), and the number of negative cases (text that only looks like
   mojibake) that get changed, which must be 0.

    python benchmarks/bench_cleaning.py [--bootstrap 1000]

Exits with status 1 when F1 < 0.93 or a negative case is changed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import bench_data, write_results
from ragline.ingest.cleaning import clean_text, fix_mojibake, normalize_whitespace
from ragline.ingest.loaders import extract_html

F1_FLOOR = 0.93
_TOKEN = re.compile(r"\w+")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")

Counts = tuple[float, float, float]


# --------------------------------------------------------------------------- metric


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    """Multiset of token n-grams; a text shorter than n tokens is one shorter shingle."""
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens)


def match_counts(truth: str, predicted: str) -> Counts:
    """TP, FP, FN of shingles, normalised to sum 1 (all zero when both are empty)."""
    t, p = shingles(truth), shingles(predicted)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == 0 and fn == 0:
        return 1.0
    return 0.0 if tp == 0 and fp == 0 else tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == 0 and fn == 0:
        return 1.0
    return 0.0 if tp == 0 and fn == 0 else tp / (tp + fn)


def aggregate(rows: list[Counts]) -> dict[str, float]:
    precision = statistics.mean(_precision(*r) for r in rows if r[0] + r[1] > 0)
    recall = statistics.mean(_recall(*r) for r in rows if r[0] + r[2] > 0)
    return {
        "f1": 2 * precision * recall / (precision + recall),
        "precision": precision,
        "recall": recall,
    }


def with_intervals(rows: list[Counts], n_bootstrap: int) -> dict[str, float]:
    result = aggregate(rows)
    if n_bootstrap > 1:
        rng = random.Random(0)
        samples: dict[str, list[float]] = {k: [] for k in result}
        for _ in range(n_bootstrap):
            metrics = aggregate([rows[rng.randrange(len(rows))] for _ in rows])
            for key, value in metrics.items():
                samples[key].append(value)
        for key, values in samples.items():
            result[f"{key}_ci"] = 1.96 * statistics.stdev(values)
    return result


# --------------------------------------------------------------------------- benchmarks


def article_extraction(root: Path, n_bootstrap: int) -> dict[str, Any]:
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    pages = {p.name.split(".")[0]: p for p in (root / "html").glob("*.html.gz")}
    if set(pages) != set(truth):
        raise SystemExit("html/ and ground-truth.json do not have the same pages")
    rows: list[Counts] = []
    seconds = 0.0
    empty = 0
    for key in sorted(truth):
        with gzip.open(pages[key], "rt", encoding="utf-8") as f:
            html = f.read()
        start = time.perf_counter()
        _, text, _ = extract_html(html)
        seconds += time.perf_counter() - start
        empty += not text
        rows.append(match_counts(truth[key].get("articleBody", ""), text))
    ours = with_intervals(rows, n_bootstrap)
    ours.update(pages=len(rows), empty=empty, seconds=seconds, pages_per_s=len(rows) / seconds)
    result: dict[str, Any] = {"ragline": ours}
    stored = root / "output" / "trafilatura.json"
    if stored.is_file():
        data = json.loads(stored.read_text(encoding="utf-8"))
        output = data.get("output", data)
        ref_rows = [
            match_counts(truth[k].get("articleBody", ""), output[k].get("articleBody") or "")
            for k in sorted(truth)
        ]
        result["trafilatura_stored"] = {
            "version": data.get("version"),
            **with_intervals(ref_rows, n_bootstrap),
        }
    return result


def _layout(text: str) -> str:
    return normalize_whitespace(_CONTROLS.sub("", text))


def ftfy_cases(root: Path) -> dict[str, Any]:
    cases = []
    for path in sorted(root.glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8")):
            cases.append({**case, "file": path.name})
    per_file: dict[str, dict[str, int]] = {}
    negatives_changed: list[str] = []
    totals = Counter[str]()
    for case in cases:
        expected = case.get("fixed-encoding", case["fixed"])  # we do not uncurl quotes
        repaired = fix_mojibake(case["original"]) == expected
        cleaned = clean_text(case["original"]) == _layout(expected)
        group = "known-failure" if case["expect"] == "fail" else "pass"
        stats = per_file.setdefault(case["file"], Counter())
        for counter in (stats, totals):
            counter["cases"] += 1
            counter["repair_exact"] += repaired
            counter["clean_exact"] += cleaned
            counter[f"{group}_cases"] += 1
            counter[f"{group}_repair_exact"] += repaired
        if "negative" in case["label"].lower():
            totals["negative_cases"] += 1
            if not (repaired and cleaned):
                negatives_changed.append(case["label"])
    return {
        "cases": totals["cases"],
        "repair_exact_rate": totals["repair_exact"] / totals["cases"],
        "clean_exact_rate": totals["clean_exact"] / totals["cases"],
        "expected_pass_cases": totals["pass_cases"],
        "expected_pass_repair_exact_rate": totals["pass_repair_exact"] / totals["pass_cases"],
        "known_failure_cases": totals["known-failure_cases"],
        "known_failures_fixed": totals["known-failure_repair_exact"],
        "negative_cases": totals["negative_cases"],
        "negative_cases_changed": len(negatives_changed),
        "negative_changed_labels": negatives_changed,
        "per_file": {k: dict(v) for k, v in per_file.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap samples")
    args = parser.parse_args()
    data = bench_data() / "cleaning"

    articles = article_extraction(data / "article-extraction-benchmark", args.bootstrap)
    ftfy = ftfy_cases(data / "ftfy_test_cases")

    print("Article extraction benchmark (181 pages, 4-gram shingles)")
    print(f"{'system':<22} {'F1':>15} {'precision':>15} {'recall':>15}")
    for name, m in articles.items():
        cells = [f"{m[k]:.3f} ± {m.get(k + '_ci', 0):.3f}" for k in ("f1", "precision", "recall")]
        print(f"{name:<22} {cells[0]:>15} {cells[1]:>15} {cells[2]:>15}")
    ours = articles["ragline"]
    print(f"ragline extraction: {ours['pages_per_s']:.1f} pages/s, {ours['empty']} empty pages")

    print("\nftfy test cases")
    print(f"{'file':<22} {'cases':>6} {'repair exact':>13} {'clean exact':>12}")
    for name, s in ftfy["per_file"].items():
        print(f"{name:<22} {s['cases']:>6} {s['repair_exact']:>13} {s['clean_exact']:>12}")
    print(
        f"overall: repair exact {ftfy['repair_exact_rate']:.3f}, clean_text exact "
        f"{ftfy['clean_exact_rate']:.3f} of {ftfy['cases']}; expected-to-pass repair exact "
        f"{ftfy['expected_pass_repair_exact_rate']:.3f} of {ftfy['expected_pass_cases']}; "
        f"known failures fixed {ftfy['known_failures_fixed']}/{ftfy['known_failure_cases']}"
    )
    print(f"negative cases changed: {ftfy['negative_cases_changed']} of {ftfy['negative_cases']}")

    write_results(
        "cleaning",
        {"f1_floor": F1_FLOOR, "article_extraction": articles, "ftfy_test_cases": ftfy},
    )
    ok = ours["f1"] >= F1_FLOOR and ftfy["negative_cases_changed"] == 0
    if not ok:
        print(f"FAILED: F1 {ours['f1']:.3f} (floor {F1_FLOOR}) or negative cases changed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
