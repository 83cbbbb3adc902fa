"""Export building blocks: the split by document, formats, contamination (no store)."""

from __future__ import annotations

import pytest

from ragline.data.export import (
    Example,
    PassageRef,
    check_contamination,
    split_by_document,
    to_chat,
    to_preferences,
    to_triples,
)
from ragline.errors import ConfigError


def ex(i: int, *docs: str, answer: str = "an answer", **kw: object) -> Example:
    return Example(
        id=f"e{i}",
        question=f"question number {i}?",
        answer=answer,
        passages=[PassageRef(f"passage of {d}", d) for d in docs],
        **kw,  # type: ignore[arg-type]
    )


def test_the_split_never_puts_a_document_on_both_sides():
    # e0-e2 are chained through shared documents: they go together
    examples = [
        ex(0, "a", "b"),
        ex(1, "b", "c"),
        ex(2, "c"),
        *[ex(i, f"d{i}") for i in range(3, 40)],
    ]
    train, test = split_by_document(examples, test_fraction=0.3, seed=1)
    assert len(train) + len(test) == 40 and test and train
    train_docs = {d for e in train for d in e.doc_ids}
    test_docs = {d for e in test for d in e.doc_ids}
    assert not train_docs & test_docs
    chained = {e.id for e in test} & {"e0", "e1", "e2"}
    assert chained in (set(), {"e0", "e1", "e2"})
    # seeded: the same split again, another seed another split
    assert [e.id for e in split_by_document(examples, test_fraction=0.3, seed=1)[1]] == [
        e.id for e in test
    ]
    assert split_by_document(examples, test_fraction=0.0, seed=1)[1] == []
    with pytest.raises(ConfigError):
        split_by_document(examples, test_fraction=1.0, seed=1)


def test_chat_leaves_out_bad_answers_and_carries_the_passages():
    line = to_chat(ex(1, "a"))
    assert line is not None
    assert [m["role"] for m in line["messages"]] == ["system", "user", "assistant"]
    assert "[1] passage of a" in line["messages"][0]["content"]
    assert to_chat(ex(1, "a"), context=False)["messages"][0]["role"] == "user"  # type: ignore[index]
    assert to_chat(ex(2, "a", label="negative")) is None
    assert to_chat(ex(3, "a", corrected=True)) is None
    assert to_chat(ex(4, "a", answer="")) is None


def test_preferences_from_labels_and_from_a_file():
    good = ex(1, "a", answer="good", label="positive")
    bad = ex(2, "a", answer="bad", label="negative")
    bad.question = "Question number 1 ?"  # the same question, case and spacing aside
    filed = ex(3, "b", answer="better", rejected="worse")
    pairs = to_preferences([good, bad, filed])
    assert {(p["chosen"], p["rejected"], p["meta"]["pair"]) for p in pairs} == {
        ("good", "bad", "feedback"),
        ("better", "worse", "file"),
    }


def test_triples_skip_false_negatives_and_respect_the_limit():
    e = ex(1, "a")
    e.passages = [PassageRef("The warranty covers parts for two years.", "a")]

    def mine(example: Example, exclude: set[str]) -> list[PassageRef]:
        assert "a" in exclude and "x" in exclude
        return [
            PassageRef("The warranty covers parts for two years, labour for one.", "b"),
            PassageRef("Returns are accepted within thirty days.", "c"),
            PassageRef("Shipping is free over fifty euros.", "d"),
        ]

    triples = to_triples(e, mine, exclude_docs={"x"}, limit=1)
    assert [t["negative"] for t in triples] == ["Returns are accepted within thirty days."]


def test_contaminated_examples_are_flagged_and_dropped():
    long_q = "what is the boiling point of water at sea level in degrees celsius exactly today"
    train = [ex(1, "a"), ex(2, "b")]
    train[0].question = long_q
    kept, check = check_contamination(train, {"eval-1": long_q.upper()}, n=13, drop=True)
    assert [e.id for e in kept] == ["e2"] and check.flagged == ["e1"]
    assert check.to_dict()["contaminated"] == 1 and check.to_dict()["train_examples_dropped"] == 1
    kept, check = check_contamination(train, {"eval-1": long_q}, n=13, drop=False)
    assert len(kept) == 2 and check.to_dict()["train_examples_dropped"] == 0
