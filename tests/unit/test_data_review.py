"""Review files (``ragline.data.review``): the folder the server reads, the one decision path
the CLI and the server share, and what a process killed mid-write leaves behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragline.data import records
from ragline.data.review import ReviewFolder, decide_file
from ragline.errors import DatasetError
from ragline.testing.review_conformance import (
    ReviewFilesConformance,
    read_lines,
    review_item,
    write_review_file,
)


class TestReviewFolder(ReviewFilesConformance):
    @pytest.fixture
    def make_review(self):
        return ReviewFolder


def test_the_cli_and_the_server_write_the_same_file_and_card(tmp_path: Path, ragline_home):
    from ragline.cli.main import app

    items = [review_item(i) for i in range(1, 5)]
    bad = {2: "not json"}
    cli_file = write_review_file(tmp_path / "cli" / "r.jsonl", items, bad)
    web_file = write_review_file(tmp_path / "web" / "r.jsonl", items, bad)
    args = ["data", "review", str(cli_file), "--accept", "syn-1", "--reject", "syn-3"]
    r = CliRunner().invoke(app, args, env={"RAGLINE_HOME": str(ragline_home)})
    assert r.exit_code == 0, r.output
    out = ReviewFolder(web_file.parent).decide("r.jsonl", accept=["syn-1"], reject=["syn-3"])
    assert cli_file.read_bytes() == web_file.read_bytes()
    assert read_lines(cli_file)[2] == "not json"  # a malformed line is kept, not dropped
    cards = [json.loads(p.with_name("r.card.json").read_text()) for p in (cli_file, web_file)]
    for card in cards:
        (step,) = card["steps"]
        assert step["name"] == "review" and step["notes"]["accepted"] == 1
        assert step["params"]["accepted_now"] == 1 and step["params"]["rejected_now"] == 1
        assert card["bad_lines"] == [{"line": 3, "reason": "not JSON: Expecting value (column 1)"}]
    assert cards[1]["outputs"][0]["sha256"] == out["version"]


def test_the_card_records_the_note_who_and_what_was_refused(tmp_path: Path):
    path = write_review_file(tmp_path / "r.jsonl", [review_item(1), review_item(2)])
    decide_file(path, accept=["syn-1"], reject=["zz"], note="fine", by="ana", strict=False)
    decide_file(path, reject=["syn-2"], strict=False)
    card = json.loads((tmp_path / "r.card.json").read_text())
    (step,) = card["steps"]  # the last decision's step
    assert step["params"] == {
        "accepted_now": 0,
        "rejected_now": 1,
        "accept_rest": False,
        "reject_rest": False,
    }
    (first,) = card["previous"][0]["steps"]  # the earlier decision's step, carried on
    assert first["params"]["note"] == "fine" and first["params"]["by"] == "ana"
    assert first["notes"]["refused"] == [{"id": "zz", "error": "no item with this id in the file"}]


def test_strict_decisions_refuse_unknown_ids_and_write_nothing(tmp_path: Path):
    path = write_review_file(tmp_path / "r.jsonl", [review_item(1)])
    before = path.read_bytes()
    with pytest.raises(DatasetError, match="no item with id nope"):
        decide_file(path, accept=["syn-1", "nope"])
    assert path.read_bytes() == before and not (tmp_path / "r.card.json").exists()


def test_a_write_killed_before_the_rename_leaves_the_old_file(tmp_path, monkeypatch):
    path = write_review_file(tmp_path / "r.jsonl", [review_item(1), review_item(2)])
    before = path.read_bytes()

    def die(src, dst):  # the process dies after the new file was written, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(records.os, "replace", die)
    with pytest.raises(KeyboardInterrupt):
        decide_file(path, accept=["syn-1"])
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".r.jsonl.lock", "r.jsonl"]
    decide_file(path, accept=["syn-1"])  # and the next decision goes through
    assert json.loads(read_lines(path)[0])["review"] == "accepted"


def test_the_written_file_keeps_its_permissions_and_is_fsynced(tmp_path, monkeypatch):
    path = write_review_file(tmp_path / "r.jsonl", [review_item(1)])
    os.chmod(path, 0o640)
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(records.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    decide_file(path, accept=["syn-1"])
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert len(synced) >= 2  # the review file and its folder (then the card's files)


def test_a_missing_review_folder_says_how_to_fix_it(tmp_path: Path):
    from ragline.errors import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError, match="does not exist") as e:
        ReviewFolder(tmp_path / "nope").list_files()
    assert "server.review_dir" in (e.value.hint or "")
