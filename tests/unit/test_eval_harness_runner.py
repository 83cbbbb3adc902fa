"""The evaluation runner with FakeChatModel behind the real Gateway: scoring, storage,
resume after an interruption, retries of failed items, concurrency, stability checks."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from ragline.config import GatewaySettings, load_settings
from ragline.errors import ConfigError, ModelUnavailableError
from ragline.evaluate.runner import EvalRunner
from ragline.evaluate.spec import parse_spec
from ragline.evaluate.stability import check_spec
from ragline.models.gateway import Gateway
from ragline.store.sqlite_evals import SQLiteEvalStore
from ragline.testing.chat_conformance import FakeChatModel

ITEMS = [
    {
        "id": "a",
        "question": "Capital of France?",
        "answer": "Paris",
        "baseline": "Berlin",
        "ranking": ["d1", "d2"],
        "relevant": ["d1"],
        "topic": "geo",
        "human": 5,
    },
    {
        "id": "b",
        "question": "Capital of Italy?",
        "answer": "Rome",
        "baseline": "Rome is it",
        "ranking": ["d3", "d4"],
        "relevant": ["d4"],
        "topic": "geo",
        "human": 4,
    },
    {
        "id": "c",
        "question": "2+2?",
        "answer": "4",
        "baseline": "5",
        "ranking": ["x/d5.md"],
        "relevant": {"d5.md": 2},
        "topic": "math",
        "human": 2,
    },
    {
        "id": "d",
        "question": "3+3?",
        "answer": "6",
        "baseline": "six",
        "ranking": [],
        "relevant": ["d6"],
        "topic": "math",
        "human": 1,
    },
]
ANSWERS = {"France": "Paris", "Italy": "Rome", "2+2": "4", "3+3": "7"}


def answer_reply(messages, params):
    q = messages[-1]["content"]
    return next((a for k, a in ANSWERS.items() if k in q), "I do not know")


def judge_reply(messages, params):
    text = messages[-1]["content"]
    if "Answer A:" in text:  # pairwise: prefer the answer with more characters
        a = text.split("Answer A:\n")[1].split("\n\nAnswer B:")[0]
        b = text.split("Answer B:\n")[1].split("\n\nReply")[0]
        return '{"better": "A"}' if len(a) > len(b) else '{"better": "B"}'
    return '{"rating": 4, "reason": "fine"}' if "Paris" in text else "rating: 2"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in ITEMS))
    return path


def make_spec(dataset: Path, **over):
    data = {
        "name": "unit",
        "dataset": dataset.name,
        "slices": ["topic"],
        "system": {
            "name": "fake-rag",
            "retrieved_field": "ranking",
            "answer": {"model": "fake", "max_tokens": 16},
        },
        "metrics": [
            {"type": "retrieval", "measures": ["ndcg@2", "recall@1", "mrr"]},
            {"type": "answer", "measures": ["exact_match", "f1", "contains"]},
            {"type": "judge", "model": "judge", "human_field": "human", "repeats": 2},
            {"type": "pairwise", "model": "judge", "against": ["baseline"], "name": "vs_base"},
        ],
    }
    data.update(over)
    return parse_spec(data, dataset.parent)


@pytest.fixture
def env(tmp_path: Path):
    settings = load_settings(gateway=GatewaySettings(max_retries=0))
    answerer = FakeChatModel(answer_reply, name="fake")
    judge = FakeChatModel(judge_reply, name="judge")
    gateway = Gateway(settings, models={"fake": answerer, "judge": judge}, sleep=lambda s: None)
    store = SQLiteEvalStore(tmp_path / "evals.db")
    yield settings, store, gateway, answerer, judge
    store.close()


def test_run_scores_stores_and_summarises(env, dataset: Path) -> None:
    settings, store, gateway, answerer, judge = env
    outcome = EvalRunner(settings, store, gateway=gateway).run(make_spec(dataset))
    run = store.get_run(outcome.run.run_id)
    assert run is not None and run.status == "complete" and run.finished_at
    assert set(run.prompts) == {"answer", "judge_pointwise", "vs_base"}
    assert run.prompts["answer"].startswith("eval_answer_closed@v1 sha256:")
    assert run.models == ["fake", "judge"]
    assert run.config["system_name"] == "fake-rag" and run.config["slices"] == ["topic"]
    items = {i.item_id: i for i in store.get_items(run.run_id)}
    assert items["a"].output == "Paris" and items["d"].output == "7"
    assert items["a"].scores["exact_match"] == 1.0 and items["d"].scores["exact_match"] == 0.0
    assert items["a"].scores["ndcg@2"] == 1.0 and items["b"].scores["mrr"] == 0.5
    assert items["c"].scores["recall@1"] == 1.0  # path-suffix match of "d5.md"
    assert items["d"].scores["ndcg@2"] == 0.0
    assert (
        items["a"].scores["judge_pointwise"] == 4.0 and items["b"].scores["judge_pointwise"] == 2.0
    )
    assert len(items["a"].details["judge_pointwise"]["verdicts"]) == 2
    # pairwise: this judge prefers the longer answer in both orders
    assert items["a"].scores["vs_base"] == 0.0 and items["b"].scores["vs_base"] == 0.0
    assert items["d"].scores["vs_base"] == 0.0 and items["c"].scores["vs_base"] == 0.5
    assert items["a"].details["answer"]["model"] == "fake"
    s = outcome.summary
    assert s.items == 4 and s.failed == 0 and s.tokens > 0
    assert s.metric("exact_match").mean == 0.75
    assert s.metric("exact_match").low <= 0.75 <= s.metric("exact_match").high
    assert {(r.field, r.value) for r in s.slices} == {("topic", "geo"), ("topic", "math")}
    judges = {j["name"]: j for j in s.judges}
    assert judges["judge_pointwise"]["repeats"] == 2
    assert judges["judge_pointwise"]["agreement"]["n"] == 4
    assert judges["vs_base"]["position_consistency"] == 0.75  # equal lengths: "B" both times
    assert judges["vs_base"]["longer_win_rate"] == 1.0
    assert run.summary["metrics"][0]["name"] == "ndcg@2"
    # judged twice per item, pairwise both orders: 4 * 2 + 4 * 2 = 16 judge calls
    assert len(judge.calls) == 16 and len(answerer.calls) == 4


def test_interrupted_run_resumes_with_the_same_run_id(env, dataset: Path) -> None:
    settings, store, gateway, answerer, _ = env
    runner = EvalRunner(settings, store, gateway=gateway)
    spec = make_spec(dataset)
    seen = []

    def stop_after_two(done: int, total: int) -> None:
        seen.append(done)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run(spec, run_id="resume-me", concurrency=1, progress=stop_after_two)
    run = store.get_run("resume-me")
    assert run is not None and run.status == "interrupted"
    assert len(store.completed_item_ids("resume-me")) == 2
    calls_before = len(answerer.calls)
    outcome = runner.run(spec, run_id="resume-me", concurrency=1)
    assert outcome.skipped == 2 and outcome.evaluated == 2
    assert len(answerer.calls) - calls_before == 2
    assert outcome.run.status == "complete" and len(outcome.items) == 4
    again = runner.run(spec, run_id="resume-me")
    assert again.skipped == 4 and again.evaluated == 0


def test_failed_items_are_kept_and_retried(env, dataset: Path) -> None:
    settings, store, _, _, judge = env
    flaky = FakeChatModel(answer_reply, name="fake", failures=[ModelUnavailableError("503")])
    gateway = Gateway(settings, models={"fake": flaky, "judge": judge}, sleep=lambda s: None)
    runner = EvalRunner(settings, store, gateway=gateway)
    spec = make_spec(dataset, metrics=[{"type": "answer"}])
    first = runner.run(spec, run_id="flaky", concurrency=1)
    assert first.failed == 1 and first.summary.failed == 1
    assert first.summary.errors and "503" in first.summary.errors[0]
    assert first.summary.metric("f1").n == 3
    second = runner.run(spec, run_id="flaky")
    assert second.evaluated == 1 and second.failed == 0 and second.summary.failed == 0


def test_a_changed_spec_cannot_resume(env, dataset: Path) -> None:
    settings, store, gateway, _, _ = env
    runner = EvalRunner(settings, store, gateway=gateway)
    runner.run(make_spec(dataset, metrics=[{"type": "answer"}]), run_id="r")
    with pytest.raises(ConfigError, match="different spec"):
        runner.run(make_spec(dataset, metrics=[{"type": "answer", "measures": ["f1"]}]), run_id="r")
    dataset.write_text(dataset.read_text() + json.dumps({"id": "e", "question": "?"}) + "\n")
    with pytest.raises(ConfigError, match="different spec"):
        runner.run(make_spec(dataset, metrics=[{"type": "answer"}]), run_id="r")


def test_unknown_model_fails_before_any_item(env, dataset: Path) -> None:
    settings, store, gateway, answerer, _ = env
    spec = make_spec(dataset, metrics=[{"type": "judge", "model": "nope"}])
    with pytest.raises(ConfigError, match="unknown model"):
        EvalRunner(settings, store, gateway=gateway).run(spec)
    assert answerer.calls == [] and store.list_runs() == []


@pytest.mark.parametrize(("workers", "expect_parallel"), [(1, False), (4, True)])
def test_concurrency_limit(env, dataset: Path, workers: int, expect_parallel: bool) -> None:
    settings, store, _, _, _ = env
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def slow(messages, params):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return "x"

    gateway = Gateway(settings, models={"fake": FakeChatModel(slow, name="fake")})
    spec = make_spec(dataset, metrics=[{"type": "answer"}])
    EvalRunner(settings, store, gateway=gateway).run(spec, concurrency=workers)
    assert (state["peak"] > 1) is expect_parallel and state["peak"] <= workers


def test_ifeval_metric_and_precomputed_outputs(env, tmp_path: Path) -> None:
    settings, store, gateway, _, _ = env
    path = tmp_path / "if.jsonl"
    rows = [
        {
            "id": 1,
            "prompt": "Write without commas.",
            "response": "no commas here",
            "instruction_id_list": ["punctuation:no_comma"],
            "kwargs": [{}],
        },
        {
            "id": 2,
            "prompt": "Lowercase, no commas.",
            "response": "Hello, World",
            "instruction_id_list": ["change_case:english_lowercase", "punctuation:no_comma"],
            "kwargs": [{}, {}],
        },
        {
            "id": 3,
            "prompt": "?",
            "response": "x",
            "instruction_id_list": ["bogus:thing"],
            "kwargs": [{}],
        },
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = parse_spec(
        {
            "name": "if",
            "dataset": "if.jsonl",
            "input_field": "prompt",
            "system": {"output_field": "response"},
            "metrics": [{"type": "ifeval"}],
        },
        tmp_path,
    )
    out = EvalRunner(settings, store, gateway=gateway).run(spec)
    by_id = {i.item_id: i for i in out.items}
    assert by_id["1"].scores["ifeval_prompt_strict"] == 1.0
    assert by_id["2"].scores["ifeval_inst_strict"] == 0.0
    assert by_id["3"].scores["ifeval_prompt_strict"] is None and by_id["3"].ok


def test_check_reports_stability_and_correlations(env, dataset: Path) -> None:
    settings, store, _, _, _ = env
    counter = {"n": 0}

    def noisy(messages, params):
        counter["n"] += 1
        return f'{{"rating": {1 + counter["n"] % 5}}}'

    gateway = Gateway(
        settings,
        models={
            "fake": FakeChatModel(answer_reply, name="fake"),
            "judge": FakeChatModel(noisy, name="judge"),
        },
    )
    runner = EvalRunner(settings, store, gateway=gateway)
    spec = make_spec(
        dataset,
        metrics=[
            {"type": "answer", "measures": ["exact_match", "f1"]},
            {"type": "judge", "model": "judge"},
        ],
    )

    def once(rid):
        outcome = runner.run(spec, run_id=rid, concurrency=1)
        return outcome.run.run_id, outcome.items

    report = check_spec(once, "chk")
    assert report.run_1 == "chk-1" and report.run_2 == "chk-2" and report.items == 4
    em = report.metric("exact_match")
    assert em.agreement == 1.0 and em.mean_abs_diff == 0.0
    judge = report.metric("judge_pointwise")
    assert judge.agreement is not None and judge.agreement < 1.0 and judge.mean_abs_diff > 0
    assert report.correlations["exact_match"]["exact_match"] == 1.0
    assert report.correlations["exact_match"]["f1"] == pytest.approx(1.0)


class _Closable:
    def __init__(self) -> None:
        self.closed = False
        self.retriever = object()  # looks like a Ragline, not a factory

    def close(self) -> None:
        self.closed = True


def test_runner_closes_what_it_created_not_what_it_was_given(tmp_path):
    given_rag, given_gateway, made = _Closable(), _Closable(), _Closable()
    settings = load_settings()
    with SQLiteEvalStore(tmp_path / "e.db") as store:
        with EvalRunner(settings, store, gateway=given_gateway, rag=given_rag):
            pass
        assert not given_rag.closed and not given_gateway.closed
        with EvalRunner(settings, store, rag=lambda: made) as runner:
            assert runner.rag is made
        assert made.closed


def test_prompt_flow_sampling_comes_from_the_eval_settings(tmp_path: Path, dataset: Path) -> None:
    """A spec that leaves the answer's temperature / max_tokens open gets
    ``eval.answer_temperature`` / ``answer_max_tokens`` (not a default of the spec's own); one
    that sets them keeps its values."""
    from ragline.config import EvalSettings

    seen: list[tuple[float | None, int | None]] = []

    def reply(messages, params):
        seen.append((params.temperature, params.max_tokens))
        return "Paris"

    settings = load_settings(
        gateway=GatewaySettings(max_retries=0),
        eval=EvalSettings(answer_temperature=0.25, answer_max_tokens=7),
    )
    gateway = Gateway(settings, models={"fake": FakeChatModel(reply, name="fake")})
    metrics = [{"type": "answer", "measures": ["exact_match"]}]
    system = {"name": "s", "answer": {"model": "fake"}}
    with SQLiteEvalStore(tmp_path / "e.db") as store:
        runner = EvalRunner(settings, store, gateway=gateway)
        outcome = runner.run(make_spec(dataset, system=system, metrics=metrics))
        assert set(seen) == {(0.25, 7)}
        assert outcome.run.config["system"]["answer"]["max_tokens"] == 7  # recorded as run
        seen.clear()
        system["answer"] = {"model": "fake", "temperature": 0.0, "max_tokens": 3}
        runner.run(make_spec(dataset, name="own", system=system, metrics=metrics))
        assert set(seen) == {(0.0, 3)}
