"""The conformance suite of the :class:`ragline.server.review.ReviewFiles` Protocol.

An implementation's tests inherit :class:`ReviewFilesConformance` and supply
``make_review``, a callable that opens the review files of a folder::

    class TestMyReviewFiles(ReviewFilesConformance):
        @pytest.fixture
        def make_review(self):
            return MyReviewFiles

Each test writes its own files into ``tmp_path / "review"`` (:func:`write_review_file`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ragline.errors import DatasetError, PermissionDeniedError, ResourceNotFoundError
from ragline.server.review import ReviewFiles

PASSAGE = "Venus is the hottest planet in the Solar System; its surface stays near 465 degrees."


def review_item(n: int, review: str | None = None, **extra: Any) -> dict[str, Any]:
    """A review file's line as ``ragline data synth`` writes it."""
    return {
        "id": f"syn-{n}",
        "question": f"Question {n}: which planet is the hottest?",
        "answer": "Venus",
        "relevant": ["d1"],
        "source_passage": PASSAGE,
        "source": "venus.md",
        "chunk_id": f"c{n}",
        "status": "pending",
        "checks": {
            "answerable": {
                "ok": True,
                "lexical": 0.8,
                "semantic": 0.7,
                "facts_ok": True,
                "answer_in_passage": True,
            }
        },
        "review": review,
        **extra,
    }


def write_review_file(
    path: Path, items: Sequence[dict[str, Any]], bad: dict[int, str] | None = None
) -> Path:
    """Write ``items`` as JSONL; ``bad`` puts a raw (malformed) line before item i."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    for i, item in enumerate(items):
        if bad and i in bad:
            lines.append(bad[i])
        lines.append(json.dumps(item))
    if bad and len(items) in bad:
        lines.append(bad[len(items)])
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


class ReviewFilesConformance:
    """Every implementation of the review files behaves like this."""

    @pytest.fixture
    def folder(self, tmp_path: Path) -> Path:
        return tmp_path / "review"

    @pytest.fixture
    def files(self, folder: Path, make_review: Callable[[Path], ReviewFiles]) -> ReviewFiles:
        write_review_file(folder / "a.jsonl", [review_item(i) for i in range(1, 6)])
        return make_review(folder)

    def test_is_review_files(self, files: ReviewFiles) -> None:
        assert isinstance(files, ReviewFiles)

    def test_lists_jsonl_files_with_counts(self, folder: Path, files: ReviewFiles) -> None:
        write_review_file(
            folder / "b.jsonl", [review_item(1, "accepted"), review_item(2, "rejected")]
        )
        (folder / "a.card.json").write_text("{}")
        (folder / "notes.txt").write_text("not a review file")
        (folder / ".a.jsonl.lock").write_text("")
        (folder / "my review.jsonl").write_text(json.dumps(review_item(1)) + "\n")
        listed = {f["name"]: f for f in files.list_files()}
        assert set(listed) == {"a.jsonl", "b.jsonl", "my review.jsonl"}
        assert "rename the file" in listed["my review.jsonl"]["error"]
        a, b = listed["a.jsonl"], listed["b.jsonl"]
        assert (a["items"], a["pending"], a["accepted"], a["rejected"]) == (5, 5, 0, 0)
        assert (b["pending"], b["accepted"], b["rejected"], b["error"]) == (0, 1, 1, None)

    def test_an_unreadable_file_is_listed_with_its_error(
        self, folder: Path, files: ReviewFiles
    ) -> None:
        (folder / "broken.jsonl").write_text("not json\n[1, 2]\n")
        listed = {f["name"]: f for f in files.list_files()}
        assert "no valid record" in listed["broken.jsonl"]["error"]
        assert listed["a.jsonl"]["error"] is None
        with pytest.raises(DatasetError, match="no valid record"):
            files.page("broken.jsonl", status="all", limit=10, offset=0)

    def test_pages_filter_by_status_in_file_order(self, files: ReviewFiles) -> None:
        page = files.page("a.jsonl", status="pending", limit=2, offset=1)
        assert page["total"] == 5 and [i["id"] for i in page["items"]] == ["syn-2", "syn-3"]
        item = page["items"][0]
        assert item["question"].startswith("Question 2") and item["answer"] == "Venus"
        assert item["passage"] == PASSAGE and item["review"] is None and item["line"] == 2
        start, end = item["highlight"]
        assert PASSAGE[start:end] == "Venus"
        assert item["checks"]["answerable"]["lexical"] == 0.8
        files.decide("a.jsonl", accept=["syn-1"], reject=["syn-5"], note=None, by=None)
        assert [
            i["id"] for i in files.page("a.jsonl", status="accepted", limit=9, offset=0)["items"]
        ] == ["syn-1"]
        rejected = files.page("a.jsonl", status="rejected", limit=9, offset=0)
        assert [i["id"] for i in rejected["items"]] == ["syn-5"]
        assert rejected["counts"] == {"pending": 3, "accepted": 1, "rejected": 1}
        assert files.page("a.jsonl", status="all", limit=9, offset=0)["total"] == 5

    def test_a_span_the_item_carries_is_highlighted(
        self, folder: Path, make_review: Callable[[Path], ReviewFiles]
    ) -> None:
        at = PASSAGE.index("465 degrees")
        write_review_file(
            folder / "s.jsonl",
            [review_item(1, span=[at, at + 11]), review_item(2, answer="Mars")],
        )
        items = make_review(folder).page("s.jsonl", status="all", limit=9, offset=0)["items"]
        assert items[0]["highlight"] == [at, at + 11]
        assert items[1]["highlight"] is None  # "Mars" is not in the passage

    def test_decisions_apply_and_unknown_ids_are_reported_per_id(
        self, folder: Path, files: ReviewFiles
    ) -> None:
        out = files.decide(
            "a.jsonl",
            accept=["syn-1", "syn-2", "nope"],
            reject=["syn-3", "syn-2"],
            note="checked by hand",
            by="ana",
        )
        assert {(a["id"], a["review"], a["was"]) for a in out["applied"]} == {
            ("syn-1", "accepted", None),
            ("syn-3", "rejected", None),
        }
        errors = {e["id"]: e["error"] for e in out["errors"]}
        assert set(errors) == {"nope", "syn-2"}
        assert "no item" in errors["nope"] and "both" in errors["syn-2"]
        assert out["counts"] == {"pending": 3, "accepted": 1, "rejected": 1}
        on_disk = [json.loads(line) for line in read_lines(folder / "a.jsonl")]
        assert [it["review"] for it in on_disk] == ["accepted", None, "rejected", None, None]
        # the rest of each line is as it was
        assert on_disk[0] == review_item(1, "accepted")
        # a decision that changes a decision says what it was
        again = files.decide("a.jsonl", accept=["syn-3"], reject=[], note=None, by=None)
        assert again["applied"] == [{"id": "syn-3", "review": "accepted", "was": "rejected"}]

    def test_only_unknown_ids_write_nothing(self, folder: Path, files: ReviewFiles) -> None:
        before = (folder / "a.jsonl").read_bytes()
        out = files.decide("a.jsonl", accept=["x1"], reject=["x2"], note=None, by=None)
        assert out["applied"] == [] and len(out["errors"]) == 2 and not out["written"]
        assert (folder / "a.jsonl").read_bytes() == before

    def test_malformed_lines_are_reported_and_kept_verbatim(
        self, folder: Path, make_review: Callable[[Path], ReviewFiles]
    ) -> None:
        path = write_review_file(
            folder / "m.jsonl",
            [review_item(1), review_item(2)],
            bad={1: '{"id": "syn-x", "question": ', 2: "[1, 2, 3]"},
        )
        files = make_review(folder)
        page = files.page("m.jsonl", status="all", limit=9, offset=0)
        assert [i["id"] for i in page["items"]] == ["syn-1", "syn-2"]
        assert [b["line"] for b in page["bad_lines"]] == [2, 4]
        assert "not JSON" in page["bad_lines"][0]["reason"]
        assert "not an object" in page["bad_lines"][1]["reason"]
        assert files.list_files()[0]["bad_lines"] == 2
        files.decide("m.jsonl", accept=["syn-2"], reject=[], note=None, by=None)
        lines = read_lines(path)
        assert lines[1] == '{"id": "syn-x", "question": ' and lines[3] == "[1, 2, 3]"
        assert json.loads(lines[2])["review"] == "accepted"

    @pytest.mark.parametrize(
        "name",
        ["..", "../outside.jsonl", "/etc/passwd", "sub/a.jsonl", ".hidden.jsonl", "a.txt", ""],
    )
    def test_names_that_are_not_plain_files_of_the_folder_are_refused(
        self, folder: Path, files: ReviewFiles, name: str
    ) -> None:
        write_review_file(folder.parent / "outside.jsonl", [review_item(1)])
        with pytest.raises(ResourceNotFoundError):
            files.page(name, status="all", limit=9, offset=0)
        with pytest.raises(ResourceNotFoundError):
            files.decide(name, accept=["syn-1"], reject=[], note=None, by=None)

    def test_a_link_out_of_the_folder_is_refused_and_its_target_untouched(
        self, folder: Path, files: ReviewFiles
    ) -> None:
        outside = write_review_file(folder.parent / "outside.jsonl", [review_item(1)])
        before = outside.read_bytes()
        os.symlink(outside, folder / "escape.jsonl")
        with pytest.raises(PermissionDeniedError, match="outside the review folder"):
            files.page("escape.jsonl", status="all", limit=9, offset=0)
        with pytest.raises(PermissionDeniedError):
            files.decide("escape.jsonl", accept=["syn-1"], reject=[], note=None, by=None)
        assert outside.read_bytes() == before
        listed = {f["name"]: f for f in files.list_files()}
        assert "outside the review folder" in listed["escape.jsonl"]["error"]

    def test_concurrent_decisions_are_all_kept(self, folder: Path, files: ReviewFiles) -> None:
        n = 24
        write_review_file(folder / "c.jsonl", [review_item(i) for i in range(n)])

        def decide(i: int) -> dict[str, Any]:
            ids = [f"syn-{i}"]
            if i % 2:
                return files.decide("c.jsonl", accept=ids, reject=[], note=None, by=None)
            return files.decide("c.jsonl", accept=[], reject=ids, note=None, by=None)

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(decide, range(n)))
        assert all(len(r["applied"]) == 1 and not r["errors"] for r in results)
        final = [json.loads(line) for line in read_lines(folder / "c.jsonl")]
        assert [it["review"] for it in final] == [
            "accepted" if i % 2 else "rejected" for i in range(n)
        ]
        assert files.page("c.jsonl", status="pending", limit=9, offset=0)["total"] == 0


__all__ = ["PASSAGE", "ReviewFilesConformance", "read_lines", "review_item", "write_review_file"]
