"""Feedback: explicit judgements, implicit signals, the correction detector, the export."""

from __future__ import annotations

import io
import json

import pytest

from ragline.config import TraceSettings
from ragline.errors import InvalidQueryError
from ragline.evaluate.spec import load_dataset
from ragline.feedback.correction import detect_correction, evaluate_detector, load_labelled_turns
from ragline.feedback.export import export_feedback, read_dataset
from ragline.feedback.signals import FeedbackRecorder, is_negative, summarize_feedback
from ragline.store.sqlite_traces import SQLiteTraceStore
from ragline.store.traces_base import FeedbackQuery, FeedbackRecord
from ragline.testing.trace_conformance import make_trace, tid
from ragline.trace import StoreSink, Tracer


@pytest.fixture
def store(tmp_path):
    s = SQLiteTraceStore(tmp_path / "r.db")
    yield s
    s.close()


def test_labelled_set_is_big_balanced_and_well_formed():
    turns = load_labelled_turns()
    assert len(turns) >= 50
    assert {t["split"] for t in turns} == {"dev", "test"}
    positives = sum(t["label"] for t in turns)
    assert 0.4 <= positives / len(turns) <= 0.6
    assert len({t["text"] for t in turns}) == len(turns)


def test_detector_precision_and_recall():
    turns = load_labelled_turns()
    dev = evaluate_detector([t for t in turns if t["split"] == "dev"])
    held_out = evaluate_detector([t for t in turns if t["split"] == "test"])
    # dev: the turns the cues were written against; test: written after they were frozen.
    assert dev.precision >= 0.95 and dev.recall >= 0.95
    assert held_out.precision >= 0.9 and held_out.recall >= 0.7
    assert evaluate_detector().support == len(turns)


@pytest.mark.parametrize(
    ("text", "previous", "expected"),
    [
        ("No, I meant the 2023 report.", None, True),
        ("that's wrong", None, True),
        ("What's wrong with my report?", None, False),
        ("No thanks, that's all.", None, False),
        ("No.", "Would you like more detail?", False),
        ("No. The meeting is on Thursday.", "The meeting is on Tuesday.", True),
        ("", None, False),
    ],
)
def test_detector_examples(text, previous, expected):
    assert detect_correction(text, previous).is_correction is expected


def test_explicit_feedback_is_linked_and_validated(store):
    store.write_traces([make_trace(tid(7))])
    fb = FeedbackRecorder(store)
    fb.thumbs(tid(7)[:8], up=False, comment="old policy")
    fb.rate(tid(7), 4)
    fb.comment(tid(7), "good sources")
    got = store.list_feedback(FeedbackQuery(trace_ids=(tid(7),)))
    assert [(f.kind, f.value) for f in got] == [
        ("thumbs", -1.0),
        ("rating", 4.0),
        ("comment", None),
    ]
    assert all(f.source == "explicit" for f in got)
    with pytest.raises(InvalidQueryError, match="no trace"):
        fb.thumbs("deadbeef", up=True)
    with pytest.raises(InvalidQueryError, match="1 to 5"):
        fb.rate(tid(7), 6)
    with pytest.raises(InvalidQueryError):
        fb.comment(tid(7), "  ")


def test_observe_turn_detects_correction_regeneration_and_length(store):
    fb = FeedbackRecorder(store)
    first = fb.observe_turn("What is the leave policy?", turn=1, trace_id=tid(1))
    assert not first.correction and [r.kind for r in first.records] == ["conversation_length"]
    second = fb.observe_turn(
        "No, I meant the parental leave policy.",
        turn=2,
        previous_trace_id=tid(1),
        previous_user_text="What is the leave policy?",
        trace_id=tid(2),
    )
    assert second.correction and not second.regeneration
    third = fb.observe_turn(
        "no, I meant the PARENTAL leave policy",
        turn=3,
        previous_trace_id=tid(2),
        previous_user_text="No, I meant the parental leave policy.",
        trace_id=tid(3),
    )
    assert third.regeneration and not third.correction  # the same question, asked again
    kinds = [(f.trace_id, f.kind) for f in store.list_feedback(FeedbackQuery())]
    assert (tid(1), "correction") in kinds and (tid(2), "regeneration") in kinds
    assert (tid(3), "conversation_length") in kinds


def test_observe_turn_inside_a_trace_writes_in_background(store):
    tracer = Tracer(TraceSettings(flush_interval_s=0.01), [StoreSink(lambda: store)])
    with tracer.trace("chat", query="that's wrong, it is 42") as span:
        FeedbackRecorder(store).observe_turn(
            "that's wrong, it is 42", turn=2, previous_trace_id=tid(9), span=span
        )
        assert store.list_feedback(FeedbackQuery()) == []  # not written on the request path
    tracer.close()
    kinds = {(f.trace_id, f.kind) for f in store.list_feedback(FeedbackQuery())}
    assert kinds == {(tid(9), "correction"), (span.trace_id, "conversation_length")}


def test_regenerate_and_early_stop_helpers(store):
    fb = FeedbackRecorder(store)
    fb.regenerated(tid(1), button=True)
    fb.stopped_early(tid(1), tokens_seen=12)
    got = store.list_feedback(FeedbackQuery(trace_ids=(tid(1),)))
    assert [(f.kind, f.value, f.source) for f in got] == [
        ("regeneration", 1.0, "implicit"),
        ("early_stop", 12.0, "implicit"),
    ]


def test_labels():
    neg = FeedbackRecord("t", "thumbs", -1.0)
    assert is_negative(neg) and is_negative(FeedbackRecord("t", "rating", 2.0))
    assert not is_negative(FeedbackRecord("t", "early_stop", 3.0))
    assert summarize_feedback([FeedbackRecord("t", "correction", 1.0)])["label"] == "negative"
    # the latest explicit judgement wins
    assert summarize_feedback([neg, FeedbackRecord("t", "thumbs", 1.0)])["label"] == "positive"
    assert summarize_feedback([FeedbackRecord("t", "rating", 3.0)])["label"] == "neutral"


def test_export_writes_a_dataset_the_reader_reads_back(store, tmp_path):
    answered = make_trace(tid(1), name="ask", query="how hot is venus", collection="astro")
    answered.root.attributes.update(
        {"answer": "About 465 °C.", "prompt.template": "answer", "prompt.version": "3"}
    )
    answered.spans[1].name = "search"
    answered.spans[1].attributes["hits"] = [{"chunk_id": "c1", "source": "venus.md", "score": 0.7}]
    silent = make_trace(tid(2))
    store.write_traces([answered, silent])
    fb = FeedbackRecorder(store)
    fb.thumbs(tid(1), up=False)
    fb.comment(tid(1), "Mercury is closer, Venus is hotter")
    store.add_feedback([FeedbackRecord(tid(1), "correction", 1.2, source="implicit")])
    store.add_feedback([FeedbackRecord(tid(2), "conversation_length", 1.0, source="implicit")])
    out = io.StringIO()
    assert export_feedback(store, out) == 1  # a turn count alone is not a judgement
    line = json.loads(out.getvalue())
    assert line["id"] == tid(1) and line["question"] == "how hot is venus"
    assert line["answer"] == "About 465 °C." and line["label"] == "negative"
    assert line["contexts"] == [{"chunk_id": "c1", "source": "venus.md", "score": 0.7}]
    assert line["thumbs"] == -1 and line["signals"]["correction"] is True
    assert line["prompt"] == {"template": "answer", "version": "3"}
    path = tmp_path / "fb.jsonl"
    path.write_text(out.getvalue())
    (example,) = read_dataset(path)
    assert example.label == "negative" and example.comments == [
        "Mercury is closer, Venus is hotter"
    ]
    # the evaluation harness reads it as a data set: id, question, answer, sliceable label
    (item,) = load_dataset(path)
    assert item.id == tid(1) and item.get("question") == "how hot is venus"
    assert item.get("answer") == "About 465 °C." and item.get("label") == "negative"
    explicit = io.StringIO()
    export_feedback(store, explicit, include_implicit=False)
    assert json.loads(explicit.getvalue())["signals"]["correction"] is False
