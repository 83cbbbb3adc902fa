"""The 25 IFEval checkers, one by one, and the strict/loose scoring around them."""

from __future__ import annotations

import pytest

from ragline.errors import ConfigError
from ragline.evaluate.ifeval import (
    INSTRUCTION_IDS,
    IFEvalExample,
    check_instruction,
    evaluate,
    follows,
    loose_variants,
)
from ragline.evaluate.ifeval.text import count_sentences, count_words, word_tokenize

CASES: list[tuple[str, dict, str, bool]] = [
    # keywords
    ("keywords:existence", {"keywords": ["apple", "pie"]}, "Apple pie is good", True),
    ("keywords:existence", {"keywords": ["apple", "pie"]}, "Apple tart", False),
    (
        "keywords:frequency",
        {"keyword": "war", "frequency": 2, "relation": "at least"},
        "War and WAR",
        True,
    ),
    (
        "keywords:frequency",
        {"keyword": "war", "frequency": 2, "relation": "less than"},
        "war, warm",
        False,
    ),  # substring count: 'warm' contains 'war'
    ("keywords:forbidden_words", {"forbidden_words": ["free"]}, "freedom is fine", True),
    ("keywords:forbidden_words", {"forbidden_words": ["free"]}, "It is Free.", False),
    (
        "keywords:letter_frequency",
        {"letter": "t", "let_frequency": 2, "let_relation": "less than"},
        "Tea",
        True,
    ),
    (
        "keywords:letter_frequency",
        {"letter": "t", "let_frequency": 2, "let_relation": "less than"},
        "Tot",
        False,
    ),
    # language and case
    (
        "language:response_language",
        {"language": "de"},
        "Das ist ein ganz normaler deutscher Satz über das Wetter in Berlin.",
        True,
    ),
    (
        "language:response_language",
        {"language": "de"},
        "This is a perfectly ordinary English sentence about the weather.",
        False,
    ),
    ("language:response_language", {"language": "de"}, "12345 67890", True),  # undetectable
    ("change_case:english_capital", {}, "THIS IS ALL IN CAPITAL LETTERS, AS ASKED.", True),
    ("change_case:english_capital", {}, "THIS IS NOT all in capitals.", False),
    ("change_case:english_lowercase", {}, "this is all in lowercase letters, as asked.", True),
    ("change_case:english_lowercase", {}, "this is Not all lowercase.", False),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": "at least"},
        "I love NASA and the USA.",
        True,
    ),  # I, NASA, USA
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": "less than"},
        "DON'T do it.",
        False,
    ),  # DO, N'T
    # length
    (
        "length_constraints:number_sentences",
        {"num_sentences": 2, "relation": "at least"},
        "Dr. Smith went home. He was tired.",
        True,
    ),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 2, "relation": "less than"},
        "One. Two. Three.",
        False,
    ),
    (
        "length_constraints:number_words",
        {"num_words": 3, "relation": "less than"},
        "Hello, world!",
        True,
    ),
    (
        "length_constraints:number_words",
        {"num_words": 3, "relation": "at least"},
        "Hello, world!",
        False,
    ),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "One.\n***\nTwo.", True),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "A\n***\n\n***\nB", False),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 1}, "***\nOnly one\n***", True),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        'First things.\n\n"Then, more.',
        True,
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        "First things.\n\nNow more.",
        False,
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "then"},
        "First things.\n\nThen more.",
        False,
    ),
    # detectable content / format
    (
        "detectable_content:number_placeholders",
        {"num_placeholders": 2},
        "[name] at [address]",
        True,
    ),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "[name] only", False),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\n\nP.S. bye", True),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hi.\n\nP.S. bye", False),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hi.\nP. P. S. bye", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n* b\n**bold**", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n- b\n- c", False),
    ("detectable_format:constrained_response", {}, "Well. My answer is maybe.", True),
    ("detectable_format:constrained_response", {}, "My answer is: yes", False),
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 2},
        "*one* and *two*",
        True,
    ),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, "**bold**", True),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "**bold**", False),
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 2},
        "*one* and * *",
        False,
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "SECTION", "num_sections": 2},
        "SECTION 1\nfoo\nSECTION 2\nbar",
        True,
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "Section", "num_sections": 2},
        "Section 1\nfoo",
        False,
    ),
    ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', True),
    ("detectable_format:json_format", {}, 'Here: {"a": 1}', False),
    ("detectable_format:title", {}, "<<My Title>>\ntext", True),
    ("detectable_format:title", {}, "<< >>\n<<split\n>>", False),
    # combination, start/end, punctuation
    ("combination:two_responses", {}, "Answer A\n******\nAnswer B", True),
    ("combination:two_responses", {}, "Same\n******\nSame", False),
    ("combination:two_responses", {}, "A\n******\n\n******\nB", False),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "say HI. Hi!", True),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "Sure. Say hi.", False),
    (
        "startend:end_checker",
        {"end_phrase": "Any other questions?"},
        'Done. "Any other questions?"',
        True,
    ),
    (
        "startend:end_checker",
        {"end_phrase": "Any other questions?"},
        "Any other questions? Bye.",
        False,
    ),
    ("startend:quotation", {}, '  "quoted"  ', True),
    ("startend:quotation", {}, '"', False),
    ("punctuation:no_comma", {}, "No commas here.", True),
    ("punctuation:no_comma", {}, "One, two.", False),
]


@pytest.mark.parametrize(("instruction_id", "kwargs", "response", "expected"), CASES)
def test_checker(instruction_id: str, kwargs: dict, response: str, expected: bool) -> None:
    assert check_instruction(instruction_id, response, kwargs) is expected


def test_every_instruction_is_covered() -> None:
    assert len(INSTRUCTION_IDS) == 25
    assert {case[0] for case in CASES} == set(INSTRUCTION_IDS)


def test_empty_response_follows_nothing() -> None:
    assert not check_instruction("punctuation:no_comma", "   \n", {})


def test_none_kwargs_are_ignored_and_bad_ones_rejected() -> None:
    assert check_instruction("punctuation:no_comma", "ok", {"keywords": None})
    with pytest.raises(ConfigError):
        check_instruction("punctuation:no_comma", "ok", {"keywords": ["x"]})
    with pytest.raises(ConfigError):
        check_instruction("length_constraints:number_words", "ok", {"num_words": 3})
    with pytest.raises(ConfigError):
        check_instruction("nope:unknown", "ok", {})
    with pytest.raises(ConfigError):
        check_instruction(
            "length_constraints:number_words", "ok", {"num_words": 3, "relation": "about"}
        )


def test_counting_primitives() -> None:
    assert count_words("It's a well-known fact.") == 6
    assert count_sentences("Mr. Brown met Dr. Smith at 3 p.m. on Monday. They talked.") == 2
    assert count_sentences("no punctuation\nacross lines") == 1
    assert word_tokenize("I can't go.") == ["I", "ca", "n't", "go", "."]


def test_loose_variants() -> None:
    variants = loose_variants("Sure!\n*Body* text\nBye")
    assert variants[0] == "Sure!\n*Body* text\nBye"
    assert "Body text" in variants  # first and last lines removed, then '*' removed
    assert len(variants) == 8


def test_loose_mode_forgives_a_preamble() -> None:
    response = "Sure, here it is:\nno commas at all"
    assert not follows("punctuation:no_comma", response, {}, "strict")
    assert follows("punctuation:no_comma", response, {}, "loose")
    with pytest.raises(ConfigError):
        follows("punctuation:no_comma", response, {}, "lenient")  # type: ignore[arg-type]


def test_evaluate_scores_prompt_and_instruction_level() -> None:
    examples = [
        IFEvalExample(1, "p1", ("punctuation:no_comma",), ({},)),
        IFEvalExample(
            2,
            "p2",
            ("punctuation:no_comma", "detectable_format:title"),
            ({}, {}),
        ),
    ]
    report = evaluate(examples, ["fine", "Sure, here:\n<<T>> text"])
    assert report.strict.prompt_accuracy == 0.5
    assert report.strict.instruction_accuracy == pytest.approx(2 / 3)
    assert report.loose.prompt_accuracy == 1.0
    assert report.strict.per_instruction["punctuation:no_comma"] == 0.5
    assert report.loose.per_category["detectable_format"] == 1.0
    by_prompt = evaluate(examples, {"p1": "fine", "p2": "x"})
    assert by_prompt.outcomes[1].strict == (True, False)
    with pytest.raises(ConfigError):
        evaluate(examples, ["only one"])
    with pytest.raises(ConfigError):
        evaluate(examples, {"p1": "fine"})
    with pytest.raises(ConfigError):
        IFEvalExample(3, "p", ("punctuation:no_comma",), ())
