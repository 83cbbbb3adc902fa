"""Sentence splitting (batch and streamed), citation markers, numbers, declines, prompt files."""

from __future__ import annotations

import pytest

from ragline.answer.citations import unframe
from ragline.answer.text import (
    SentenceStream,
    answer_sentences,
    is_decline,
    numbers_in,
    passage_sentences,
    strip_citations,
)


def test_split_sentences_keeps_citations_decimals_and_abbreviations():
    text = (
        "The tower is 330 m. [1] It formed 4.6 billion years ago [2]. "
        "Mr. Eiffel built it, e.g. the lattice. J. R. Smith agreed! Really?"
    )
    assert answer_sentences(text) == [
        "The tower is 330 m. [1]",
        "It formed 4.6 billion years ago [2].",
        "Mr. Eiffel built it, e.g. the lattice.",
        "J. R. Smith agreed!",
        "Really?",
    ]


def test_line_breaks_end_sentences_in_answers_but_not_in_passages():
    assert answer_sentences("- first point\n- second point") == ["- first point", "- second point"]
    wrapped = "Light from the Sun takes about 8 minutes and\n20 seconds to reach Earth.\n\nPlanets"
    assert passage_sentences(wrapped) == [
        "Light from the Sun takes about 8 minutes and 20 seconds to reach Earth."
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_stream_splitter_matches_batch_splitter(size: int):
    text = "Venus is hot [1]. It has a thick atmosphere. [2] Mars is cold.\nSaturn has rings"
    stream = SentenceStream()
    got: list[str] = []
    for i in range(0, len(text), size):
        got += stream.push(text[i : i + size])
    got += stream.flush()
    assert got == answer_sentences(text)


def test_stream_waits_for_a_citation_after_the_full_stop():
    stream = SentenceStream()
    assert stream.push("Venus is hot.") == []
    assert stream.push(" [") == []
    assert stream.push("1] It") == ["Venus is hot. [1]"]
    assert stream.flush() == ["It"]


def test_strip_citations_reads_every_marker_form():
    assert strip_citations("It is 330 m tall [1][3].").numbers == (1, 3)
    marked = strip_citations("Yes [Passage 2, 3] and [2; 4].")
    assert marked.numbers == (2, 3, 4)
    assert marked.text == "Yes and."
    assert strip_citations("No marker here.").numbers == ()


def test_numbers_are_normalised():
    assert numbers_in("2,000 eggs, 8,848.86 m, 4.6 billion; 90 and 96.") == {
        "2000",
        "8848.86",
        "4.6",
        "90",
        "96",
    }


@pytest.mark.parametrize(
    "sentence",
    [
        "The passages do not mention the moons of Jupiter.",
        "I cannot answer from the documents.",
        "This information is not provided.",
        "There is no information about it.",
    ],
)
def test_declines_are_recognised(sentence: str):
    assert is_decline(sentence)


def test_ordinary_sentences_are_not_declines():
    assert not is_decline("Venus is the hottest planet.")


def test_unframe_removes_answer_framing_only():
    assert unframe("The answer to the question is: Venus is hot.") == "Venus is hot."
    assert unframe("According to passage 2, the tower is tall.") == "The tower is tall."
    assert unframe("Answer: 674") == "674"
    assert unframe("Venus is hot.") == "Venus is hot."
