"""N-gram contamination checks and rater-agreement statistics."""

from __future__ import annotations

import math

import pytest

from ragline.errors import ConfigError
from ragline.evaluate.metrics import (
    NgramIndex,
    accuracy,
    cohen_kappa,
    contamination,
    spearman,
)

CORPUS = [
    "The quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat.",
    "Completely unrelated training text about databases and indexes.",
]


def test_contamination_flags_items_sharing_an_ngram() -> None:
    items = {
        "leaked": "Q: the QUICK brown fox jumps over the lazy dog? A: yes",
        "clean": "the quick red fox walks past the lazy dog and the cat sleeps",
        "short": "quick brown",
    }
    report = contamination(items, CORPUS, n=5)
    by_id = {i.item_id: i for i in report.items}
    assert by_id["leaked"].contaminated
    # "the quick ... lazy dog" is 9 shared words -> 5 five-grams, of the item's 12 - 4 = 8
    assert by_id["leaked"].overlapping == 5
    assert by_id["leaked"].ngrams == 8
    assert by_id["leaked"].overlap_ratio == pytest.approx(5 / 8)
    assert not by_id["clean"].contaminated
    assert by_id["short"].ngrams == 0 and not by_id["short"].contaminated
    assert report.short == 1
    assert report.contaminated == ("leaked",)
    assert report.contaminated_fraction == pytest.approx(1 / 3)
    assert report.to_dict()["contaminated"] == 1


def test_contamination_threshold_and_prebuilt_index() -> None:
    index = NgramIndex(n=3).update(CORPUS)
    assert ("the", "lazy", "dog") in index
    assert len(index) > 0 and index.documents == 2
    items = ["the quick brown and then something else entirely different here"]
    assert contamination(items, index).items[0].contaminated
    assert not contamination(items, index, min_overlap=0.5).items[0].contaminated
    assert contamination(items, index).n == 3
    with pytest.raises(ConfigError):
        contamination(items, index, min_overlap=2)
    with pytest.raises(ConfigError):
        NgramIndex(0)


def test_accuracy_and_kappa() -> None:
    a = ["yes", "yes", "no", "no", "yes", "no"]
    b = ["yes", "no", "no", "no", "yes", "yes"]
    assert accuracy(a, b) == pytest.approx(4 / 6)
    # p_o = 4/6, p_e = (3/6 * 3/6) * 2 = 0.5 -> kappa = (2/3 - 1/2) / (1/2) = 1/3
    assert cohen_kappa(a, b) == pytest.approx(1 / 3)
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa(["x", "x"], ["x", "x"]))
    with pytest.raises(ConfigError):
        accuracy(a, b[:-1])


def test_weighted_kappa_against_a_hand_computation() -> None:
    a = [1, 2, 3, 3, 2, 1]
    b = [1, 3, 3, 2, 2, 2]
    k = 3
    observed = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        observed[x - 1][y - 1] += 1 / len(a)
    rows = [sum(r) for r in observed]
    cols = [sum(observed[i][j] for i in range(k)) for j in range(k)]
    for power, name in ((1, "linear"), (2, "quadratic")):
        num = sum(abs(i - j) ** power * observed[i][j] for i in range(k) for j in range(k))
        den = sum(abs(i - j) ** power * rows[i] * cols[j] for i in range(k) for j in range(k))
        assert cohen_kappa(a, b, weights=name) == pytest.approx(1 - num / den)
    with pytest.raises(ConfigError):
        cohen_kappa(a, b, labels=[1, 2])


def test_spearman_matches_scipy() -> None:
    from scipy.stats import spearmanr

    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    y = [2.0, 1.0, 4.0, 3.0, 6.0, 5.0]
    result = spearman(x, y)
    expected = spearmanr(x, y)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.pvalue == pytest.approx(expected.pvalue)
    assert result.n == 6
    with pytest.raises(ConfigError):
        spearman([1.0], [2.0])
