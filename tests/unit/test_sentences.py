"""ragline's one sentence splitter (``ragline.text.sentences``): spans, lines, streams.

Chunking and the answer flow both use it; ``test_chunking.py`` and ``test_answer_text.py``
hold the cases each relies on, these the properties that make it one splitter.
"""

from __future__ import annotations

import itertools
import json
import random

import pytest

from conftest import optional_bench_data
from ragline.text.sentences import SentenceStream, sentences, split_sentences

ANSWERS = [
    "Venus is hot [1]. It has a thick atmosphere. [2] Mars is cold.\nSaturn has rings",
    "The tower is 330 m. [1] It formed 4.6 billion years ago [2]. Mr. Eiffel built it!",
    '1. Venus is hot [1].\n2. Mars is cold [Passage 2, 3].\n\n- e.g. Dr. Smith said "yes." Ok',
    "See Fig. 3 for details. Smith et al. (2019) agree. The U.S. economy grew 2.5 percent.",
    'He said "Stop." Then he left... And so on. [Methods] A trial [12]. Done [3][4].',
]


def _texts() -> list[str]:
    corpus = optional_bench_data("beir-scifact", "corpus.jsonl")
    docs = []
    if corpus is not None:  # real abstracts: citations, "et al.", "U.S.", "Fig. 3", lists
        with corpus.open() as f:
            for _, line in zip(range(60), f, strict=False):
                d = json.loads(line)
                docs.append(d["title"] + "\n" + d["text"])
    return ANSWERS + docs


@pytest.mark.parametrize("lines", [True, False])
def test_spans_are_stripped_ordered_and_cover_every_word(lines: bool):
    for text in _texts():
        spans = split_sentences(text, lines=lines)
        assert all(s < e for s, e in spans)
        assert all(e1 <= s2 for (_, e1), (s2, _) in itertools.pairwise(spans))
        assert all(text[s:e] == text[s:e].strip() for s, e in spans)
        assert " ".join(text[s:e] for s, e in spans).split() == text.split()
        assert sentences(text, lines=lines) == [text[s:e] for s, e in spans]


@pytest.mark.parametrize("lines", [True, False])
def test_a_stream_in_any_pieces_gives_the_sentences_of_the_whole_text(lines: bool):
    rng = random.Random(7)
    for text in _texts():
        for _ in range(3):
            stream, got, i = SentenceStream(lines=lines), [], 0
            while i < len(text):
                n = rng.randint(1, 12)
                got += stream.push(text[i : i + n])
                i += n
            got += stream.flush()
            assert got == sentences(text, lines=lines), text


def test_citation_markers_close_the_sentence_before_them_but_labels_do_not():
    assert sentences("A trial [12]. Done [3][4]. [Methods] We ran it. Tall. [2] Yes") == [
        "A trial [12].",
        "Done [3][4].",
        "[Methods] We ran it.",
        "Tall. [2]",
        "Yes",
    ]


def test_line_breaks_end_sentences_only_when_asked():
    text = "- first point\n- second point\nwrapped"
    assert sentences(text, lines=True) == ["- first point", "- second point", "wrapped"]
    assert sentences(text) == [text]
    assert sentences("1. Venus is hot.\n2. Mars is cold.", lines=True) == [
        "1. Venus is hot.",
        "2. Mars is cold.",
    ]
