"""Oracle tests on public benchmark data: IFEval GPT-4 scores, LLMFAO rankings, SciFact metrics.

The data sits in ``../shared/data`` beside the repository or in ``$RAGLINE_BENCH_DATA``;
each test is skipped when its data set is absent.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from ragline.evaluate.ranking import bradley_terry, elo, load_comparisons

DATA = Path(
    os.environ.get("RAGLINE_BENCH_DATA")
    or Path(__file__).resolve().parents[2].parent / "shared/data"
)

pytestmark = pytest.mark.integration


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"benchmark data not found: {path}")
    return path


# --- IFEval ---------------------------------------------------------------------------

#: GPT-4 (2023-11-07 responses) in the IFEval paper, arXiv 2311.07911, in percent
PAPER_GPT4 = {
    "prompt_strict": 76.89,
    "inst_strict": 83.57,
    "prompt_loose": 79.30,
    "inst_loose": 85.37,
}


def test_ifeval_reproduces_the_papers_gpt4_scores() -> None:
    from ragline.evaluate.ifeval import evaluate, load_examples, load_responses

    folder = _need(DATA / "ifeval")
    examples = load_examples(folder / "input_data.jsonl")
    pairs = load_responses(folder / "input_response_data_gpt4_20231107_145030.jsonl")
    assert len(examples) == len(pairs) == 541
    # The files are in the same order; one prompt (key 2785) was reworded after the
    # responses were collected, so they are paired by position, not by prompt text.
    differing = [
        e.key for e, (prompt, _) in zip(examples, pairs, strict=True) if e.prompt != prompt
    ]
    assert differing == [2785]
    report = evaluate(examples, [response for _, response in pairs])
    assert report.strict.instructions == 834
    got = {
        "prompt_strict": 100 * report.strict.prompt_accuracy,
        "inst_strict": 100 * report.strict.instruction_accuracy,
        "prompt_loose": 100 * report.loose.prompt_accuracy,
        "inst_loose": 100 * report.loose.instruction_accuracy,
    }
    for name, paper in PAPER_GPT4.items():
        assert got[name] == pytest.approx(paper, abs=0.5), (name, got)
    # This implementation's exact counts: 417/541, 698/834, 431/541, 714/834.
    assert round(report.strict.prompt_accuracy * 541) == 417
    assert round(report.strict.instruction_accuracy * 834) == 698
    assert round(report.loose.prompt_accuracy * 541) == 431
    assert round(report.loose.instruction_accuracy * 834) == 714

    # The gap to the paper is fully explained by two instructions that the reference code
    # of the paper's time scored at random: keywords:letter_frequency with a non-ASCII-letter
    # "letter" ('#' in key 1122, '!' in key 1129) made it draw a random letter instead. The
    # paper's run scored one of them as failed in strict mode and both in loose mode; with
    # those outcomes, every other decision of ours gives the paper's four numbers exactly.
    random_in_paper = {1122, 1129}
    strict = [list(o.strict) for o in report.outcomes]
    loose = [list(o.loose) for o in report.outcomes]
    positions = {}
    for n, outcome in enumerate(report.outcomes):
        if outcome.key in random_in_paper:
            i = outcome.instruction_ids.index("keywords:letter_frequency")
            positions[outcome.key] = (n, i)
            assert strict[n][i] and loose[n][i]  # the character really is there often enough
            loose[n][i] = False
    n, i = positions[1122]
    strict[n][i] = False
    exact = {
        "prompt_strict": 100 * sum(all(f) for f in strict) / 541,
        "inst_strict": 100 * sum(map(sum, strict)) / 834,
        "prompt_loose": 100 * sum(all(f) for f in loose) / 541,
        "inst_loose": 100 * sum(map(sum, loose)) / 834,
    }
    for name, paper in PAPER_GPT4.items():
        assert round(exact[name], 2) == paper, (name, exact)


# --- LLMFAO rankings ------------------------------------------------------------------


def _golden(path: Path, algorithm: str) -> dict[str, float]:
    with open(path, encoding="utf-8", newline="") as handle:
        return {
            r["item"]: float(r["score"])
            for r in csv.DictReader(handle)
            if r["algorithm"] == algorithm
        }


@pytest.mark.parametrize("name", ["simple", "llmfao"])
def test_bradley_terry_and_elo_match_the_golden_scores(name: str) -> None:
    folder = _need(DATA / "ranking-llmfao")
    comparisons = load_comparisons(folder / f"{name}.csv")
    golden = folder / f"{name}-golden.csv"

    bt = bradley_terry(comparisons).scores
    expected = _golden(golden, "bradley_terry")
    assert set(bt) == set(expected)
    for item, score in expected.items():
        assert bt[item] == pytest.approx(score, rel=1e-4), item

    ratings = elo(comparisons, initial=1000, base=10, scale=400, k=4, tie=0.5).scores
    expected = _golden(golden, "elo")
    assert set(ratings) == set(expected)
    for item, score in expected.items():
        assert ratings[item] == pytest.approx(score, rel=1e-9), item


# --- SciFact retrieval metrics vs pytrec_eval -----------------------------------------


def test_scifact_bm25_metrics_agree_with_pytrec_eval() -> None:
    bm25s = pytest.importorskip("bm25s")
    pytrec_eval = pytest.importorskip("pytrec_eval")
    import Stemmer

    from ragline.evaluate.metrics import evaluate_run, load_qrels

    folder = _need(DATA / "beir-scifact")
    with open(folder / "corpus.jsonl", encoding="utf-8") as handle:
        corpus = [json.loads(line) for line in handle]
    with open(folder / "queries.jsonl", encoding="utf-8") as handle:
        queries = {q["_id"]: q["text"] for q in map(json.loads, handle)}
    qrels = load_qrels(str(folder / "qrels" / "test.tsv"))
    assert len(qrels) == 300

    stemmer = Stemmer.Stemmer("english")
    doc_ids = [d["_id"] for d in corpus]
    tokens = bm25s.tokenize(
        [f"{d['title']} {d['text']}" for d in corpus],
        stopwords="en",
        stemmer=stemmer,
        show_progress=False,
    )
    retriever = bm25s.BM25(k1=1.5, b=0.75)
    retriever.index(tokens, show_progress=False)
    query_ids = sorted(qrels)
    query_tokens = bm25s.tokenize(
        [queries[q] for q in query_ids], stopwords="en", stemmer=stemmer, show_progress=False
    )
    docs, scores = retriever.retrieve(query_tokens, k=100, show_progress=False, n_threads=1)
    run = {
        q: {doc_ids[int(d)]: float(s) for d, s in zip(docs[i], scores[i], strict=True)}
        for i, q in enumerate(query_ids)
    }

    measures = {"ndcg_cut.10", "recall.100", "recip_rank"}
    theirs = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    ours = evaluate_run(qrels, run, cutoffs=(10, 100))
    assert set(theirs) == set(ours.per_query)
    pairs = {"ndcg_cut_10": "ndcg@10", "recall_100": "recall@100", "recip_rank": "mrr"}
    for query_id, values in theirs.items():
        mine = ours.per_query[query_id].values
        for trec_name, our_name in pairs.items():
            assert mine[our_name] == pytest.approx(values[trec_name], abs=1e-6), (
                query_id,
                trec_name,
            )
    for trec_name, our_name in pairs.items():
        mean = sum(v[trec_name] for v in theirs.values()) / len(theirs)
        assert ours.means[our_name] == pytest.approx(mean, abs=1e-6)
    # sanity: bm25s with Lucene-style parameters scores about 0.69 nDCG@10 on SciFact
    assert 0.6 < ours.means["ndcg@10"] < 0.75
