"""``ragline data`` end to end: exports from a real store's traces and feedback, the CLI's
dedup / filter / review / bad input, data cards."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO
from ragline.answer.conversation import Conversation
from ragline.api import Ragline
from ragline.cli.main import app
from ragline.config import load_settings
from ragline.data.export import examples_from_store, split_by_document, to_preferences
from ragline.errors import DatasetError
from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel

pytestmark = pytest.mark.integration
runner = CliRunner()
TEMP = "The ideal brewing temperature is between 90 and 96 degrees Celsius."
# true, supported by the passage, and not what was asked
WRONG = (
    "Boiling water extracts bitter compounds, while water that is too cool leaves the coffee "
    "sour and weak."
)
FIXED = "Water between 90 and 96 degrees Celsius is ideal for brewing coffee."
SUN = "Venus is the hottest planet, with a mean surface temperature of about 464 °C."


def use(rag: Ragline, *replies: str) -> None:
    rag.gateway = Gateway(
        rag.settings, models={"embedded": FakeChatModel(list(replies))}, tracer=rag.tracer
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real store with answered, judged and corrected questions (the fake model only
    writes the drafts; retrieval, checks, traces and feedback are the real ones)."""
    home = tmp_path_factory.mktemp("data-export-home")
    settings = load_settings(
        home=home,
        trace={"flush_interval_s": 0.05},
        answer={"style": "generative"},
        guard={"enabled": False},  # the guards are not what is tested here (and load slowly)
    )
    with Ragline(settings) as rag:
        rag.ingest([REPO / "examples" / "sample"], collection="sample")
        q = "What water temperature is best for brewing coffee?"
        use(rag, TEMP)
        rag.ask(q, collection="sample")
        good = rag.tracer.last_trace_id
        use(rag, WRONG)
        rag.ask(q, collection="sample")
        bad = rag.tracer.last_trace_id
        use(rag, SUN)
        rag.ask("Which planet is the hottest?", collection="sample")
        sun = rag.tracer.last_trace_id
        use(rag, WRONG, FIXED)
        conversation = Conversation()
        rag.chat(q, conversation, collection="sample")
        rag.chat(
            "No, I meant the ideal brewing temperature of the water for coffee.",
            conversation,
            collection="sample",
        )
        assert rag.tracer.flush()
        rag.feedback.thumbs(good, up=True)
        rag.feedback.thumbs(bad, up=False)
        rag.feedback.thumbs(sun, up=True)
    yield home


def invoke(home: Path, *args: str) -> object:
    return runner.invoke(app, list(args), env={"RAGLINE_HOME": str(home)})


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_preference_pairs_from_thumbs_and_corrections(home: Path, tmp_path: Path):
    out = tmp_path / "prefs.jsonl"
    r = invoke(
        home,
        "data",
        "export",
        "--from",
        "feedback",
        "--format",
        "preference",
        "-o",
        str(out),
        "--test-fraction",
        "0",
        "--json",
    )
    assert r.exit_code == 0, r.output
    pairs = lines(out)
    kinds = {p["meta"]["pair"] for p in pairs}
    assert kinds == {"feedback", "correction"}, pairs
    thumbs = next(p for p in pairs if p["meta"]["pair"] == "feedback")
    assert thumbs["chosen"].startswith("The ideal brewing temperature is between")
    assert "Boiling water" in thumbs["rejected"] and set(thumbs) == {
        "prompt",
        "chosen",
        "rejected",
        "meta",
    }
    fix = next(p for p in pairs if p["meta"]["pair"] == "correction")
    assert "Boiling water" in fix["rejected"] and fix["chosen"].startswith("Water between 90")
    card = json.loads((tmp_path / "prefs.card.json").read_text())
    assert card["outputs"][0]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert [s["name"] for s in card["steps"]] == ["split-by-document", "format:preference"]


def test_chat_export_leaves_out_bad_answers_and_splits_by_document(home: Path, tmp_path: Path):
    out = tmp_path / "sft.jsonl"
    r = invoke(
        home,
        "data",
        "export",
        "--from",
        "traces",
        "--format",
        "chat",
        "-o",
        str(out),
        "--test-fraction",
        "0.4",
        "--json",
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    train, test = lines(out), lines(Path(summary["test_output"]))
    assert train and test
    every = train + test
    answers = [ex["messages"][-1]["content"] for ex in every]
    assert not any("Boiling water" in a for a in answers)  # thumbs down or corrected
    for ex in every:
        roles = [m["role"] for m in ex["messages"]]
        assert roles == ["system", "user", "assistant"] and "[1]" in ex["messages"][0]["content"]
    train_docs = {d for ex in train for d in ex["meta"]["doc_ids"]}
    test_docs = {d for ex in test for d in ex["meta"]["doc_ids"]}
    assert train_docs and test_docs and not train_docs & test_docs


def test_embedding_triples_with_hard_negatives_from_other_documents(home: Path, tmp_path: Path):
    out = tmp_path / "triples.jsonl"
    r = invoke(
        home,
        "data",
        "export",
        "--from",
        "feedback",
        "--format",
        "embedding-pairs",
        "-o",
        str(out),
        "-c",
        "sample",
        "--test-fraction",
        "0",
    )
    assert r.exit_code == 0, r.output
    triples = lines(out)
    assert triples
    for t in triples:
        assert set(t) == {"query", "positive", "negative", "meta"}
        assert t["negative"] != t["positive"]
        assert t["meta"]["negative_doc"] not in t["meta"]["doc_ids"]


def test_contaminated_training_examples_are_dropped(home: Path, tmp_path: Path):
    evals = tmp_path / "eval.jsonl"
    evals.write_text(
        json.dumps({"id": "e1", "question": "Which planet is the hottest?", "answer": SUN}) + "\n"
    )
    out = tmp_path / "sft.jsonl"
    r = invoke(
        home,
        "data",
        "export",
        "--from",
        "feedback",
        "--format",
        "chat",
        "-o",
        str(out),
        "--test-fraction",
        "0",
        "--eval-set",
        str(evals),
        "--json",
    )
    assert r.exit_code == 0, r.output
    check = json.loads(r.output)["contamination"]
    assert check["contaminated"] == 1 and check["train_examples_dropped"] == 1
    assert not any("Venus" in ex["messages"][-1]["content"] for ex in lines(out))


def test_store_examples_carry_passages_and_documents(home: Path):
    with Ragline(load_settings(home=home)) as rag:

        def chunks(coll, ids):
            return {c.id: (c.document_id, c.text) for c in rag.store.get_chunks(coll, ids)}

        examples = examples_from_store(rag.traces, source="traces", chunks=chunks)
    assert len(examples) == 5
    assert all(ex.passages and ex.doc_ids for ex in examples)
    corrected = [ex for ex in examples if ex.corrected]
    assert len(corrected) == 1 and corrected[0].turn == 1
    train, test = split_by_document(examples, test_fraction=0.3, seed=0)
    assert len(train) + len(test) == 5
    assert not {d for e in train for d in e.doc_ids} & {d for e in test for d in e.doc_ids}
    assert to_preferences(examples)


def test_no_usable_example_is_a_clear_error(tmp_path: Path, ragline_home: Path):
    out = tmp_path / "x.jsonl"
    r = invoke(
        ragline_home, "data", "export", "--from", "feedback", "--format", "chat", "-o", str(out)
    )
    assert isinstance(r.exception, DatasetError) and r.exception.exit_code == 9
    assert "no usable example from feedback" in str(r.exception)


def test_cli_dedup_filter_review_and_bad_input(tmp_path: Path, ragline_home: Path):
    src = tmp_path / "in.jsonl"
    body = "The committee reviewed the annual budget in March and approved new funding " * 2
    src.write_text(
        json.dumps({"_id": "a", "text": body})
        + "\n"
        + "{broken\n"
        + json.dumps({"_id": "b", "text": body.upper()})
        + "\n"
        + json.dumps({"_id": "c", "text": body.replace("March", "April")})
        + "\n"
        + json.dumps({"_id": "d", "text": "A different text about rivers, rain and the sea."})
        + "\n"
    )
    out, report = tmp_path / "out.jsonl", tmp_path / "clusters.jsonl"
    r = invoke(
        ragline_home, "data", "dedup", str(src), "-o", str(out), "--report", str(report), "--json"
    )
    assert r.exit_code == 0, r.output
    assert [x["_id"] for x in lines(out)] == ["a", "d"]
    (cluster,) = lines(report)
    assert cluster["kept"] == "a" and cluster["removed"] == ["b", "c"]
    assert cluster["reason"] == ["exact", "near"] and cluster["similarity"][0] == 1.0
    card = json.loads((tmp_path / "out.card.json").read_text())
    assert card["bad_line_count"] == 1 and card["bad_lines"][0]["line"] == 2
    assert card["steps"][0]["dropped"] == {"exact": 1, "near": 1}
    # filter the deduplicated file: its card carries the dedup step on
    out2 = tmp_path / "clean.jsonl"
    r = invoke(ragline_home, "data", "filter", str(out), "-o", str(out2), "--json")
    assert r.exit_code == 0, r.output
    assert (
        json.loads((tmp_path / "clean.card.json").read_text())["previous"][0]["steps"][0]["name"]
        == "dedup"
    )
    # an empty file stops at once, naming the problem
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    r = invoke(ragline_home, "data", "dedup", str(empty), "-o", str(tmp_path / "e.jsonl"))
    assert isinstance(r.exception, DatasetError) and "is empty" in str(r.exception)
    # review: accept one id, an unknown id is an error
    review = tmp_path / "review.jsonl"
    review.write_text(
        "".join(
            json.dumps({"id": i, "question": "q?", "answer": "a", "review": None}) + "\n"
            for i in ("s1", "s2")
        )
    )
    r = invoke(ragline_home, "data", "review", str(review), "--accept", "s1", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["pending_ids"] == ["s2"]
    assert lines(review)[0]["review"] == "accepted"
    card = json.loads((tmp_path / "review.card.json").read_text())
    assert card["steps"][0]["name"] == "review" and card["steps"][0]["notes"]["pending"] == 1
    assert card["outputs"][0]["sha256"] == hashlib.sha256(review.read_bytes()).hexdigest()
    r = invoke(ragline_home, "data", "review", str(review), "--reject", "zz")
    assert isinstance(r.exception, DatasetError) and "no item with id zz" in str(r.exception)


def test_only_accepted_synthetic_pairs_are_exported(home: Path, tmp_path: Path):
    review = tmp_path / "review.jsonl"
    doc = str(REPO / "examples" / "sample" / "coffee-brewing.html")  # as `data synth` names it
    passage = "Espresso forces water at about 9 bars of pressure through a fine, compacted puck."
    items = [
        {
            "id": "s1",
            "question": "At what pressure is espresso brewed?",
            "answer": "about 9 bars",
            "source_passage": passage,
            "relevant": [doc],
            "review": "accepted",
        },
        {
            "id": "s2",
            "question": "How long does a double shot take?",
            "answer": "25 to 30 seconds",
            "source_passage": passage,
            "relevant": [doc],
            "review": None,
        },
        {
            "id": "s3",
            "question": "What is a puck?",
            "answer": "compacted coffee",
            "source_passage": passage,
            "relevant": [doc],
            "review": "rejected",
        },
    ]
    review.write_text("".join(json.dumps(it) + "\n" for it in items))
    out = tmp_path / "triples.jsonl"
    r = invoke(
        home,
        "data",
        "export",
        "--from",
        "synthetic",
        "-i",
        str(review),
        "--format",
        "embedding-pairs",
        "-c",
        "sample",
        "-o",
        str(out),
        "--test-fraction",
        "0",
    )
    assert r.exit_code == 0, r.output
    triples = lines(out)
    assert {t["meta"]["id"] for t in triples} == {"s1"}
    assert triples[0]["positive"] == passage
    assert "coffee" not in triples[0]["negative"].lower()  # never from the positive's document
