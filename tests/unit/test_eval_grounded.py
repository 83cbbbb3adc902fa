"""``system.answer.flow: grounded``: eval items answered by ragline's own answer flow
(rewrite, retrieval, gate, packing, citation checks, declines) with a scripted chat model
behind the real Gateway, over the sample documents embedded with the real MiniLM."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO
from ragline.answer.flow import DECLINE_MESSAGE
from ragline.api import Ragline
from ragline.config import GatewaySettings, load_settings
from ragline.errors import CollectionNotFoundError, ConfigError
from ragline.evaluate.report import render_run_html
from ragline.evaluate.runner import EvalRunner, spec_fingerprint
from ragline.evaluate.spec import parse_spec
from ragline.models.gateway import Gateway
from ragline.store.sqlite_evals import SQLiteEvalStore
from ragline.testing.chat_conformance import FakeChatModel

ITEMS = [
    {
        "id": "venus",
        "question": "How hot is the surface of Venus?",
        "answer": "about 464 °C",
        "relevant": ["solar-system.md"],
        "reference_contexts": ["solar-system.md"],
        "topic": "space",
    },
    {
        "id": "gold",
        "question": "What is Venus covered in?",
        "answer": "clouds",
        "relevant": ["solar-system.md"],
        "reference_contexts": ["solar-system.md"],
        "topic": "space",
    },
    {
        "id": "canberra",
        "question": "What is the capital of Australia?",
        "answer": "Canberra",
        "relevant": [],
        "topic": "geo",
    },
]
REPLIES = {
    "How hot": "Venus has a mean surface temperature of about 464 °C [1].",
    "covered": "Venus is covered in oceans of liquid gold, 900 km deep.",
}


def reply(messages, params) -> str:
    question = messages[-1]["content"]
    return next((r for k, r in REPLIES.items() if k in question), "I do not know.")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("eval-grounded")
    with Ragline(load_settings(home=home)) as rag:
        rag.ingest([REPO / "examples" / "sample"], collection="sample")
    return home


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in ITEMS))
    return path


def make_spec(dataset: Path, **answer: object):
    return parse_spec(
        {
            "name": "grounded",
            "dataset": dataset.name,
            "slices": ["topic"],
            "system": {
                "name": "ragline-grounded",
                "answer": {"flow": "grounded", "collection": "sample", "model": "fake", **answer},
            },
            "metrics": [
                {"type": "retrieval", "measures": ["recall@3", "mrr"]},
                {"type": "answer", "measures": ["f1", "contains"]},
                {"type": "rag", "measures": ["faithfulness", "context_recall"]},
            ],
        },
        dataset.parent,
    )


class Env:
    def __init__(self, home: Path, tmp_path: Path, **answer: object) -> None:
        self.settings = load_settings(
            home=home,
            gateway=GatewaySettings(max_retries=0),
            answer={"style": "generative", **answer},  # the flow under test writes
        )
        self.fake = FakeChatModel(reply, name="fake:model")
        self.store = SQLiteEvalStore(tmp_path / "evals.db")

    def runner(self) -> EvalRunner:
        gateway = Gateway(self.settings, models={"fake": self.fake}, sleep=lambda s: None)
        return EvalRunner(
            self.settings, self.store, gateway=gateway, rag=lambda: Ragline(self.settings)
        )


@pytest.fixture
def env(home: Path, tmp_path: Path) -> Iterator[Env]:
    e = Env(home, tmp_path)
    yield e
    e.store.close()


def test_grounded_flow_records_the_answer_and_scores_it(env: Env, dataset: Path) -> None:
    with env.runner() as runner:
        outcome = runner.run(make_spec(dataset))
    run = outcome.run
    assert run.status == "complete" and outcome.failed == 0
    assert run.prompts["answer"].startswith("answer@v3 sha256:") and run.models == ["fake"]
    assert run.config["system"]["answer"]["flow"] == "grounded"
    assert run.config["answer_settings"]["min_relevance"] == env.settings.answer.min_relevance
    items = {i.item_id: i for i in outcome.items}

    venus = items["venus"]
    answer = venus.details["answer"]
    # metrics compare the answer without its [n] markers; the details keep it as shown
    assert venus.output == "Venus has a mean surface temperature of about 464 °C."
    assert answer["text"] == "Venus has a mean surface temperature of about 464 °C [1]."
    assert answer["declined"] is False and answer["decline_reason"] is None
    (citation,) = answer["citations"]
    assert citation["doc_id"].endswith("solar-system.md") and citation["supported"]
    assert citation["chunk_id"] and citation["document_id"]
    assert citation["chunk_id"] == answer["passages"][0]["chunk_id"]
    assert answer["prompt_version"] == "answer@v3" and len(answer["prompt_sha256"]) == 12
    assert run.prompts["answer"] == f"answer@v3 sha256:{answer['prompt_sha256']}"
    assert answer["model"] == "fake:model" and answer["usage"]["total_tokens"] > 0
    assert answer["tokens"] == answer["usage"]["total_tokens"]
    assert {"retrieve_s", "ttft_s", "total_s"} <= set(answer["timings"])
    assert [s["status"] for s in answer["sentences"]] == ["supported"]
    # the answer's passages are the ranking and the contexts the metrics read
    assert venus.retrieved[0].endswith("solar-system.md")
    assert venus.scores["recall@3"] == 1.0 and venus.scores["mrr"] == 1.0
    assert venus.scores["faithfulness"] == 1.0 and venus.scores["context_recall"] == 1.0
    assert venus.scores["contains"] == 1.0

    gold = items["gold"]
    assert gold.details["answer"]["declined"] is True
    assert gold.details["answer"]["decline_reason"] == "unsupported"
    assert gold.details["answer"]["draft"].startswith("Venus is covered")
    assert gold.output == DECLINE_MESSAGE and gold.scores["f1"] == 0.0

    far = items["canberra"]
    assert far.details["answer"]["decline_reason"] == "no_relevant_passages"
    assert far.details["answer"]["usage"] is None and far.details["answer"]["tokens"] == 0
    assert far.details["answer"]["passages"]  # the closest passages are still kept
    assert far.scores["recall@3"] is None  # no relevant documents: not computable
    # the model answered the two on-topic questions only (the gate stops the third)
    assert len(env.fake.calls) == 2

    extra = outcome.summary.extra["answers"]
    assert extra["answers"] == 3 and extra["declined"] == 2
    assert extra["reasons"] == {"no_relevant_passages": 1, "unsupported": 1}
    assert outcome.summary.tokens == answer["tokens"] + gold.details["answer"]["tokens"]
    html = render_run_html(run, outcome.summary, outcome.items)
    assert "declined" in html and "2 of 3" in html


def test_spec_settings_change_the_flow(env: Env, dataset: Path) -> None:
    # min_relevance 1.0: every question is declined before any generation
    spec = make_spec(dataset, settings={"min_relevance": 1.0}, max_tokens=12)
    with env.runner() as runner:
        outcome = runner.run(spec)
    assert outcome.run.config["answer_settings"]["min_relevance"] == 1.0
    assert outcome.run.config["answer_settings"]["max_tokens"] == 12
    assert all(i.details["answer"]["declined"] for i in outcome.items)
    assert env.fake.calls == []
    with env.runner() as runner:
        runner.run(make_spec(dataset, max_tokens=12))
    ((_, params), *_) = env.fake.calls
    assert params.max_tokens == 12


def test_grounded_runs_resume_and_refuse_other_settings(
    env: Env, home: Path, tmp_path: Path, dataset: Path
) -> None:
    spec = make_spec(dataset)
    with env.runner() as runner:
        first = runner.run(spec, limit=1)
    rid = first.run.run_id
    with env.runner() as runner:
        resumed = runner.run(spec, run_id=rid)
    assert resumed.skipped == 1 and resumed.evaluated == 2 and len(resumed.items) == 3
    with env.runner() as runner, pytest.raises(ConfigError, match="different spec"):
        runner.run(make_spec(dataset, settings={"min_relevance": 0.3}), run_id=rid)
    # the [answer] settings of the environment are part of the fingerprint too
    other = Env(home, tmp_path, min_relevance=0.3)
    other.store.close()
    other.store = env.store
    with other.runner() as runner, pytest.raises(ConfigError, match="different spec"):
        runner.run(spec, run_id=rid)


def test_prompt_flow_fingerprint_is_unchanged_by_the_new_options(dataset: Path) -> None:
    spec = parse_spec(
        {
            "name": "old",
            "dataset": dataset.name,
            "system": {"answer": {"model": "fake"}},
            "metrics": [{"type": "answer"}],
        },
        dataset.parent,
    )
    # the fingerprint as it was computed before flow / collection / settings existed
    config = spec.model_dump(mode="json", exclude={"name", "description", "concurrency"})
    config.pop("dataset")
    for key in ("flow", "collection", "settings"):
        del config["system"]["answer"][key]
    digest = hashlib.sha256()
    digest.update(json.dumps(config, sort_keys=True).encode())
    digest.update(json.dumps({"answer": "x"}, sort_keys=True).encode())
    digest.update(dataset.read_bytes())
    assert spec_fingerprint(spec, {"answer": "x"}) == digest.hexdigest()[:16]
    grounded = make_spec(dataset)
    assert spec_fingerprint(grounded, {}) != spec_fingerprint(grounded, {}, {"a": 1})


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        ({"flow": "grounded"}, "needs a collection"),
        ({"flow": "grounded", "collection": "c", "prompt": "answer_v1"}, "own prompt"),
        ({"flow": "grounded", "collection": "c", "settings": {"nope": 1}}, "unknown answer"),
        ({"flow": "grounded", "collection": "c", "settings": {"min_relevance": 7}}, "bad answer"),
        (
            {"flow": "grounded", "collection": "c", "max_tokens": 9, "settings": {"max_tokens": 9}},
            "give each once",
        ),
        ({"collection": "c"}, "only with flow: grounded"),
        ({"flow": "later"}, "flow"),
    ],
)
def test_spec_checks_the_flow_options(dataset: Path, answer: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_spec(
            {
                "name": "bad",
                "dataset": dataset.name,
                "system": {"answer": answer},
                "metrics": [{"type": "answer"}],
            },
            dataset.parent,
        )


def test_grounded_collection_defaults_to_the_retrieval_one(dataset: Path) -> None:
    spec = parse_spec(
        {
            "name": "g",
            "dataset": dataset.name,
            "system": {"retrieval": {"collection": "sample"}, "answer": {"flow": "grounded"}},
            "metrics": [{"type": "retrieval"}, {"type": "answer"}],
        },
        dataset.parent,
    )
    assert spec.system.grounded and spec.system.grounded_collection == "sample"


def test_unknown_collection_fails_before_any_item(env: Env, dataset: Path) -> None:
    spec = make_spec(dataset, collection="missing")
    with env.runner() as runner, pytest.raises(CollectionNotFoundError):
        runner.run(spec)
    assert env.store.list_runs() == []
