"""BM25 against bm25s (the reference implementation) on the same analyzed tokens."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import bench_data
from ragline.retrieve.analyzer import Analyzer
from ragline.retrieve.bm25 import BM25Index, top_k
from ragline.store.base import IndexData


def index_data(docs_terms: list[dict[str, int]]) -> IndexData:
    vocab: dict[str, int] = {}
    ids, tfs, indptr = [], [], [0]
    for tf in docs_terms:
        for t, f in tf.items():
            ids.append(vocab.setdefault(t, len(vocab) + 100))  # ids need not be dense
            tfs.append(f)
        indptr.append(len(ids))
    return IndexData(
        version=1,
        chunk_ids=[f"c{i}" for i in range(len(docs_terms))],
        lengths=np.array([sum(tf.values()) for tf in docs_terms], dtype=np.int32),
        indptr=np.array(indptr, dtype=np.int64),
        term_ids=np.array(ids, dtype=np.int32),
        tfs=np.array(tfs, dtype=np.int32),
        embeddings=np.zeros((0, 0), dtype=np.float32),
        doc_ids=[f"d{i}" for i in range(len(docs_terms))],
        vocabulary=vocab,
    )


def scifact_sample(n: int = 400):
    path = bench_data() / "beir-scifact"
    if not path.is_dir():
        pytest.skip("benchmark data not available")
    docs = []
    with (path / "corpus.jsonl").open() as f:
        for line in f:
            d = json.loads(line)
            docs.append(d["title"] + "\n" + d["text"])
            if len(docs) == n:
                break
    queries = [json.loads(line)["text"] for line in (path / "queries.jsonl").open()][:50]
    return docs, queries


def test_scores_match_bm25s_lucene():
    bm25s = pytest.importorskip("bm25s")
    docs, queries = scifact_sample()
    analyzer = Analyzer()
    terms = [analyzer.terms(d) for d in docs]
    ours = BM25Index(index_data([analyzer.term_freqs(d) for d in docs]), analyzer, k1=1.5, b=0.75)
    ref = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    ref.index(terms, show_progress=False)
    checked = 0
    for q in queries:
        qterms = analyzer.terms(q)
        if not qterms or len(set(qterms)) != len(qterms):
            continue  # compare on queries without repeated terms
        expected = ref.get_scores(qterms)
        got = ours.score(q)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
        checked += 1
    assert checked >= 20


def test_unknown_terms_and_empty_index():
    analyzer = Analyzer()
    idx = BM25Index(index_data([analyzer.term_freqs("solar panels on the roof")]), analyzer)
    assert idx.score("zebra quantum").tolist() == [0.0]
    assert idx.score("panel").tolist()[0] > 0  # stemming: panels -> panel
    empty = BM25Index(index_data([]), analyzer)
    assert empty.score("anything").size == 0


def test_top_k_orders_and_masks():
    scores = np.array([0.5, 2.0, 1.0, 2.0, -np.inf])
    idx, vals = top_k(scores, 3)
    assert idx.tolist() == [1, 3, 2] and vals.tolist() == [2.0, 2.0, 1.0]
    idx, _ = top_k(scores, 10, mask=np.array([True, False, True, False, True]))
    assert idx.tolist() == [2, 0]


def test_analyzer_stems_and_drops_stopwords():
    a = Analyzer()
    assert a.terms("The runners were running quickly") == ["runner", "run", "quick"]
    assert Analyzer(stemmer="none", stopwords="none").terms("The cats") == ["the", "cats"]
