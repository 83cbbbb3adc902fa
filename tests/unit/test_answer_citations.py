"""The citation checker: support measures and the verdict on each sentence of a draft.

Uses the packaged MiniLM embedder (offline, ~0.3 s to load): the thresholds are meant for it.
"""

from __future__ import annotations

import pytest

from ragline.answer.citations import CitationChecker
from ragline.config import AnswerSettings, EmbedderSettings
from ragline.models.embedder import get_embedder
from ragline.retrieve.analyzer import Analyzer
from ragline.types import Chunk, Passage

COFFEE = (
    "Espresso forces water at about 9 bars of pressure through a fine, compacted puck of "
    "coffee. A double shot uses 18 grams of coffee and takes 25 to 30 seconds to pull."
)
VENUS = (
    "Mercury, Venus, Earth and Mars are the terrestrial planets, made mostly of rock and "
    "metal. Venus is the hottest planet, with a mean surface temperature of about 464 °C, "
    "because its thick carbon dioxide atmosphere traps heat."
)
EIFFEL = "The tower is 330 metres tall, including the antennas at its top."


def passage(n: int, text: str, title: str, *headings: str) -> Passage:
    chunk = Chunk(
        id=f"c{n}",
        document_id=f"d{n}",
        ordinal=0,
        text=text,
        source=f"{title}.md",
        title=title,
        heading_path=headings,
    )
    return Passage(n, chunk, text, 0.7)


PASSAGES = (
    passage(1, COFFEE, "A Guide to Brewing Coffee", "Methods", "Espresso"),
    passage(2, VENUS, "The Solar System", "Planets", "Inner planets"),
    passage(3, EIFFEL, "The Eiffel Tower", "Height"),
)


@pytest.fixture(scope="module")
def embedder():
    return get_embedder(EmbedderSettings())


def checker(embedder, question: str, **settings) -> CitationChecker:
    return CitationChecker(AnswerSettings(**settings), embedder, Analyzer(), question, PASSAGES)


def test_a_cited_supported_sentence_keeps_its_citation(embedder):
    v = checker(embedder, "How much coffee is in a double espresso?").check(
        "A double shot uses 18 grams of coffee [1]."
    )
    assert v.status == "supported" and v.cited == (1,)
    (c,) = v.citations
    assert c.number == 1 and c.supported and not c.attached
    assert c.lexical >= 0.9 and c.semantic > 0.7
    assert v.rendered() == "A double shot uses 18 grams of coffee [1]."


def test_a_wrong_citation_is_moved_to_the_supporting_passage(embedder):
    v = checker(embedder, "How hot is Venus?").check(
        "Venus has a mean surface temperature of about 464 °C [1]."
    )
    assert v.status == "attached"
    assert [c.number for c in v.citations] == [2] and v.citations[0].attached


def test_an_uncited_sentence_gets_the_best_passage_when_support_is_strong(embedder):
    v = checker(embedder, "How tall is the Eiffel Tower?").check(
        "The Eiffel Tower is 330 meters tall."
    )
    assert v.status == "attached" and v.citations[0].number == 3  # metres == meters


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        # a number that is nowhere
        ("How tall is the Eiffel Tower?", "The Eiffel Tower is 450 metres tall [3]."),
        # a number that is there, but with another unit ("25 to 30 seconds")
        ("How much coffee is in a double espresso?", "A double shot uses 25 grams of coffee."),
        # a name swapped: the passage says Venus
        ("What is the surface temperature of Mars?", "Mars has a surface temperature of 464 °C."),
        # plausible, unsupported
        ("What colour is the Eiffel Tower?", "The Eiffel Tower is painted bright orange [3]."),
    ],
)
def test_unsupported_sentences_are_dropped(embedder, question: str, sentence: str):
    v = checker(embedder, question).check(sentence)
    assert v.status == "dropped" and v.reason == "unsupported" and not v.citations


def test_flag_mode_keeps_unsupported_sentences_marked(embedder):
    v = checker(embedder, "How tall is the Eiffel Tower?", unsupported="flag").check(
        "The Eiffel Tower is 450 metres tall [3]."
    )
    assert v.status == "flagged" and v.kept
    assert v.citations[0].number == 3 and not v.citations[0].supported
    assert v.rendered().endswith("(unsupported)")


@pytest.mark.parametrize(
    ("sentence", "reason"),
    [
        ("I cannot answer from the documents.", "decline"),
        ("The passages do not mention it.", "decline"),
        ("Sure!", "filler"),
        ("Question: How tall is the Eiffel Tower?", "echo"),
        ("The Eiffel Tower is tall.", "echo"),
        ("Espresso forces water through a fine, compacted puck of coffee.", "off_topic"),
    ],
)
def test_non_answers_are_dropped_with_a_reason(embedder, sentence: str, reason: str):
    v = checker(embedder, "How tall is the Eiffel Tower?").check(sentence)
    assert (v.status, v.reason) == ("dropped", reason)


def test_a_bad_citation_number_counts_as_no_citation(embedder):
    v = checker(embedder, "How tall is the Eiffel Tower?").check(
        "The Eiffel Tower is 330 metres tall [7]."
    )
    assert v.status == "attached" and v.citations[0].number == 3 and v.cited == (7,)
    bad = checker(embedder, "How tall is the Eiffel Tower?").check("It is 451 feet [9].")
    assert (bad.status, bad.reason) == ("dropped", "bad_citation")


def test_invented_trailing_clause_is_cut_off(embedder):
    v = checker(embedder, "How hot is Venus?").check(
        "Venus is the hottest planet, which is why it has 12 moons and oceans of gold."
    )
    assert v.status == "attached" and v.text == "Venus is the hottest planet."


def test_a_bare_answer_is_judged_together_with_the_question(embedder):
    c = checker(embedder, "How tall is the Eiffel Tower?")
    v = c.check("The answer is: 330 metres.")
    assert v.status == "attached" and v.text == "330 metres."


def test_check_all_splits_the_draft(embedder):
    verdicts = checker(embedder, "How hot is Venus?").check_all(
        "Venus is the hottest planet [2]. It rains diamonds on Venus every Tuesday."
    )
    assert [v.status for v in verdicts] == ["supported", "dropped"]


def test_quantities_pair_numbers_with_units(embedder):
    c = checker(embedder, "q")
    assert c.quantities("between 90 and 96 degrees, 18 grams, 2.5 million rivets") == {
        ("90", "degre"),
        ("96", "degre"),
        ("18", "gram"),
        ("2.5", "million"),
    }


def test_a_trailing_while_clause_is_cut_off_too(embedder):
    v = checker(embedder, "How much coffee is in a double espresso?").check(
        "A double shot uses 18 grams of coffee, while a single shot uses 9 grams."
    )
    assert v.status == "attached" and v.text == "A double shot uses 18 grams of coffee."


def test_a_bare_quantity_is_read_with_the_question(embedder):
    v = checker(embedder, "How much coffee does a double espresso use?").check(
        "The answer is: 18 grams of coffee."
    )
    assert v.status == "attached" and v.citations[0].number == 1


def test_an_invented_clause_is_cut_off_a_supported_sentence(embedder):
    v = checker(embedder, "How tall is the Eiffel Tower?").check(
        "The Eiffel Tower is 330 metres tall, which makes it a favourite of pigeons in spring."
    )
    assert v.status == "attached" and v.text == "The Eiffel Tower is 330 metres tall."
    kept = checker(embedder, "How tall is the Eiffel Tower?").check(
        "The Eiffel Tower is 330 metres tall, which includes the antennas at its top."
    )
    assert kept.text.endswith("antennas at its top.")  # a clause the passage backs stays
