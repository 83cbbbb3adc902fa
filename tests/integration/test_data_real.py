"""Dataset engineering with the real parts: PII detector, embedder, citation checker."""

from __future__ import annotations

import json

import pytest

from conftest import bench_data
from ragline.config import load_settings
from ragline.data.records import DataRecord
from ragline.data.scrub import scrub_records
from ragline.data.semantic import semantic_duplicates
from ragline.data.synth import AnswerabilityChecker, apply_review, review_candidates
from ragline.errors import DatasetError
from ragline.guard.pii import PiiGuard
from ragline.models.embedder import get_embedder

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings():
    return load_settings()


@pytest.fixture(scope="module")
def embedder(settings):
    return get_embedder(settings.embedder)


def test_pii_is_redacted_per_record_and_counted_per_type(settings):
    records = [
        DataRecord(
            1,
            "a",
            {
                "id": "a",
                "question": "Can you email Jane Doe at jane.doe@example.com about my refund?",
                "answer": "I have forwarded your request to Jane Doe.",
            },
            "",
        ),
        DataRecord(2, "b", {"id": "b", "text": "The warranty covers parts for two years."}, ""),
    ]
    report = scrub_records(records, PiiGuard(settings).find, action="redact")
    assert len(report.kept) == 2 and report.changed == 1
    a = report.kept[0].data
    assert "jane.doe@example.com" not in a["question"] and "<EMAIL_ADDRESS_1>" in a["question"]
    # one value, one placeholder across the record's fields
    assert "<PERSON_1>" in a["question"] and "<PERSON_1>" in a["answer"]
    assert a["id"] == "a"  # ids are not scanned
    assert report.entities["EMAIL_ADDRESS"] == 1 and report.entities["PERSON"] == 2
    assert report.kept[1].data["text"] == "The warranty covers parts for two years."


def test_pii_drop_mode_drops_the_record(settings):
    rec = DataRecord(1, "a", {"text": "Call me on +1 415 555 0100 tonight."}, "")
    report = scrub_records([rec], PiiGuard(settings).find, action="drop")
    assert report.kept == [] and report.dropped[0][0] == "a"
    assert "PHONE_NUMBER" in report.dropped[0][2]


def test_semantic_duplicates_cluster_paraphrases(embedder):
    texts = [
        "How long is the warranty on the laptop?\nTwo years.",
        "What is the capital of France?\nParis.",
        "How long is the laptop's warranty?\nTwo years.",
        "Who wrote Hamlet?\nShakespeare.",
        "For how long is the laptop under warranty?\nTwo years.",
    ]
    r = semantic_duplicates(texts, embedder, threshold=0.92)
    assert r.keep == [True, True, False, True, False]
    assert r.clusters[0].kept == 0 and {m.index for m in r.clusters[0].removed} == {2, 4}
    assert all(m.reason == "semantic" and m.similarity >= 0.92 for m in r.clusters[0].removed)


@pytest.fixture(scope="module")
def squad():
    root = bench_data() / "rag-qa" / "squad2-dev"
    if not root.exists():
        pytest.skip(f"benchmark data not found at {root}")
    corpus = {
        (d := json.loads(line))["_id"]: d["text"]
        for line in (root / "corpus.jsonl").read_text().splitlines()
    }
    questions = [json.loads(line) for line in (root / "questions.jsonl").read_text().splitlines()]
    return corpus, [q for q in questions if q["answerable"]]


def test_answerability_passes_a_question_on_its_passage_not_on_another(settings, embedder, squad):
    corpus, questions = squad
    checker = AnswerabilityChecker(settings, embedder)
    sample = questions[:40:4]
    own = [checker.check(q["text"], q["answers"][0], corpus[q["gold"]]).ok for q in sample]
    other = (
        corpus["Amazon_rainforest-0"]
        if "Amazon_rainforest-0" in corpus
        else list(corpus.values())[-1]
    )
    elsewhere = [checker.check(q["text"], q["answers"][0], other).ok for q in sample]
    assert sum(own) >= 6 and sum(elsewhere) == 0, (own, elsewhere)


def test_review_loop_filters_dedups_and_marks(settings, embedder, squad):
    corpus, questions = squad
    checker = AnswerabilityChecker(settings, embedder)
    good = (
        q for q in questions[::7] if checker.check(q["text"], q["answers"][0], corpus[q["gold"]]).ok
    )
    q0 = next(good)
    q1 = next(q for q in good if q["gold"] != q0["gold"])
    items = [
        {
            "id": "s1",
            "question": q0["text"],
            "answer": q0["answers"][0],
            "source_passage": corpus[q0["gold"]],
        },
        {
            "id": "s2",
            "question": q0["text"].replace("?", " ?"),
            "answer": q0["answers"][0],
            "source_passage": corpus[q0["gold"]],
        },  # the same question again
        {
            "id": "s3",
            "question": q1["text"],
            "answer": q1["answers"][0],
            "source_passage": corpus[q1["gold"]],
        },
        {
            "id": "s4",
            "question": "What colour is the sky on Mars at noon?",
            "answer": "butterscotch",
            "source_passage": corpus[q0["gold"]],
        },  # not answered by its passage
    ]
    report = review_candidates(
        items,
        checker,
        judge=None,
        judge_min_rating=3,
        dedup_threshold=0.55,
        dedup_ngram=2,
        semantic_threshold=0.92,
        embedder=embedder,
    )
    kept = [it["id"] for it in report.kept]
    reasons = {r["id"]: r["reason"] for r in report.rejected}
    assert reasons.get("s4") == "not answerable by its passage"
    assert reasons.get("s2") == "duplicate" and "s1" in kept
    assert all(it["review"] is None and "answerable" in it["checks"] for it in report.kept)
    counts = apply_review(report.kept, accept=["s1"], reject_rest=True)
    assert counts["accepted"] == 1 and counts["pending"] == 0
    with pytest.raises(DatasetError, match="no item with id nope"):
        apply_review(report.kept, accept=["nope"])


def test_cli_semantic_dedup_of_qa_pairs(tmp_path, ragline_home):
    from typer.testing import CliRunner

    from ragline.cli.main import app

    src = tmp_path / "qa.jsonl"
    rows = [
        {"id": "q1", "question": "What year was the Maastricht treaty signed?", "answer": "1992"},
        {"id": "q2", "question": "When year was the Maastrich Treaty signed?", "answer": "1992"},
        {"id": "q3", "question": "Who wrote Hamlet?", "answer": "Shakespeare"},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out, report = tmp_path / "out.jsonl", tmp_path / "clusters.jsonl"
    r = CliRunner().invoke(
        app,
        [
            "data",
            "dedup",
            str(src),
            "-o",
            str(out),
            "--semantic",
            "--report",
            str(report),
            "--json",
        ],
        env={"RAGLINE_HOME": str(ragline_home)},
    )
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["q1", "q3"]
    (cluster,) = [json.loads(x) for x in report.read_text().splitlines()]
    assert cluster["kept"] == "q1" and cluster["removed"] == ["q2"]
    assert cluster["reason"] == ["semantic"] and cluster["similarity"][0] >= 0.96
    steps = json.loads((tmp_path / "out.card.json").read_text())["steps"]
    assert [s["name"] for s in steps] == ["dedup", "semantic-dedup"]
