"""The near-miss gate, one category at a time, and the exact cache's normalisation; the
semantic index; the payload codec."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ragline.cache import codec
from ragline.cache.gate import REASONS, compare, normalise
from ragline.cache.index import ScopeIndex, sign_codes
from ragline.errors import CorruptCacheEntryError
from ragline.store.cache_base import VectorBatch
from ragline.types import Answer, Chunk, Citation, Passage


@pytest.mark.parametrize(
    ("q1", "q2", "reason"),
    [
        ("How do I enable 2FA?", "How do I disable 2FA?", "negation"),
        (
            "Can I expense a taxi with a receipt?",
            "Can I expense a taxi without a receipt?",
            "negation",
        ),
        (
            "Is multi-factor authentication mandatory?",
            "Is multi-factor authentication not mandatory?",
            "negation",
        ),
        ("Which is the hottest planet?", "Which is the coldest planet?", "negation"),
        ("Is coffee brewed at 90 degrees?", "Is coffee brewed at 80 degrees?", "number"),
        (
            "Do humans have two layers of defence?",
            "Do humans have three layers of defence?",
            "number",
        ),
        ("Was Pluto reclassified in 2006?", "Was Pluto reclassified in 2016?", "date"),
        ("What happened in Warsaw in March?", "What happened in Warsaw in June?", "date"),
        ("Is force measured in newtons?", "Is force measured in joules?", "unit"),
        ("Is the limit 50 dollars per day?", "Is the limit 50 euros per day?", "unit"),
        ("How many moons does Mars have?", "How many moons does Jupiter have?", "entity"),
        ("When was Harvard founded?", "When was Yale founded?", "entity"),
        ("When was the Eiffel Tower built?", "Who built the Eiffel Tower?", "question_type"),
        ("How do vaccines work?", "Why do vaccines work?", "question_type"),
        ("Did Germany beat Brazil?", "Did Brazil beat Germany?", "swapped_roles"),
        ("Did Germany beat Brazil?", "Was Germany beaten by Brazil?", "swapped_roles"),
        ("Which team did Germany beat?", "Which team beat Germany?", "swapped_roles"),
        ("does the cat chase the dog", "does the dog chase the cat", "swapped_roles"),
        ("Do T cells activate B cells?", "Do B cells activate T cells?", "swapped_roles"),
        ("what is the capital of france", "what is the capital of spain", "substitution"),
    ],
)
def test_each_kind_of_near_miss_is_rejected_with_its_reason(q1: str, q2: str, reason: str):
    assert reason in REASONS
    assert compare(q1, q2) == reason
    assert compare(q2, q1) == reason  # either way round


@pytest.mark.parametrize(
    ("q1", "q2"),
    [
        (
            "What is the ideal brewing temperature for coffee?",
            "At what temperature should coffee be brewed?",
        ),
        ("Who wrote Hamlet?", "Hamlet was written by whom?"),
        ("How tall is the Eiffel Tower?", "What is the height of the Eiffel Tower?"),
        ("What is the largest city in Poland?", "Which Polish city is the biggest?"),
        (
            "Does EU law take precedence over national law?",
            "Does European Union law have primacy over national law?",
        ),
        ("When was Harvard University founded?", "In what year was Harvard founded?"),
        ("Who was the mayor of Warsaw in 2014?", "In 2014, who was Warsaw's mayor?"),
        (
            "How many members does the Scottish Parliament have?",
            "What is the number of MSPs in the Scottish Parliament?",
        ),
    ],
)
def test_paraphrases_pass_the_gate(q1: str, q2: str):
    assert compare(q1, q2) is None


def test_normalise_is_the_exact_caches_form():
    assert normalise("  What is  X ?") == normalise("what is x") == "what is x"
    assert normalise("Ｗhat’s up?") == "what's up"
    assert normalise("What is X") != normalise("What is Y")


def _batch(keys: list[str], vectors: np.ndarray, start: int) -> VectorBatch:
    return VectorBatch(np.arange(start, start + len(keys), dtype=np.int64), keys, vectors)


class _Rows:
    """A store that hands out batches, as :meth:`CacheStore.vectors` does."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.vectors: list[np.ndarray] = []

    def add(self, key: str, vec: np.ndarray) -> None:
        self.keys.append(key)
        self.vectors.append(vec)

    def vectors_after(self, after: int) -> VectorBatch:
        keys, vecs = self.keys[after:], self.vectors[after:]
        if not keys:
            return VectorBatch(np.zeros(0, np.int64), [], np.zeros((0, 0), np.float32))
        return _batch(keys, np.stack(vecs), after + 1)


@pytest.mark.parametrize("prefilter_above", [10_000, 8])
def test_the_index_finds_the_nearest_vector_exactly_or_through_the_prefilter(
    prefilter_above: int,
):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = _Rows()
    for i, v in enumerate(vectors):
        rows.add(f"k{i}", v)

    class Store:
        def vectors(self, collection: str, scope: str, *, after: int = 0) -> VectorBatch:
            return rows.vectors_after(after)

    index = ScopeIndex("c", "s")
    assert index.sync(Store()) == 300  # type: ignore[arg-type]
    assert index.sync(Store()) == 0  # type: ignore[arg-type]
    query = vectors[42] + 0.01 * rng.normal(size=384).astype(np.float32)
    query /= np.linalg.norm(query)
    found, best = index.search(
        query, threshold=0.9, n=3, prefilter_above=prefilter_above, prefilter_candidates=16
    )
    assert found and found[0][0] == "k42" and best == pytest.approx(found[0][1])
    assert all(score >= 0.9 for _, score in found)
    index.forget("k42")
    found, _ = index.search(
        query, threshold=0.9, n=3, prefilter_above=prefilter_above, prefilter_candidates=16
    )
    assert all(k != "k42" for k, _ in found)
    # a key stored again replaces its row
    rows.add("k7", vectors[100])
    index.sync(Store())  # type: ignore[arg-type]
    found, _ = index.search(
        vectors[100],
        threshold=0.99,
        n=5,
        prefilter_above=prefilter_above,
        prefilter_candidates=16,
    )
    assert sorted(k for k, _ in found) == ["k100", "k7"]


def test_sign_codes_pack_the_sign_bits():
    v = np.array([[1.0, -1.0] * 64], dtype=np.float32)
    codes = sign_codes(v)
    assert codes.shape == (2, 1) and codes.dtype == np.uint64
    assert int(np.bitwise_count(codes).sum()) == 64


def _answer() -> Answer:
    chunk = Chunk("c1", "d1", 0, "Venus is the hottest planet.", "venus.md", title="Venus")
    passage = Passage(1, chunk, chunk.text, 0.8, {"dense": 0.8})
    citation = Citation(1, passage, "Venus is the hottest planet.", 0.9, 0.95, True)
    return Answer(
        "q",
        "Venus is the hottest planet [1].",
        False,
        (citation,),
        (passage,),
        query="q",
        model="m",
        style="generative",
        prompt_version="answer@v2",
    )


def test_the_codec_round_trips_and_refuses_a_tampered_payload():
    payload = codec.encode(_answer())
    back = codec.decode(payload, "asked again")
    assert back.question == "asked again" and back.text == _answer().text
    assert back.citations[0].passage.chunk == _answer().citations[0].passage.chunk
    outer = json.loads(payload)
    outer["body"] = outer["body"].replace("hottest", "coldest")
    with pytest.raises(CorruptCacheEntryError, match="digest"):
        codec.decode(json.dumps(outer), "q")
    for bad in ("not json", "{}", json.dumps({"format": 1, "sha256": "x"})):
        with pytest.raises(CorruptCacheEntryError):
            codec.decode(bad, "q")
