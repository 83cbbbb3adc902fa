"""Reading data sets leniently, record texts, data cards."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ragline.data.card import CardStep, card_paths, start_card, write_card
from ragline.data.records import read_records, record_text, write_jsonl
from ragline.errors import DatasetError


def test_each_bad_line_is_reported_and_the_rest_read(tmp_path: Path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"_id": "a", "text": "first"}\n'
        b"not json\n"
        b"[1, 2]\n"
        b'{"_id": "b", "title": "no text"}\n'
        b'{"_id": "c", "text": "caf\xff"}\n'
        b"\n"
        b'{"_id": "a", "text": "same id again"}\n'
    )
    data = read_records(path)
    assert [r.id for r in data.records] == ["a", "a@line:7"]
    reasons = {b.line: b.reason for b in data.bad}
    assert set(reasons) == {2, 3, 4, 5}
    assert "not JSON" in reasons[2] and "list" in reasons[3]
    assert "no text field" in reasons[4] and "not UTF-8" in reasons[5]
    assert data.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "is empty"), (b"  \n\n", "is empty"), (b"oops\n{]\n", "no valid record")],
)
def test_an_unusable_file_is_refused_up_front(tmp_path: Path, content: bytes, words: str):
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=words) as info:
        read_records(path)
    assert info.value.exit_code == 9


def test_a_missing_file_and_a_missing_field_name_the_fix(tmp_path: Path):
    with pytest.raises(DatasetError, match="no such file"):
        read_records(tmp_path / "nope.jsonl")
    path = tmp_path / "in.jsonl"
    path.write_text('{"body": "x"}\n')
    with pytest.raises(DatasetError) as info:
        read_records(path, text_field="text")
    assert "--field" in (info.value.hint or "")
    assert read_records(path, text_field="body").records[0].text == "x"


def test_record_text_shapes():
    assert record_text({"_id": "1", "title": "T", "text": "body"}) == "body"
    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    assert record_text(chat) == "hi\nyo"
    assert record_text({"question": "Q?", "answer": "A."}) == "Q?\nA."
    assert record_text({"prompt": "P", "chosen": "C", "rejected": "R"}) == "P\nC"
    assert record_text({"query": "q", "positive": "p", "negative": "n"}) == "q\np"
    assert record_text({"meta": {"body": "deep"}}, "meta.body") == "deep"
    assert record_text({"text": 3}) is None


def test_a_card_records_steps_and_hashes_and_carries_history(tmp_path: Path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "a"}\nbroken\n')
    data = read_records(src)
    out = tmp_path / "out.jsonl"
    n, digest = write_jsonl(out, [r.data for r in data.records])
    card = start_card("file in.jsonl", data)
    card.steps.append(CardStep("dedup", {"threshold": 0.55}, 1, 1, {"near": 0}))
    from ragline.data.card import FileRef

    card.outputs.append(FileRef(str(out), digest, n))
    json_path, md_path = write_card(card, out)
    assert (json_path, md_path) == card_paths(out) and json_path.name == "out.card.json"
    d = json.loads(json_path.read_text())
    assert d["inputs"][0]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert d["outputs"][0]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert d["bad_line_count"] == 1 and d["steps"][0]["name"] == "dedup"
    assert "| dedup | 1 | 1 |" in md_path.read_text()
    # the next step's card keeps this one's steps
    nxt = start_card("file out.jsonl", read_records(out))
    assert nxt.previous[0]["steps"][0]["name"] == "dedup"
