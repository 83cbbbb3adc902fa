"""Training files: formats accepted, bad lines reported, a useless file refused up front."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragline.errors import TrainingDataError
from ragline.finetune.data import read_chat, read_triples


def write(path: Path, lines: list[object]) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


CHAT = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris [1]."},
    ]
}


def test_chat_and_preference_records_become_examples(tmp_path: Path) -> None:
    pref = {"prompt": "Capital of Italy?", "chosen": "Rome.", "rejected": "Milan."}
    data = read_chat(write(tmp_path / "c.jsonl", [CHAT, pref]))
    assert [e.answer for e in data.examples] == ["Paris [1].", "Rome."]
    assert data.examples[0].prompt[-1] == {"role": "user", "content": "Capital of France?"}
    assert data.examples[1].prompt == [{"role": "user", "content": "Capital of Italy?"}]
    assert not data.problems and len(data.sha256) == 64


def test_bad_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    lines = [
        CHAT,
        "{not json",
        {"messages": [{"role": "user", "content": "hi"}]},  # no answer
        {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]},
        {"prompt": "q", "chosen": ""},
        [1, 2],
        {"text": "a document, not a training example"},
    ]
    data = read_chat(write(tmp_path / "c.jsonl", lines))
    assert len(data.examples) == 1
    reasons = {p.line: p.reason for p in data.problems}
    assert set(reasons) == {2, 3, 4, 5, 6, 7}
    assert "not JSON" in reasons[2] and "assistant" in reasons[3] and "robot" in reasons[4]
    assert "chosen" in reasons[5] and "object" in reasons[6] and "messages" in reasons[7]


def test_missing_empty_and_useless_files_fail_before_training(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="does not exist"):
        read_chat(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(TrainingDataError, match="is empty"):
        read_chat(tmp_path / "empty.jsonl")
    useless = write(tmp_path / "u.jsonl", [{"query": "q", "positive": "p"}])
    with pytest.raises(TrainingDataError, match="no valid chat example") as err:
        read_chat(useless)
    assert "line 1" in err.value.message and err.value.hint and "messages" in err.value.hint
    with pytest.raises(TrainingDataError, match="no valid triples example"):
        read_triples(write(tmp_path / "c.jsonl", [CHAT]))


def test_triples_with_and_without_a_hard_negative(tmp_path: Path) -> None:
    lines = [
        {"query": "q1", "positive": "p1", "negative": "n1"},
        {"query": "q2", "positive": "p2"},
        {"query": "q3", "positive": "p3", "negative": ""},
        {"query": "", "positive": "p4"},
    ]
    data = read_triples(write(tmp_path / "t.jsonl", lines))
    assert [(t.query, t.negative) for t in data.examples] == [("q1", "n1"), ("q2", None)]
    assert [p.line for p in data.problems] == [3, 4]
