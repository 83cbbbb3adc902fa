"""The toxicity guard with the real alt-profanity-check model."""

from __future__ import annotations

import random

import pytest

from ragline.config import Settings
from ragline.guard.base import Guard
from ragline.guard.toxicity import ToxicityGuard


@pytest.fixture(scope="module")
def guard() -> ToxicityGuard:
    return ToxicityGuard(Settings())


def test_it_is_a_guard(guard: ToxicityGuard) -> None:
    assert isinstance(guard, Guard)
    assert guard.directions == {"input", "output"}


@pytest.mark.parametrize(
    "text",
    ["You are a useless fucking moron.", "Shut up, you stupid piece of shit."],
)
def test_abuse_is_flagged(guard: ToxicityGuard, text: str) -> None:
    result = guard.scan(text, direction="input")
    assert result.triggered
    flag = result.flags[0]
    assert flag.label == "toxic" and flag.score >= Settings().guard.toxicity_threshold
    assert "moron" not in flag.detail and "shit" not in flag.detail


@pytest.mark.parametrize(
    "text",
    [
        "How do I kill a Python process?",
        "What is the best way to beat egg whites?",
        "Thanks, that was helpful!",
    ],
)
def test_harmless_text_passes(guard: ToxicityGuard, text: str) -> None:
    assert not guard.scan(text, direction="output").triggered


def test_one_abusive_sentence_in_a_long_text_is_found_and_located(guard: ToxicityGuard) -> None:
    calm = "The delivery arrived on time and the box was in good shape. " * 20
    text = calm + "Your courier is a fucking idiot. " + calm
    result = guard.scan(text, direction="input")
    assert result.triggered
    flag = result.flags[0]
    assert flag.start is not None and "idiot" in text[flag.start : flag.end]


def test_the_threshold_comes_from_settings() -> None:
    text = "This damn printer again."
    lenient = ToxicityGuard(Settings(guard={"toxicity_threshold": 1.0}))
    strict = ToxicityGuard(Settings(guard={"toxicity_threshold": 0.0}))
    assert not lenient.scan(text, direction="input").triggered
    assert strict.scan(text, direction="input").triggered


def test_bad_input_never_crashes(guard: ToxicityGuard) -> None:
    assert guard.scan("", direction="input").flags == ()
    rng = random.Random(3)
    junk = bytes(rng.randrange(256) for _ in range(10_000)).decode("latin-1")
    assert guard.scan(junk, direction="input").error is None
    big = "All good here. " * 70_000  # ~1 MB
    assert not guard.scan(big, direction="input").triggered
    with pytest.raises(TypeError, match="str"):
        guard.scan(None, direction="input")  # type: ignore[arg-type]


def test_the_fast_scorer_gives_the_packages_own_probabilities() -> None:
    """The guard scores alt-profanity-check's fitted model itself; the numbers must be the
    package's ``predict_prob`` to the last bits, on clean, abusive, odd and empty texts."""
    from profanity_check import profanity_check

    from ragline.guard.toxicity import _LinearProfanity, _predict_prob

    scorer = _predict_prob()
    assert isinstance(scorer, _LinearProfanity)
    rng = random.Random(3)
    vocab = sorted(profanity_check.vectorizer.vocabulary_)
    texts = [
        "",
        "!!! ???",
        "What is the capital of France?",
        "You are a useless fucking moron.",
        "Ça va? naïve café — SHIT shit Shit",
        "fuck " * 50,
        "the and of a",  # only stop words
    ]
    texts += [" ".join(rng.choices(vocab, k=rng.randint(1, 40))) for _ in range(200)]
    expected = profanity_check.predict_prob(texts)
    got = scorer(texts)
    assert len(got) == len(texts)
    assert max(abs(a - b) for a, b in zip(got, expected, strict=True)) < 1e-9
    assert max(got) > 0.9 and min(got) < 0.1  # both ends are exercised


def test_an_unexpected_model_shape_falls_back_to_the_package() -> None:
    from profanity_check import profanity_check
    from sklearn.feature_extraction.text import TfidfVectorizer

    from ragline.guard.toxicity import _fast_or_none

    bigrams = TfidfVectorizer(ngram_range=(1, 2)).fit(["red apple pie", "green tea cake"])
    assert _fast_or_none(bigrams, profanity_check.model) is None
    assert _fast_or_none(profanity_check.vectorizer, object()) is None
