"""The topic-policy guard with the real MiniLM embedder."""

from __future__ import annotations

import random

import numpy as np
import pytest

from ragline.config import Settings
from ragline.guard.base import Guard, GuardContext
from ragline.guard.topic import TopicGuard
from ragline.models.embedder import get_embedder

POLICY = {
    "allowed_topics": [
        {
            "name": "billing",
            "description": "Invoices, payments, refunds and prices. Charges on a credit card "
            "and cancelling a subscription plan.",
            "keywords": ["invoice"],
        },
        {
            "name": "shipping",
            "description": "Orders, deliveries, tracking a parcel, returns and damaged items.",
        },
    ],
    "denied_topics": [
        {
            "name": "medical",
            "description": "Medical advice: symptoms, illnesses, medicines and doses, "
            "treatments, whether to see a doctor.",
            "keywords": ["diagnosis"],
        },
        {
            "name": "politics",
            "description": "Politics: which party or candidate to vote for, opinions on "
            "politicians and government policy.",
            "keywords": ["election"],
        },
    ],
}
SUPPORT = GuardContext(collection="support")


class CountingEmbedder:
    """The real embedder, counting the texts it embeds (the cache test)."""

    def __init__(self) -> None:
        self.inner = get_embedder(Settings().embedder)
        self.texts = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed(texts)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(guard={"collections": {"support": POLICY}})


@pytest.fixture(scope="module")
def guard(settings: Settings) -> TopicGuard:
    return TopicGuard(settings)


def labels(guard: TopicGuard, text: str, context: GuardContext | None = SUPPORT) -> list[str]:
    return [f.label for f in guard.scan(text, direction="input", context=context).flags]


def test_it_is_a_guard(guard: TopicGuard) -> None:
    assert isinstance(guard, Guard) and guard.directions == {"input"}


@pytest.mark.parametrize(
    "text",
    [
        "Why was my card charged twice this month?",
        "My parcel arrived damaged, how do I send it back?",
        "Please resend the invoice for March.",
    ],
)
def test_allowed_questions_pass(guard: TopicGuard, text: str) -> None:
    assert labels(guard, text) == []


def test_a_denied_topic_is_found_by_meaning(guard: TopicGuard) -> None:
    result = guard.scan(
        "I have a fever and a sore throat, should I take antibiotics?",
        direction="input",
        context=SUPPORT,
    )
    assert [f.label for f in result.flags] == ["denied:medical"]
    assert "medical" in result.flags[0].detail and "margin" in result.flags[0].detail


def test_a_denied_keyword_is_a_whole_word_in_any_case(guard: TopicGuard) -> None:
    text = "Can you help me understand the ELECTION results?"
    result = guard.scan(text, direction="input", context=SUPPORT)
    flag = next(f for f in result.flags if f.label == "denied:politics")
    assert text[flag.start : flag.end] == "ELECTION" and "keyword" in flag.detail
    # "selection" holds "election" but is not the word.
    assert "denied:politics" not in labels(guard, "Which selection of plans can I pay for?")


def test_a_message_near_no_allowed_topic_is_off_topic(guard: TopicGuard) -> None:
    assert labels(guard, "Write me a poem about the sea at night.") == ["off_topic"]


def test_no_policy_no_flags(guard: TopicGuard) -> None:
    text = "Which party should I vote for? I have a fever too."
    assert labels(guard, text, None) == []
    assert labels(guard, text, GuardContext(collection="other")) == []


def test_topic_vectors_are_computed_once_per_policy(settings: Settings) -> None:
    embedder = CountingEmbedder()
    guard = TopicGuard(settings, embedder=embedder)  # type: ignore[arg-type]
    guard.scan("Where is my order?", direction="input", context=SUPPORT)
    first = embedder.texts
    guard.scan("Where is my refund?", direction="input", context=SUPPORT)
    assert embedder.texts == first + 1  # only the message


def test_the_margin_and_floor_come_from_settings() -> None:
    text = "I have a fever and a sore throat, should I take antibiotics?"
    for floor, expect in ((0.99, ["off_topic"]), (0.0, ["denied:medical"])):
        s = Settings(guard={"collections": {"support": POLICY}, "topic_min_similarity": floor})
        assert labels(TopicGuard(s), text) == expect


def test_bad_input_never_crashes(guard: TopicGuard) -> None:
    assert labels(guard, "") == []
    rng = random.Random(5)
    junk = bytes(rng.randrange(256) for _ in range(5_000)).decode("latin-1")
    assert guard.scan(junk, direction="input", context=SUPPORT).error is None
    assert guard.scan("refund " * 150_000, direction="input", context=SUPPORT).error is None
