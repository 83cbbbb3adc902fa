"""Deduplication: exact and near-duplicate clusters, on a planted set, against datasketch."""

from __future__ import annotations

import json
import random

import pytest

from conftest import bench_data
from ragline.data.dedup import find_duplicates, optimal_bands, shingles, words
from ragline.data.planted import planted_set, score_planted
from ragline.errors import ConfigError

DEFAULTS = {"threshold": 0.55, "shingle": "word", "ngram": 2}


@pytest.fixture(scope="module")
def squad_pool() -> list[str]:
    path = bench_data() / "rag-qa" / "squad2-dev" / "corpus.jsonl"
    if not path.exists():
        pytest.skip(f"benchmark data not found at {path}")
    return [json.loads(line)["text"] for line in path.read_text().splitlines()]


def test_exact_duplicates_differ_only_in_case_spacing_and_punctuation():
    texts = [
        "The cat sat on the mat.",
        "the  CAT sat on the mat",
        "A dog barked at the moon all night long.",
        "The cat sat on the mat!!",
        "",
    ]
    r = find_duplicates(texts, threshold=0.9, near=False)
    assert r.keep == [True, False, True, False, True]
    assert len(r.clusters) == 1
    c = r.clusters[0]
    assert c.kept == 0 and [m.index for m in c.removed] == [1, 3]
    assert {m.reason for m in c.removed} == {"exact"} and c.removed[0].similarity == 1.0


def test_shingles_words_and_characters():
    toks = words("Héllo, World! It's fine.")
    assert toks == ["héllo", "world", "it", "s", "fine"]
    assert shingles(toks, kind="word", n=2) == ["héllo world", "world it", "it s", "s fine"]
    assert shingles(["short"], kind="word", n=3) == ["short"]  # shorter than one n-gram
    assert shingles(["ab", "cd"], kind="char", n=3) == ["ab ", "b c", " cd"]
    assert shingles([], kind="word", n=2) == []


def test_optimal_bands_fit_the_permutations_and_reject_bad_thresholds():
    b, r = optimal_bands(0.55, 128)
    assert b * r <= 128 and b > 1 and r > 1
    # a higher threshold asks for more rows per band (fewer candidates)
    assert optimal_bands(0.9, 128)[1] > r
    with pytest.raises(ConfigError):
        optimal_bands(1.0, 128)


def test_planted_set_precision_and_recall_with_the_defaults(squad_pool):
    records = planted_set(squad_pool, size=1000, seed=7)
    assert len(records) == 1000
    assert {r.kind for r in records} == {"original", "copy", "rewrite"}
    assert all(0.01 <= r.rate <= 0.05 for r in records if r.kind == "copy")
    assert all(0.40 <= r.rate <= 0.60 for r in records if r.kind == "rewrite")
    result = find_duplicates([r.text for r in records], **DEFAULTS)
    score = score_planted(records, result.kept_of())
    assert score.precision >= 0.95 and score.recall >= 0.95, score.to_dict()
    # every removed record is within the threshold of the record kept for it
    for c in result.clusters:
        assert all(m.similarity >= 0.55 for m in c.removed)
        assert result.keep[c.kept] and not any(result.keep[m.index] for m in c.removed)


def test_rensa_agrees_with_datasketch_on_a_planted_set(squad_pool):
    records = planted_set(squad_pool, size=600, seed=11)
    texts = [r.text for r in records]
    ours = find_duplicates(texts, **DEFAULTS, engine="rensa")
    ref = find_duplicates(texts, **DEFAULTS, engine="datasketch")
    agree = sum(a == b for a, b in zip(ours.keep, ref.keep, strict=True)) / len(texts)
    assert agree >= 0.99, agree
    s_ours, s_ref = (score_planted(records, r.kept_of()) for r in (ours, ref))
    assert abs(s_ours.recall - s_ref.recall) <= 0.02 and s_ref.precision >= 0.95


def test_many_copies_of_one_text_form_one_cluster():
    rng = random.Random(0)
    base = " ".join(
        rng.choice(["alpha", "beta", "gamma", "delta", "eps"]) + str(i) for i in range(80)
    )
    texts = [base]
    for _ in range(150):  # more than one LSH bucket pairs in full (MAX_BUCKET)
        toks = base.split()
        toks[rng.randrange(len(toks))] = "changed"
        texts.append(" ".join(toks))
    texts.append("an unrelated text about something else entirely, with its own words")
    r = find_duplicates(texts, **DEFAULTS)
    assert r.keep.count(True) == 2 and r.keep[0] and r.keep[-1]
    assert len(r.clusters) == 1 and len(r.clusters[0].removed) == 150


def test_a_rewrite_is_not_a_duplicate():
    rng = random.Random(1)
    vocab = [f"w{i}" for i in range(500)]
    a = [rng.choice(vocab) for _ in range(100)]
    b = [w if rng.random() > 0.45 else rng.choice(vocab) for w in a]
    r = find_duplicates([" ".join(a), " ".join(b)], **DEFAULTS)
    assert r.keep == [True, True]


def test_bad_parameters_are_refused():
    with pytest.raises(ConfigError):
        find_duplicates(["a b", "a b c"], threshold=0.5, ngram=0)
    with pytest.raises(ConfigError):
        find_duplicates(["a b", "a b c"], threshold=0.5, num_perm=4)


def test_hashed_word_shingles_are_the_string_shingles():
    from ragline.data.dedup import word_shingle_hashes

    rng = random.Random(3)
    lists = [[rng.choice("abcdefgh") for _ in range(rng.randrange(0, 12))] for _ in range(300)]
    for n in (1, 2, 3):
        flat, offsets = word_shingle_hashes(lists, n)
        assert len(offsets) == len(lists) + 1
        by_string: dict[str, int] = {}
        for k, toks in enumerate(lists):
            row = flat[int(offsets[k]) : int(offsets[k + 1])].tolist()
            grams = shingles(toks, kind="word", n=n)
            assert len(row) == len(grams)
            for g, h in zip(grams, row, strict=True):  # one n-gram, one hash, everywhere
                assert by_string.setdefault(g, h) == h
        assert len(set(by_string.values())) == len(by_string)
