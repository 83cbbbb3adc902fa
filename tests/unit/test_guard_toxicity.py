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
