"""The semantic cache's duplicate classifier: shipped weights, hard rules, near-misses at
their real MiniLM cosines, and a deterministic fit."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from conftest import REPO
from ragline.cache.calibrate import parse_pairs
from ragline.cache.duplicate import (
    FEATURES,
    HARD_REASONS,
    WEIGHTS,
    DuplicateModel,
    fit,
    judge,
    pair_features,
    shipped_model,
)
from ragline.config import load_settings
from ragline.models.embedder import get_embedder

PAIRS = REPO / "benchmarks" / "data" / "cache_pairs.jsonl"


@pytest.fixture(scope="module")
def embedder():
    return get_embedder(load_settings().embedder)


def _cos(embedder, a: str, b: str) -> float:
    va, vb = embedder.embed([a, b])
    return float(va @ vb)


def test_the_shipped_weights_match_the_features():
    m = shipped_model()
    raw = json.loads(WEIGHTS.read_text())
    assert raw["features"] == list(FEATURES)
    assert m.coef.shape == m.mean.shape == m.scale.shape == (len(FEATURES),)
    assert 0.0 < m.threshold < 1.0
    assert pair_features("a b c", "a b d", 0.9).shape == (len(FEATURES),)


@pytest.mark.parametrize(
    ("q1", "q2", "reason"),
    [
        ("How do I enable 2FA?", "How do I disable 2FA?", "negation"),
        ("Is coffee brewed at 90 degrees?", "Is coffee brewed at 80 degrees?", "number"),
        ("Was Pluto reclassified in 2006?", "Was Pluto reclassified in 2016?", "date"),
        ("Is force measured in newtons?", "Is force measured in joules?", "unit"),
        ("Did Germany beat Brazil?", "Did Brazil beat Germany?", "swapped_roles"),
        ("Which team did Germany beat?", "Which team beat Germany?", "swapped_roles"),
    ],
)
def test_hard_near_misses_are_rejected_by_rule_whatever_the_cosine(q1: str, q2: str, reason: str):
    assert reason in HARD_REASONS
    assert judge(q1, q2, 1.0) == reason
    assert judge(q2, q1, 1.0) == reason


@pytest.mark.parametrize(
    ("q1", "q2"),
    [
        ("How many moons does Mars have?", "How many moons does Jupiter have?"),  # entity
        ("When was Harvard founded?", "When was Yale founded?"),  # entity
        ("When was the Eiffel Tower built?", "Who built the Eiffel Tower?"),  # question type
        ("How do vaccines work?", "Why do vaccines work?"),  # question type
        ("what is the capital of france", "what is the capital of spain"),  # substitution
    ],
)
def test_soft_near_misses_are_rejected_by_the_classifier_at_their_real_cosine(
    embedder, q1: str, q2: str
):
    c = _cos(embedder, q1, q2)
    assert c > 0.45  # close enough to be a candidate under a low threshold
    assert judge(q1, q2, c) == "classifier"
    assert judge(q2, q1, c) == "classifier"


def test_the_same_question_is_always_a_duplicate():
    assert judge("What is X?", "what is x", 0.2) is None


def test_hand_written_near_misses_of_hard_categories_are_all_rejected(embedder):
    pairs, errors = parse_pairs(PAIRS.read_text().splitlines())
    assert not errors
    hard = [
        p for p in pairs if p.extra["category"] in ("negation", "number", "date", "unit", "roles")
    ]
    assert len(hard) > 100
    v1 = embedder.embed([p.q1 for p in hard])
    v2 = embedder.embed([p.q2 for p in hard])
    cos = np.einsum("ij,ij->i", v1, v2)
    served = [p.id for p, c in zip(hard, cos, strict=True) if judge(p.q1, p.q2, float(c)) is None]
    assert served == []


def test_the_fit_is_deterministic_and_round_trips(embedder):
    pairs, _ = parse_pairs(PAIRS.read_text().splitlines())
    # a fixed half of the topics (not the benchmark's split: this checks the procedure)
    part = [p for p in pairs if hashlib.sha256(p.extra["topic"].encode()).digest()[0] % 2 == 0]
    v1 = embedder.embed([p.q1 for p in part])
    v2 = embedder.embed([p.q2 for p in part])
    cos = np.einsum("ij,ij->i", v1, v2)
    m1, info1 = fit(part, cos, 0.05)
    m2, info2 = fit(part, cos, 0.05)
    assert m1.to_dict() == m2.to_dict() and info1 == info2
    back = DuplicateModel.from_dict(json.loads(json.dumps(m1.to_dict())))
    q1, q2 = part[0].q1, part[0].q2
    assert back.probability(q1, q2, float(cos[0])) == pytest.approx(
        m1.probability(q1, q2, float(cos[0])), abs=1e-6
    )
    bad = m1.to_dict() | {"features": ["cosine"]}
    with pytest.raises(ValueError, match="train_duplicate"):
        DuplicateModel.from_dict(bad)
