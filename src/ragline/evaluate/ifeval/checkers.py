"""The 25 verifiable-instruction checkers of IFEval (Zhou et al. 2023, arXiv 2311.07911).

Each checker is a function ``check(response, **kwargs) -> bool`` that says whether one
response follows one instruction; :data:`CHECKERS` maps the instruction id (for example
``"punctuation:no_comma"``) to it. The keyword arguments are those of the instruction in
IFEval's ``input_data.jsonl``; ``None`` values are ignored, and a missing required one is a
:class:`~ragline.errors.ConfigError`.

The semantics follow the reference implementation exactly, quirks included, because the
point of the checkers is to reproduce published numbers: a *highlight* is ``*text*`` or
``**text**`` on one line, a *bullet* is a line that
starts with ``*`` or ``-``, paragraphs are split on ``***`` (``number_paragraphs``) or on
``\\n\\n`` (``nth_paragraph_first_word``), and an undetectable language counts as followed.
Relations are ``"less than"`` (strictly fewer) and ``"at least"``.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from ragline.errors import ConfigError
from ragline.evaluate.ifeval.text import (
    _LanguageUndetectable,
    count_sentences,
    count_words,
    detect_language,
    word_tokenize,
)

Checker = Callable[..., bool]

RELATIONS = ("less than", "at least")
CONSTRAINED_RESPONSE_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def _compare(actual: int, relation: str, threshold: int) -> bool:
    if relation == "less than":
        return actual < threshold
    if relation == "at least":
        return actual >= threshold
    raise ConfigError(
        f"unknown relation {relation!r}", hint=f"use one of {', '.join(map(repr, RELATIONS))}"
    )


def _language_is(response: str, language: str) -> bool:
    """True if ``response`` is in ``language``; an undetectable language counts as True."""
    try:
        return detect_language(response) == language
    except _LanguageUndetectable:
        return True


# --- keywords -------------------------------------------------------------------------


def keywords_existence(response: str, *, keywords: Sequence[str]) -> bool:
    """Every keyword occurs (as a substring, case-insensitively)."""
    return all(re.search(re.escape(k), response, flags=re.IGNORECASE) for k in keywords)


def keywords_frequency(response: str, *, keyword: str, frequency: int, relation: str) -> bool:
    """The keyword occurs ``relation`` ``frequency`` times (substring, case-insensitive)."""
    found = re.findall(re.escape(keyword.strip()), response, flags=re.IGNORECASE)
    return _compare(len(found), relation, frequency)


def keywords_forbidden_words(response: str, *, forbidden_words: Sequence[str]) -> bool:
    """None of the words occurs as a whole word (case-insensitive)."""
    return not any(
        re.search(r"\b" + re.escape(w) + r"\b", response, flags=re.IGNORECASE)
        for w in forbidden_words
    )


def keywords_letter_frequency(
    response: str, *, letter: str, let_frequency: int, let_relation: str
) -> bool:
    """The letter occurs ``let_relation`` ``let_frequency`` times, ignoring case.

    Any single character is counted, ``#`` or ``!`` included, as the current reference does.
    (The 2023 reference replaced a character outside a–z by a *random* letter, which is why
    the paper's GPT-4 scores differ from a deterministic re-run on two instructions.)
    """
    letter = letter.strip().lower()
    if len(letter) != 1:
        raise ConfigError(f"letter must be one character, got {letter!r}")
    return _compare(response.lower().count(letter), let_relation, let_frequency)


# --- language and case ----------------------------------------------------------------


def language_response_language(response: str, *, language: str) -> bool:
    """The whole response is in ``language`` (ISO 639-1 code, by ``langdetect``)."""
    return _language_is(response, language)


def change_case_english_capital(response: str) -> bool:
    """All cased characters are capitals and the response is English."""
    return response.isupper() and _language_is(response, "en")


def change_case_english_lowercase(response: str) -> bool:
    """All cased characters are lowercase and the response is English."""
    return response.islower() and _language_is(response, "en")


def change_case_capital_word_frequency(
    response: str, *, capital_frequency: int, capital_relation: str
) -> bool:
    """Words in all capitals (Treebank tokens) appear ``capital_relation`` N times."""
    capitals = sum(1 for token in word_tokenize(response) if token.isupper())
    return _compare(capitals, capital_relation, capital_frequency)


# --- length ---------------------------------------------------------------------------


def length_number_sentences(response: str, *, num_sentences: int, relation: str) -> bool:
    """The number of Punkt sentences is ``relation`` ``num_sentences``."""
    return _compare(count_sentences(response), relation, num_sentences)


def length_number_words(response: str, *, num_words: int, relation: str) -> bool:
    """The number of ``\\w+`` words is ``relation`` ``num_words``."""
    return _compare(count_words(response), relation, num_words)


def length_number_paragraphs(response: str, *, num_paragraphs: int) -> bool:
    """Exactly ``num_paragraphs`` paragraphs separated by the markdown divider ``***``.

    An empty piece before the first or after the last divider is not a paragraph; an empty
    one between two dividers fails the check.
    """
    pieces = re.split(r"\s?\*\*\*\s?", response)
    count = len(pieces)
    for index, piece in enumerate(pieces):
        if not piece.strip():
            if index in (0, len(pieces) - 1):
                count -= 1
            else:
                return False
    return count == num_paragraphs


def length_nth_paragraph_first_word(
    response: str, *, num_paragraphs: int, nth_paragraph: int, first_word: str
) -> bool:
    """``num_paragraphs`` paragraphs split on ``\\n\\n``; paragraph n starts with ``first_word``.

    As in the reference, the paragraph count leaves out blank pieces but the n-th paragraph
    is taken from the pieces as split (blank ones included).
    """
    pieces = response.split("\n\n")
    count = sum(1 for piece in pieces if piece.strip())
    if nth_paragraph > count or nth_paragraph < 1:
        return False
    paragraph = pieces[nth_paragraph - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
    head = re.match(r"""[^.,?!'"]*""", word)
    found = head.group(0).lower() if head else ""
    return count == num_paragraphs and found == first_word.lower()


# --- detectable content and format ----------------------------------------------------


def content_number_placeholders(response: str, *, num_placeholders: int) -> bool:
    """At least ``num_placeholders`` square-bracket placeholders such as ``[address]``."""
    return len(re.findall(r"\[.*?\]", response)) >= num_placeholders


def content_postscript(response: str, *, postscript_marker: str) -> bool:
    """A line contains the postscript marker (``P.S.``, ``P.P.S`` or any other text)."""
    marker = postscript_marker.strip()
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + re.escape(marker.lower()) + r".*$"
    return re.search(pattern, response.lower(), flags=re.MULTILINE) is not None


def format_number_bullet_lists(response: str, *, num_bullets: int) -> bool:
    """Exactly ``num_bullets`` lines that start with ``*`` (not ``**``) or ``-``."""
    stars = re.findall(r"^\s*\*[^\*].*$", response, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", response, flags=re.MULTILINE)
    return len(stars) + len(dashes) == num_bullets


def format_constrained_response(response: str) -> bool:
    """The response contains one of "My answer is yes./no./maybe."."""
    text = response.strip()
    return any(option in text for option in CONSTRAINED_RESPONSE_OPTIONS)


def format_number_highlighted_sections(response: str, *, num_highlights: int) -> bool:
    """At least ``num_highlights`` non-empty ``*highlighted*`` spans (``**x**`` counts too)."""
    count = sum(1 for span in re.findall(r"\*[^\n\*]*\*", response) if span.strip("*").strip())
    count += sum(
        1
        for span in re.findall(r"\*\*[^\n\*]*\*\*", response)
        if span.removeprefix("**").removesuffix("**").strip()
    )
    return count >= num_highlights


def format_multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> bool:
    """At least ``num_sections`` sections marked ``<spliter> <number>`` (e.g. ``SECTION 1``)."""
    marker = re.escape(section_spliter.strip())
    sections = re.split(r"\s?" + marker + r"\s?\d+\s?", response)
    return len(sections) - 1 >= num_sections


def format_json(response: str) -> bool:
    """The whole response (optionally in a ```json fence) parses as JSON."""
    text = response.strip()
    for prefix in ("```json", "```Json", "```JSON", "```"):
        text = text.removeprefix(prefix)
    text = text.removesuffix("```").strip()
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def format_title(response: str) -> bool:
    """A non-blank title in double angular brackets, such as ``<<poem of joy>>``."""
    return any(
        title.lstrip("<").rstrip(">").strip() for title in re.findall(r"<<[^\n]+>>", response)
    )


# --- combination, start/end, punctuation ----------------------------------------------


def combination_two_responses(response: str) -> bool:
    """Two different non-empty responses separated by ``******``."""
    pieces = response.split("******")
    answers = []
    for index, piece in enumerate(pieces):
        if piece.strip():
            answers.append(piece.strip())
        elif index not in (0, len(pieces) - 1):
            return False
    return len(answers) == 2 and answers[0] != answers[1]


def combination_repeat_prompt(response: str, *, prompt_to_repeat: str) -> bool:
    """The response starts by repeating ``prompt_to_repeat`` (case-insensitive)."""
    return response.strip().lower().startswith(prompt_to_repeat.strip().lower())


def startend_end_checker(response: str, *, end_phrase: str) -> bool:
    """The response ends with ``end_phrase`` (case-insensitive, outer quotes ignored)."""
    return response.strip().strip('"').lower().endswith(end_phrase.strip().lower())


def startend_quotation(response: str) -> bool:
    """The whole response is wrapped in double quotation marks."""
    text = response.strip()
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


def punctuation_no_comma(response: str) -> bool:
    """No comma anywhere."""
    return "," not in response


CHECKERS: dict[str, Checker] = {
    "change_case:capital_word_frequency": change_case_capital_word_frequency,
    "change_case:english_capital": change_case_english_capital,
    "change_case:english_lowercase": change_case_english_lowercase,
    "combination:repeat_prompt": combination_repeat_prompt,
    "combination:two_responses": combination_two_responses,
    "detectable_content:number_placeholders": content_number_placeholders,
    "detectable_content:postscript": content_postscript,
    "detectable_format:constrained_response": format_constrained_response,
    "detectable_format:json_format": format_json,
    "detectable_format:multiple_sections": format_multiple_sections,
    "detectable_format:number_bullet_lists": format_number_bullet_lists,
    "detectable_format:number_highlighted_sections": format_number_highlighted_sections,
    "detectable_format:title": format_title,
    "keywords:existence": keywords_existence,
    "keywords:forbidden_words": keywords_forbidden_words,
    "keywords:frequency": keywords_frequency,
    "keywords:letter_frequency": keywords_letter_frequency,
    "language:response_language": language_response_language,
    "length_constraints:nth_paragraph_first_word": length_nth_paragraph_first_word,
    "length_constraints:number_paragraphs": length_number_paragraphs,
    "length_constraints:number_sentences": length_number_sentences,
    "length_constraints:number_words": length_number_words,
    "punctuation:no_comma": punctuation_no_comma,
    "startend:end_checker": startend_end_checker,
    "startend:quotation": startend_quotation,
}

INSTRUCTION_IDS: tuple[str, ...] = tuple(CHECKERS)


def check_instruction(
    instruction_id: str, response: str, kwargs: dict[str, Any] | None = None
) -> bool:
    """Whether ``response`` follows instruction ``instruction_id`` with ``kwargs``.

    An empty (all-whitespace) response follows nothing. ``None`` values in ``kwargs`` are
    dropped, as IFEval files in the Hugging Face layout carry every key of every instruction.
    """
    checker = CHECKERS.get(instruction_id)
    if checker is None:
        raise ConfigError(
            f"unknown IFEval instruction id {instruction_id!r}",
            hint="see ragline.evaluate.ifeval.INSTRUCTION_IDS",
        )
    if not response.strip():
        return False
    arguments = {k: v for k, v in (kwargs or {}).items() if v is not None}
    try:
        inspect.signature(checker).bind(response, **arguments)
    except TypeError as exc:
        raise ConfigError(
            f"bad arguments for {instruction_id}: {sorted(arguments)} ({exc})",
            hint="pass the instruction's kwargs as in IFEval's input_data.jsonl",
        ) from exc
    return bool(checker(response, **arguments))


__all__ = [
    "CHECKERS",
    "CONSTRAINED_RESPONSE_OPTIONS",
    "INSTRUCTION_IDS",
    "RELATIONS",
    "Checker",
    "check_instruction",
]
