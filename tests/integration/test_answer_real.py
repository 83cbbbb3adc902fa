"""Grounded answers end to end with the real SmolLM2-135M through the real Gateway.

Small ``max_tokens`` keep the module fast; the assertions hold whatever the tiny model says
(grounding invariants), plus a few answers it reliably gets right with greedy decoding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO, require_smollm2
from ragline.answer.conversation import Conversation, Turn, build_messages, token_counter
from ragline.answer.events import (
    AnswerDone,
    Retrieved,
    Routed,
    SentenceChecked,
    Started,
    TokenDelta,
)
from ragline.api import Ragline
from ragline.config import AnswerSettings, load_settings
from ragline.prompts import PromptRegistry
from ragline.types import Answer

pytestmark = pytest.mark.integration
require_smollm2()

from ragline.models.llamacpp import LlamaCppChatModel  # noqa: E402

MAX_TOKENS = "32"
COFFEE = "What is the ideal brewing temperature for coffee?"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("answer-real")
    with Ragline(load_settings(home=home)) as rag:
        rag.ingest([REPO / "examples" / "sample"], collection="sample")
    return home


@pytest.fixture(scope="module")
def rag(home: Path) -> Iterator[Ragline]:
    with Ragline(
        load_settings(home=home, answer={"max_tokens": int(MAX_TOKENS), "style": "generative"})
    ) as r:
        yield r


def assert_grounded(answer: Answer) -> None:
    """Whatever the model wrote: a decline, or sentences that each cite a supporting passage."""
    if answer.declined:
        assert answer.passages and not answer.citations
        return
    kept = [s for s in answer.sentences if s.kept]
    assert kept and all(s.citations for s in kept)
    assert all(c.supported for c in answer.citations)
    numbers = {p.number for p in answer.passages}
    assert {c.number for c in answer.citations} <= numbers


def test_answer_cites_the_right_document(rag: Ragline):
    answer = rag.ask(COFFEE, collection="sample")
    assert_grounded(answer)
    assert not answer.declined and "90" in answer.text and "[1]" in answer.text
    assert all(c.passage.chunk.source.endswith("coffee-brewing.html") for c in answer.citations)
    assert answer.result is not None and answer.result.usage.completion_tokens <= 32
    assert "SmolLM2" in (answer.model or "") and answer.prompt_version == "answer@v3"


def test_off_topic_question_declines_before_generating(rag: Ragline):
    answer = rag.ask("Who won the 2018 FIFA World Cup?", collection="sample")
    assert answer.declined and answer.decline_reason == "no_relevant_passages"
    assert answer.result is None and answer.passages


def test_a_near_miss_question_is_grounded_or_declined(rag: Ragline):
    # on topic (the planets), but the documents do not say: a tiny model invents something
    assert_grounded(rag.ask("How many moons does Jupiter have?", collection="sample"))


def test_stream_events_with_the_real_model(rag: Ragline):
    events = list(rag.ask_stream("How long must passwords be?", collection="sample"))
    assert isinstance(events[0], Started) and isinstance(events[1], Routed)
    assert isinstance(events[2], Retrieved)
    assert isinstance(events[-1], AnswerDone)
    answer = events[-1].answer
    draft = "".join(e.text for e in events if isinstance(e, TokenDelta))
    assert draft and draft == answer.draft
    checked = [e.sentence for e in events if isinstance(e, SentenceChecked)]
    assert checked == list(answer.sentences)
    assert 0 < answer.timings["ttft_s"] <= answer.timings["total_s"]
    assert_grounded(answer)


def test_best_of_n_through_the_real_gateway(rag: Ragline):
    answer = rag.ask(COFFEE, collection="sample", samples=2)
    assert answer.result is not None and len(answer.result.candidates) == 2
    assert all(c.logprob_mean is not None for c in answer.result.candidates)
    assert_grounded(answer)


def test_chat_rewrites_a_follow_up_with_the_model(rag: Ragline):
    conversation = Conversation([Turn("How hot is Venus?", "How hot is Venus?", "")])
    answer = rag.chat("and what about Mars?", conversation, collection="sample")
    assert len(conversation) == 2 and conversation.turns[-1].query == answer.query
    assert "mars" in answer.query.lower() and answer.query != "and what about Mars?"
    assert_grounded(answer)
    rewrite = rag.answerer.rewriter().rewrite("and what about Mars?", conversation)
    assert rewrite.method in ("model", "heuristic") and rewrite.model_output is not None


def test_history_is_trimmed_with_the_model_tokenizer():
    model = LlamaCppChatModel()
    count = token_counter(model)
    history = [
        Turn(f"Question {i} about the solar system?", "q", "Venus is hot. " * 30) for i in range(8)
    ]
    plan = build_messages(
        PromptRegistry().get("answer"),
        question="How hot is Venus?",
        passage_lines=["[1] Venus is the hottest planet.", "[2] Mars has a volcano."],
        history=history,
        settings=AnswerSettings(history_turns=8),
        n_ctx=512,
        max_tokens=64,
        count=count,
    )
    assert plan.passages_used == 2 and 0 < plan.turns_used < 8
    assert plan.prompt_tokens == model.count_chat_tokens(plan.messages) <= 512 - 64 - 16
    kept = [m["content"] for m in plan.messages if m["role"] == "user"][:-1]
    assert kept[-1] == "Question 7 about the solar system?"  # the newest turns stay


# --------------------------------------------------------------------------- CLI


def ragline_cli(
    *args: str, home: Path, stdin: str | None = None, style: str | None = None
) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("ragline")
    env = {**os.environ, "RAGLINE_HOME": str(home), "RAGLINE_ANSWER__MAX_TOKENS": MAX_TOKENS}
    if style:
        env["RAGLINE_ANSWER__STYLE"] = style
    return subprocess.run(
        [str(exe), *args], input=stdin, capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_ask_json(home: Path):
    r = ragline_cli("ask", COFFEE, "-c", "sample", "--json", home=home)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["declined"] is False and "90" in out["answer"]
    c = out["citations"][0]
    assert c["source"].endswith("coffee-brewing.html") and c["passage_id"] and c["document_id"]
    # the default style quotes the passage: no prompt, no model call, a score and a style
    assert out["style"] == "extractive" and out["prompt_version"] == "" and out["usage"] is None
    assert 0.0 <= out["answerability"] <= 1.0 and c["record_id"] is None
    r = ragline_cli("ask", COFFEE, "-c", "sample", "--json", "--style", "generative", home=home)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["prompt_version"] == "answer@v3" and out["answerability"] is not None


def test_cli_chat_piped_shows_the_rewrite(home: Path):
    r = ragline_cli(
        "chat",
        "-c",
        "sample",
        "--verbose",
        home=home,
        stdin="How hot is Venus?\nand what about Mars?\n/exit\n",
        style="generative",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("you>") == 2
    assert "rewritten (" in r.stderr and "venus" in r.stderr.lower()
    assert "cannot answer" in r.stdout


def test_cli_ask_stream_and_batch_in_process(home: Path, tmp_path: Path, monkeypatch):
    from ragline.cli.main import app

    monkeypatch.setenv("RAGLINE_HOME", str(home))
    monkeypatch.setenv("RAGLINE_ANSWER__MAX_TOKENS", MAX_TOKENS)
    runner = CliRunner()
    res = runner.invoke(app, ["ask", COFFEE, "-c", "sample"])
    assert res.exit_code == 0, res.output
    assert "[1] " in res.stdout and "coffee-brewing.html" in res.stdout

    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps({"id": "q1", "question": "What is the capital of Australia?"})
        + "\n"
        + json.dumps({"id": "q2", "question": COFFEE})
        + "\n"
    )
    out = tmp_path / "answers.jsonl"
    res = runner.invoke(
        app, ["ask", "--questions", str(questions), "--output", str(out), "-c", "sample"]
    )
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["q1", "q2"]
    assert lines[0]["declined"] and not lines[1]["declined"]


def test_auto_with_the_real_model_answers_where_the_passage_does(rag: Ragline):
    """``auto``: the model writes; when nothing it wrote survives the check, the passage's
    own sentence is quoted instead of declining."""
    answer = rag.ask(COFFEE, collection="sample", style="auto")
    assert not answer.declined and answer.style in ("generative", "extractive")
    assert answer.result is not None  # the model was called either way
    assert answer.citations and all(c.supported for c in answer.citations)
    assert answer.answerability is not None
    if answer.style == "extractive":
        assert "90" in answer.text and "96" in answer.text
