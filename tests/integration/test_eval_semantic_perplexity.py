"""Semantic similarity with the real MiniLM and perplexity with the real SmolLM2-135M GGUF."""

from __future__ import annotations

import math
import random

import pytest

from conftest import require_smollm2
from ragline.evaluate.metrics.rag import answer_relevance, context_scores
from ragline.evaluate.metrics.semantic import default_embedder, semantic_similarity

pytestmark = pytest.mark.integration

SENTENCE = (
    "The old lighthouse keeper climbed the spiral stairs every evening to light the lamp "
    "before the ships came home."
)


def shuffled(text: str, seed: int = 0) -> str:
    words = text.rstrip(".").split()
    rng = random.Random(seed)
    while True:
        rng.shuffle(words)
        out = " ".join(words) + "."
        if out != text:
            return out


def test_minilm_similarity_orders_paraphrase_related_unrelated() -> None:
    ref = "Paris is the capital of France."
    paraphrase = semantic_similarity("The capital city of France is Paris.", ref)
    related = semantic_similarity("Lyon is a large city in France.", ref)
    unrelated = semantic_similarity("Bananas are rich in potassium.", ref)
    assert paraphrase > related > unrelated
    assert paraphrase > 0.85 and unrelated < 0.3
    on = answer_relevance("How hot is Venus?", "Venus has a surface temperature of 464 °C.")
    off = answer_relevance("How hot is Venus?", "A double espresso uses 18 grams of coffee.")
    assert on > off + 0.3


def test_context_match_by_real_embeddings() -> None:
    refs = ["Venus is the hottest planet in the solar system."]
    retrieved = [
        "Espresso is brewed under about 9 bars of pressure.",
        "No planet is hotter than Venus, whose thick atmosphere traps heat.",
    ]
    by_text = context_scores(retrieved, refs, min_overlap=0.8)
    assert by_text.relevant == (False, False)
    by_vec = context_scores(
        retrieved, refs, embedder=default_embedder(), min_overlap=0.8, min_cosine=0.6
    )
    assert by_vec.relevant == (False, True)
    assert by_vec.precision == pytest.approx(0.5) and by_vec.recall == 1.0


@pytest.fixture(scope="module")
def scorer():
    require_smollm2()
    from ragline.evaluate.metrics.perplexity import get_perplexity_scorer

    return get_perplexity_scorer(n_ctx=64)


def test_smollm2_perplexity_sanity(scorer) -> None:
    natural = scorer.score(SENTENCE)
    mixed = scorer.score(shuffled(SENTENCE))
    for r in (natural, mixed):
        assert math.isfinite(r.perplexity) and r.perplexity > 1
        assert math.isfinite(r.bits_per_byte) and r.bits_per_byte > 0
        assert r.bytes == len(SENTENCE.encode("utf-8"))
    assert natural.perplexity < mixed.perplexity
    assert natural.bits_per_byte < mixed.bits_per_byte
    # each token of the text is predicted (the BOS token comes first)
    assert natural.tokens == len(scorer.tokens(SENTENCE)) - 1


def test_sliding_windows_cover_long_texts(scorer) -> None:
    text = " ".join([SENTENCE] * 6)  # ~130 tokens, past the 64-token window
    r = scorer.score(text)
    assert r.windows > 2 and r.tokens == len(scorer.tokens(text)) - 1
    assert math.isfinite(r.perplexity) and r.perplexity > 1
    # repeats are predictable once seen: the long text beats the single sentence
    assert r.perplexity < scorer.score(SENTENCE).perplexity


def test_eval_run_with_the_new_metrics(tmp_path, scorer) -> None:
    """A spec lists the new metrics; the harness scores precomputed outputs with them."""
    import json

    from ragline.config import load_settings
    from ragline.evaluate.runner import EvalRunner
    from ragline.evaluate.spec import parse_spec
    from ragline.store.sqlite_evals import SQLiteEvalStore

    venus = "Venus is the hottest planet, with a mean surface temperature of about 464 °C."
    coffee = "A double shot of espresso uses 18 grams of coffee."
    rows = [
        {
            "id": "v",
            "question": "How hot is Venus?",
            "prediction": "Venus has a mean surface temperature of about 464 °C.",
            "answer": "About 464 °C.",
            "contexts": [{"id": "coffee.md", "text": coffee}, {"id": "venus.md", "text": venus}],
            "reference_contexts": ["venus.md"],
        },
        {
            "id": "c",
            "question": "How much coffee is in a double shot?",
            "prediction": "A double shot uses 30 grams of tea.",
            "answer": "18 grams.",
            "contexts": [{"id": "coffee.md", "text": coffee}],
            "reference_contexts": ["coffee.md"],
        },
    ]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = parse_spec(
        {
            "name": "rag-metrics",
            "dataset": "d.jsonl",
            "system": {"output_field": "prediction"},
            "metrics": [
                {"type": "answer", "measures": ["semantic_similarity"]},
                {"type": "rag"},
                {"type": "perplexity", "n_ctx": 64},
            ],
        },
        tmp_path,
    )
    store = SQLiteEvalStore(tmp_path / "evals.db")
    try:
        out = EvalRunner(load_settings(), store).run(spec)
    finally:
        store.close()
    by_id = {i.item_id: i.scores for i in out.items}
    v, c = by_id["v"], by_id["c"]
    assert v["context_precision"] == pytest.approx(0.5) and v["context_recall"] == 1.0
    assert c["context_precision"] == 1.0 and c["context_recall"] == 1.0
    assert v["faithfulness"] == 1.0 and c["faithfulness"] == 0.0
    assert v["answer_relevance"] > 0.5 and 0 < v["semantic_similarity"] <= 1
    assert all(s["perplexity"] > 1 and s["bits_per_byte"] > 0 for s in (v, c))


def test_scorers_on_one_model_share_its_lock(scorer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from ragline.evaluate.metrics.perplexity import get_perplexity_scorer

    other = get_perplexity_scorer(n_ctx=64)
    assert other.llm is scorer.llm and other._lock is scorer._lock
    expected = scorer.score(SENTENCE).nll
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda s: s.score(SENTENCE).nll, [scorer, other] * 2))
    assert got == pytest.approx([expected] * 4, rel=1e-4)


def test_live_retrieval_run_scores_faithfulness_on_the_retrieved_passages(tmp_path) -> None:
    """Without a contexts field, faithfulness reads the passages the system itself retrieved."""
    import json
    import shutil

    from conftest import REPO
    from ragline.api import Ragline
    from ragline.config import load_settings
    from ragline.evaluate.runner import EvalRunner
    from ragline.evaluate.spec import parse_spec
    from ragline.store.sqlite_evals import SQLiteEvalStore

    settings = load_settings()
    docs = tmp_path / "docs"
    shutil.copytree(REPO / "examples" / "sample", docs)
    with Ragline(settings) as rag:
        rag.ingest([docs], collection="sample")
    rows = [
        {
            "id": "ok",
            "question": "How hot is Venus?",
            "prediction": "Venus has a mean surface temperature of about 464 °C.",
        },
        {
            "id": "made-up",
            "question": "How hot is Venus?",
            "prediction": "Venus is covered in oceans of liquid nitrogen at minus 200 degrees.",
        },
    ]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = parse_spec(
        {
            "name": "live-faithfulness",
            "dataset": "d.jsonl",
            "system": {
                "retrieval": {"collection": "sample", "mode": "hybrid", "k": 3},
                "output_field": "prediction",
            },
            "metrics": [{"type": "rag", "measures": ["faithfulness"]}],
        },
        tmp_path,
    )
    store = SQLiteEvalStore(tmp_path / "evals.db")
    try:
        out = EvalRunner(settings, store).run(spec)
    finally:
        store.close()
    scores = {i.item_id: i.scores["faithfulness"] for i in out.items}
    assert scores["ok"] == 1.0
    assert scores["made-up"] == 0.0
