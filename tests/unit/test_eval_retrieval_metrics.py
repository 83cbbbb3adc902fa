"""Retrieval metrics: hand-computed values, trec_eval conventions, and pytrec_eval agreement."""

from __future__ import annotations

import math
import random

import pytest

from ragline.errors import ConfigError
from ragline.evaluate.metrics import (
    evaluate_run,
    hit_at_k,
    load_qrels,
    ndcg_at_k,
    rank_documents,
    recall_at_k,
    reciprocal_rank,
)

QRELS = {"q": {"d1": 2, "d2": 1, "d3": 0, "d9": 1}}


def test_ndcg_graded_gains_and_ideal_from_qrels() -> None:
    ranking = ["d3", "d1", "d2"]
    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    ideal = 2 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranking, QRELS["q"], 3) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(["d1", "d2", "d9"], QRELS["q"], 3) == pytest.approx(1.0)
    assert ndcg_at_k(["x"], {"a": 0}, 10) == 0.0


def test_recall_mrr_hit() -> None:
    ranking = ["d3", "d1", "d2", "x"]
    assert recall_at_k(ranking, QRELS["q"], 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranking, QRELS["q"], 10) == pytest.approx(2 / 3)
    assert recall_at_k(ranking, QRELS["q"], 10, relevance_level=2) == 1.0
    assert reciprocal_rank(ranking, QRELS["q"]) == 0.5
    assert reciprocal_rank(ranking, QRELS["q"], 1) == 0.0
    assert hit_at_k(ranking, QRELS["q"], 1) == 0.0
    assert hit_at_k(ranking, QRELS["q"], 2) == 1.0
    with pytest.raises(ConfigError):
        hit_at_k(ranking, QRELS["q"], 0)


def test_ties_broken_by_descending_doc_id() -> None:
    assert rank_documents({"a": 1.0, "c": 1.0, "b": 2.0}) == ["b", "c", "a"]


def test_evaluate_run_accepts_scores_or_lists_and_handles_missing_queries() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    report = evaluate_run(qrels, {"q1": ["x", "a"], "q3": ["b"]}, cutoffs=(1, 10))
    assert report.per_query["q1"].values["mrr"] == 0.5
    assert report.per_query["q2"].values["ndcg@10"] == 0.0
    assert report.missing_queries == ("q2",)
    assert report.means["mrr"] == 0.25
    skipped = evaluate_run(qrels, {"q1": {"a": 3.0, "x": 1.0}}, missing="skip")
    assert list(skipped.per_query) == ["q1"]
    assert skipped.means["hit@1"] == 1.0
    with pytest.raises(ConfigError):
        evaluate_run(qrels, {}, cutoffs=(0,))


def test_load_qrels_beir_and_trec(tmp_path) -> None:
    beir = tmp_path / "test.tsv"
    beir.write_text("query-id\tcorpus-id\tscore\n1\tA\t1\n1\tB\t0\n")
    trec = tmp_path / "qrels.txt"
    trec.write_text("1 0 A 2\n2 0 C 1\n")
    assert load_qrels(str(beir)) == {"1": {"A": 1, "B": 0}}
    assert load_qrels(str(trec), min_relevance=2) == {"1": {"A": 2}}


def test_agrees_with_pytrec_eval_on_random_graded_runs() -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(40)]
    qrels = {
        f"q{q}": {d: rng.choice([0, 1, 1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 8))}
        for q in range(30)
    }
    # coarse scores so that ties are common
    run = {q: {d: float(rng.randint(0, 5)) for d in rng.sample(docs, 25)} for q in qrels}
    measures = {"ndcg_cut.3", "ndcg_cut.10", "recall.5", "recall.20", "recip_rank"}
    theirs = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    ours = evaluate_run(qrels, run, cutoffs=(3, 5, 10, 20))
    for q, values in theirs.items():
        mine = ours.per_query[q].values
        assert mine["ndcg@3"] == pytest.approx(values["ndcg_cut_3"], abs=1e-9)
        assert mine["ndcg@10"] == pytest.approx(values["ndcg_cut_10"], abs=1e-9)
        assert mine["recall@5"] == pytest.approx(values["recall_5"], abs=1e-9)
        assert mine["recall@20"] == pytest.approx(values["recall_20"], abs=1e-9)
        assert mine["mrr"] == pytest.approx(values["recip_rank"], abs=1e-9)
