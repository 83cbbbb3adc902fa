"""RAG metrics: context precision / recall (hand-computed), faithfulness, answer relevance,
semantic similarity with a fake embedder, perplexity windows, and their spec wiring."""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from ragline.errors import ConfigError
from ragline.evaluate.metrics.perplexity import PerplexityResult, token_nll, windows
from ragline.evaluate.metrics.rag import (
    RetrievedContext,
    answer_relevance,
    as_context,
    as_ids,
    average_precision,
    context_precision,
    context_recall,
    context_scores,
    faithfulness,
    relevance_matrix,
    token_overlap,
)
from ragline.evaluate.metrics.semantic import corpus_semantic_similarity, semantic_similarity
from ragline.evaluate.scoring import ItemView, PerplexityMetricScorer, RagScorer
from ragline.evaluate.spec import EvalItem, EvalSpec, PerplexityMetric, RagMetric, parse_spec


class FakeEmbedder:
    """Unit vectors from a table: texts starting with the same key point the same way."""

    name = "fake"
    dim = 3
    max_tokens = 128
    TABLE: ClassVar[dict[str, list[float]]] = {
        "cat": [1.0, 0.0, 0.0],
        "kitten": [0.95, 0.312, 0.0],
        "dog": [0.0, 1.0, 0.0],
        "car": [0.0, 0.0, 1.0],
    }

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = [self.TABLE[t.split()[0].strip("?.").lower()] for t in texts]
        v = np.asarray(rows, dtype=np.float32).reshape(len(texts), 3)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


# --------------------------------------------------------------------------- context metrics


def test_average_precision_hand_computed() -> None:
    # relevant at ranks 1 and 3: (1/1 + 2/3) / 2
    assert average_precision([True, False, True]) == pytest.approx(5 / 6)
    # relevant at ranks 2 and 3: (1/2 + 2/3) / 2
    assert average_precision([False, True, True]) == pytest.approx(7 / 12)
    assert average_precision([False, False]) == 0.0
    assert average_precision([]) == 0.0


def test_context_precision_and_recall_by_id() -> None:
    retrieved = as_ids(["x", "docs/a.md", "y", "b"])
    refs = as_ids(["a.md", "b", "c"])
    s = context_scores(retrieved, refs)
    assert s.relevant == (False, True, False, True)
    assert s.precision == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert s.found == (True, True, False)
    assert s.recall == pytest.approx(2 / 3)
    assert context_precision(retrieved, refs) == s.precision
    assert context_recall(retrieved, refs) == s.recall
    assert context_recall(retrieved, []) is None


def test_context_match_by_text_overlap() -> None:
    ref = "The Eiffel Tower is 330 metres tall."
    retrieved = [
        "Bananas are yellow and grow in bunches.",
        "Paris landmarks: the Eiffel Tower is 330 metres tall, including its antennas.",
    ]
    assert token_overlap(ref, retrieved[1]) == 1.0
    s = context_scores(retrieved, [ref])
    assert s.relevant == (False, True)
    assert s.precision == pytest.approx(0.5) and s.recall == 1.0
    # a stricter threshold than the best overlap of the banana passage changes nothing
    assert context_scores(retrieved, [ref], min_overlap=1.0).relevant == (False, True)


def test_context_match_by_embedding_threshold() -> None:
    emb = FakeEmbedder()
    retrieved = ["dog park", "kitten naps", "car wash"]
    refs = ["cat food"]
    m = relevance_matrix(retrieved, refs, embedder=emb, min_cosine=0.9)
    assert m[:, 0].tolist() == [False, True, False]  # cos(kitten, cat) = 0.95
    s = context_scores(retrieved, refs, embedder=emb, min_cosine=0.9)
    assert s.precision == pytest.approx(1 / 2) and s.recall == 1.0
    strict = context_scores(retrieved, refs, embedder=emb, min_cosine=0.99)
    assert strict.precision == 0.0 and strict.recall == 0.0


def test_as_context_reads_strings_and_mappings() -> None:
    assert as_context("hi") == RetrievedContext(text="hi")
    assert as_context({"doc_id": 7, "content": "x"}) == RetrievedContext(text="x", id="7")
    with pytest.raises(ConfigError):
        as_context(3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- answer metrics


def test_answer_relevance_with_fake_embedder() -> None:
    emb = FakeEmbedder()
    assert answer_relevance("cat?", "kitten facts", embedder=emb) == pytest.approx(0.95, abs=1e-3)
    assert answer_relevance("cat?", "car facts", embedder=emb) == pytest.approx(0.0, abs=1e-6)
    gen = ["cat one", "dog two"]  # mean of 1 and 0
    assert answer_relevance("cat?", "x", embedder=emb, generated_questions=gen) == pytest.approx(
        0.5, abs=1e-6
    )
    assert answer_relevance("", "kitten", embedder=emb) == 0.0


def test_semantic_similarity_best_reference() -> None:
    emb = FakeEmbedder()
    assert semantic_similarity("cat", ["dog", "kitten"], embedder=emb) == pytest.approx(
        0.95, abs=1e-3
    )
    assert semantic_similarity("", "cat", embedder=emb) == 0.0
    c = corpus_semantic_similarity(["cat", "car"], ["cat", "dog"], embedder=emb)
    assert c.count == 2 and c.score == pytest.approx(0.5, abs=1e-6)
    with pytest.raises(ConfigError):
        corpus_semantic_similarity(["cat"], [], embedder=emb)


COFFEE = (
    "Espresso forces water at about 9 bars of pressure through a fine puck of coffee. "
    "A double shot uses 18 grams of coffee and takes 25 to 30 seconds to pull."
)
VENUS = "Venus is the hottest planet, with a mean surface temperature of about 464 °C."


def test_faithfulness_with_the_answer_checker() -> None:
    answer = (
        "A double shot uses 18 grams of coffee [1]. "
        "Venus is the coldest planet, at about 120 °C. "
        "The answer is not in the passages."
    )
    f = faithfulness(answer, [COFFEE, VENUS], question="How much coffee is in a double shot?")
    assert [c.supported for c in f.claims] == [True, False]  # the decline is not a claim
    assert f.claims[0].passage == 1 and f.claims[0].text.endswith("coffee.")
    assert f.score == pytest.approx(0.5)
    assert [c.text for c in f.unsupported] == ["Venus is the coldest planet, at about 120 °C."]
    full = faithfulness("Venus has a mean surface temperature of about 464 °C.", [COFFEE, VENUS])
    assert full.score == 1.0 and full.claims[0].passage == 2
    assert faithfulness("Is it?", [COFFEE]).score is None
    assert faithfulness("Espresso uses 9 bars.", []).score == 0.0


# --------------------------------------------------------------------------- perplexity maths


def test_token_nll_is_negative_log_softmax() -> None:
    logits = np.array([[0.0, 0.0], [math.log(3.0), 0.0]])
    nll = token_nll(logits, [0, 0])
    assert nll == pytest.approx([math.log(2), -math.log(3 / 4)])


def test_windows_score_every_position_once() -> None:
    for length, n_ctx, stride in [(10, 4, 2), (5, 8, 4), (2, 4, 2), (100, 16, 5)]:
        spans = windows(length, n_ctx, stride)
        targets = [p for _, end, first in spans for p in range(first, end)]
        assert targets == list(range(1, length))
        assert all(end - begin <= n_ctx and begin < first for begin, end, first in spans)
    assert windows(1, 4, 2) == []
    with pytest.raises(ConfigError):
        windows(10, 4, 4)


def test_perplexity_result_values() -> None:
    r = PerplexityResult(nll=4 * math.log(2), tokens=4, bytes=8)
    assert r.perplexity == pytest.approx(2.0)
    assert r.bits_per_byte == pytest.approx(0.5)
    assert math.isnan(PerplexityResult(0.0, 0, 0).perplexity)


# --------------------------------------------------------------------------- spec wiring


def _spec(metrics: list[dict], system: dict) -> EvalSpec:
    return parse_spec(
        {"name": "t", "dataset": "d.jsonl", "system": system, "metrics": metrics}, Path(".")
    )


def test_spec_declares_the_new_metrics() -> None:
    spec = _spec(
        [
            {"type": "answer", "measures": ["f1", "semantic_similarity"]},
            {"type": "rag"},
            {"type": "perplexity", "n_ctx": 256},
        ],
        {"output_field": "prediction"},
    )
    assert spec.metric_names() == [
        "f1",
        "semantic_similarity",
        "context_precision",
        "context_recall",
        "faithfulness",
        "answer_relevance",
        "perplexity",
        "bits_per_byte",
    ]
    # context metrics on precomputed rankings need no outputs; faithfulness does
    ok = _spec(
        [{"type": "rag", "measures": ["context_precision", "context_recall"]}],
        {"retrieved_field": "ranking"},
    )
    assert isinstance(ok.metrics[0], RagMetric)
    with pytest.raises(ConfigError, match="outputs"):
        _spec([{"type": "rag", "measures": ["faithfulness"]}], {"retrieved_field": "ranking"})
    with pytest.raises(ConfigError):
        _spec([{"type": "rag", "measures": ["nope"]}], {"output_field": "p"})
    ppl = _spec([{"type": "perplexity", "text_field": "text"}], {"retrieved_field": "r"})
    assert isinstance(ppl.metrics[0], PerplexityMetric)


def test_rag_scorer_on_ranked_ids_and_item_contexts() -> None:
    metric = RagMetric(type="rag", measures=("context_precision", "context_recall"))
    item = EvalItem("q1", 0, {"reference_contexts": ["a.md", "c"]})
    view = ItemView(item, "q?", None, ["docs/a.md", "b", "c"])
    values, detail = RagScorer(metric).score(view)
    assert values == {
        "context_precision": pytest.approx((1 + 2 / 3) / 2),
        "context_recall": 1.0,
    }
    assert detail["contexts"]["relevant"] == [True, False, True]
    item = EvalItem("q2", 1, {"contexts": [{"id": "z", "text": VENUS}], "reference_contexts": []})
    values, _ = RagScorer(metric).score(ItemView(item, "q?", None, []))
    assert values == {"context_precision": 0.0, "context_recall": None}
    values, _ = RagScorer(metric).score(ItemView(EvalItem("q3", 2, {}), "q?", None, ["a"]))
    assert values == {"context_precision": None, "context_recall": None}


def test_rag_scorer_faithfulness_from_item_contexts() -> None:
    metric = RagMetric(type="rag", measures=("faithfulness",))
    item = EvalItem("q1", 0, {"contexts": [COFFEE, VENUS]})
    view = ItemView(item, "How hot is Venus?", "Venus is about 464 °C hot.", [])
    values, detail = RagScorer(metric).score(view)
    assert values == {"faithfulness": 1.0} and detail["faithfulness"]["claims"] == 1


def test_perplexity_scorer_without_text_scores_none() -> None:
    scorer = PerplexityMetricScorer(PerplexityMetric(type="perplexity"))
    values, _ = scorer.score(ItemView(EvalItem("q", 0, {}), "q?", None, []))
    assert values == {"perplexity": None, "bits_per_byte": None}


def test_a_bare_reference_string_matches_a_passage_id() -> None:
    retrieved = [
        RetrievedContext(text="Espresso.", id="coffee.md"),
        RetrievedContext(text="Venus.", id="docs/v.md"),
    ]
    s = context_scores(retrieved, ["v.md"])
    assert s.relevant == (False, True) and s.precision == pytest.approx(0.5)
