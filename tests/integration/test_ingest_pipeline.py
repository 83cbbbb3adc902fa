"""Ingestion end to end with the real embedder and a real SQLite file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import REPO
from ragline.api import Ragline
from ragline.config import load_settings

pytestmark = pytest.mark.integration
SAMPLE = REPO / "examples" / "sample"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    dst = tmp_path / "docs"
    shutil.copytree(SAMPLE, dst)
    return dst


@pytest.fixture
def rag():
    with Ragline(load_settings()) as r:
        yield r


def test_ingest_then_search_every_format(rag: Ragline, folder: Path):
    report = rag.ingest([folder], collection="s")
    assert (report.added, report.failed) == (4, [])
    assert report.chunks >= 4
    hit = rag.search("how long do expense reports take to submit", collection="s", k=1)[0]
    assert hit.chunk.source.endswith("travel-policy.pdf") and hit.chunk.page == 2
    hit = rag.search("Olympus Mons volcano", collection="s", mode="bm25", k=1)[0]
    assert hit.chunk.heading_path[-1] == "Inner planets"
    assert "Olympus Mons" in hit.chunk.text
    hit = rag.search("pressure for espresso", collection="s", mode="dense", k=1)[0]
    assert hit.chunk.source.endswith(".html") and "9 bars" in hit.chunk.text
    assert "newsletter" not in hit.chunk.text  # boilerplate removed by main-text extraction
    text = (folder / "coffee-brewing.html").read_text()
    # offsets point into the cleaned document text
    assert hit.chunk.char_end > hit.chunk.char_start >= 0
    assert len(text) > 0


def test_reingest_is_idempotent_and_detects_changes(rag: Ragline, folder: Path):
    rag.ingest([folder], collection="s")
    chunks_before = rag.stats("s").chunks
    again = rag.ingest([folder], collection="s")
    assert (again.added, again.updated, again.unchanged, again.chunks) == (0, 0, 4, 0)
    assert not again.changed
    assert rag.stats("s").chunks == chunks_before

    txt = folder / "password-policy.txt"
    txt.write_text(txt.read_text().replace("14 characters", "16 characters"))
    changed = rag.ingest([folder], collection="s")
    assert (changed.added, changed.updated, changed.unchanged) == (0, 1, 3)
    hits = rag.search("minimum password length characters", collection="s", mode="bm25", k=3)
    texts = " ".join(h.chunk.text for h in hits)
    assert "16 characters" in texts and "14 characters" not in texts
    assert rag.stats("s").documents == 4


def test_prune_and_dedup(rag: Ragline, folder: Path):
    rag.ingest([folder], collection="s")
    shutil.copy(folder / "solar-system.md", folder / "copy-of-solar.md")
    dup = rag.ingest([folder], collection="s")
    assert dup.duplicates == 1 and dup.added == 0
    (folder / "password-policy.txt").unlink()
    kept = rag.ingest([folder], collection="s")
    assert kept.pruned == 0 and rag.stats("s").documents == 4
    pruned = rag.ingest([folder], collection="s", prune=True)
    assert pruned.pruned == 1
    assert rag.stats("s").documents == 3
    assert not rag.search("passphrases", collection="s", mode="bm25")


def test_bad_files_are_reported_and_the_rest_ingested(tmp_path: Path):
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "good.md").write_text("# Good\n\nThe lighthouse keeper lit the lamp at dusk.\n")
    (d / "binary.txt").write_bytes(b"\x00\x01\x02binary\x00data")
    (d / "empty.md").write_text("   \n\n")
    (d / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (d / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (d / "big.txt").write_text("word " * 5000)
    (d / "lines.jsonl").write_text(
        json.dumps({"_id": "1", "title": "One", "text": "First record about tides."})
        + "\n{not json}\n"
        + json.dumps({"_id": "3", "title": "Three", "text": "Third record about moons."})
        + "\n"
    )
    settings = load_settings(ingest={"max_file_bytes": 10_000})
    with Ragline(settings) as rag:
        report = rag.ingest([d, tmp_path / "does-not-exist"], collection="m")
        reasons = {Path(f.source.split(":")[0]).name: f.reason for f in report.failed}
        assert report.added == 3  # good.md + 2 JSONL records
        assert set(reasons) == {
            "binary.txt",
            "empty.md",
            "latin1.txt",
            "broken.pdf",
            "big.txt",
            "lines.jsonl",
            "does-not-exist",
        }
        assert any("lines.jsonl:2" in f.source for f in report.failed)
        assert "10,000" in reasons["big.txt"]
        for reason in reasons.values():
            assert len(reason) > 10  # says what is wrong
        assert rag.search("tides", collection="m", mode="bm25")[0].chunk.document_key.endswith("#1")


def test_jsonl_beir_ids_filters_and_globs(rag: Ragline, tmp_path: Path):
    corpus = tmp_path / "corpus.jsonl"
    rows = [
        {"_id": "d1", "title": "Vitamin D", "text": "Vitamin D improves bone density.", "src": "a"},
        {"_id": "d2", "title": "Iron", "text": "Iron deficiency causes anemia.", "src": "b"},
        {
            "_id": "d3",
            "title": "Calcium",
            "text": "Calcium and vitamin D support bones.",
            "src": "b",
        },
    ]
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "notes.md").write_text("# Notes\n\nVitamin D is made in the skin in sunlight.\n")
    rag.ingest([corpus, tmp_path / "notes.md"], collection="b")
    ranked = dict(rag.search_batch([("q1", "vitamin D bones")], collection="b", mode="bm25", k=10))
    assert set(ranked["q1"].doc_ids) >= {"d1", "d3"}
    hits = rag.search("vitamin D", collection="b", metadata={"src": "b"}, k=10)
    assert {h.chunk.metadata["doc_id"] for h in hits} == {"d2", "d3"}
    hits = rag.search("vitamin D", collection="b", source="*.md", k=10)
    assert [Path(h.chunk.source).name for h in hits] == ["notes.md"]
    rep = rag.ingest([tmp_path], collection="only-md", include=["*.md"])
    assert rep.added == 1
    rep = rag.ingest([tmp_path], collection="no-md", exclude=["*.md"])
    assert rep.added == 3


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """70 one-line documents in one JSONL file, with batches of 32."""
    monkeypatch.setenv("RAGLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RAGLINE_INGEST__BATCH_DOCUMENTS", "32")
    path = tmp_path / "corpus.jsonl"
    rows = [{"_id": f"d{i}", "text": f"Note {i} on topic {i % 7}."} for i in range(70)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_a_large_jsonl_is_written_batch_by_batch(corpus: Path, monkeypatch):
    # One file of many documents is embedded and committed every batch_documents, not
    # held whole in memory until its end; progress reports the documents written.
    with Ragline(load_settings()) as rag:
        writes: list[int] = []
        write = rag.store.write_documents

        def counting(collection, docs):  # type: ignore[no-untyped-def]
            writes.append(len(docs))
            return write(collection, docs)

        monkeypatch.setattr(rag.store, "write_documents", counting)
        events = []
        report = rag.ingest([corpus], collection="big", progress=events.append)
    assert report.added == 70 and writes == [32, 32, 6]
    assert [(e.status, e.done, e.documents) for e in events] == [
        ("writing", 0, 32),
        ("writing", 0, 64),
        ("added", 1, 64),
        ("writing", 1, 70),  # the last 6, written when the run ends
    ]


class _Killed(BaseException):
    pass


def test_a_run_stopped_inside_a_jsonl_file_is_finished_by_the_next(corpus: Path):
    # The file's first batch is committed, then the run dies: the file must not look
    # "unchanged" next time (its hash is recorded only once its last batch is in).

    def die_after_first_batch(event) -> None:  # type: ignore[no-untyped-def]
        if event.status == "writing":
            raise _Killed

    with Ragline(load_settings()) as rag:
        with pytest.raises(_Killed):
            rag.ingest([corpus], collection="big", progress=die_after_first_batch)
        assert rag.stats("big").documents == 32
        again = rag.ingest([corpus], collection="big")
        assert (again.added, again.unchanged) == (38, 32)  # the 32 are not embedded again
        assert rag.stats("big").documents == 70
        third = rag.ingest([corpus], collection="big")
        assert (third.added, third.unchanged, third.chunks) == (0, 70, 0)


def test_unknown_collection_and_bad_queries(rag: Ragline):
    from ragline.errors import CollectionNotFoundError, InvalidQueryError

    with pytest.raises(CollectionNotFoundError, match="ragline collections"):
        rag.search("x", collection="nope")
    rag.store.create_collection("empty")
    assert rag.search("anything", collection="empty") == []
    with pytest.raises(InvalidQueryError):
        rag.search("   ", collection="empty")
    with pytest.raises(InvalidQueryError):
        rag.search("x", collection="empty", mode="fuzzy")  # type: ignore[arg-type]
