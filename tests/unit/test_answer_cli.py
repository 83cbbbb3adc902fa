"""``ragline ask`` and ``ragline chat`` rendering, with a scripted chat model (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO
from ragline.api import Ragline
from ragline.cli.main import app
from ragline.config import load_settings
from ragline.errors import ConfigError, InvalidQueryError
from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel

runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("answer-cli")
    with Ragline(load_settings(home=home)) as rag:
        rag.ingest([REPO / "examples" / "sample"], collection="sample")
    return home


@pytest.fixture
def fake(home: Path, monkeypatch: pytest.MonkeyPatch) -> FakeChatModel:
    def reply(messages, params):
        content = messages[-1]["content"]
        if "Follow-up question:" in content:
            return "How hot is Mars?"
        return "Venus is the hottest planet. It is also made of cheese."

    model = FakeChatModel(reply)

    def open_api() -> Ragline:
        rag = Ragline(load_settings(home=home, answer={"style": "generative"}))
        rag.gateway = Gateway(rag.settings, models={"embedded": model})
        return rag

    monkeypatch.setattr("ragline.cli.ask.open_api", open_api)
    monkeypatch.setattr("ragline.cli.chat.open_api", open_api)
    return model


def test_ask_prints_checked_sentences_then_sources(fake: FakeChatModel):
    res = runner.invoke(app, ["ask", "How hot is Venus?", "-c", "sample"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "Venus is the hottest planet [1]."  # the cheese never shows
    assert lines[2].startswith("[1] ") and "solar-system.md" in lines[2]
    assert "Inner planets" in lines[2]


def test_ask_decline_lists_the_closest_passages(fake: FakeChatModel):
    res = runner.invoke(app, ["ask", "What is the capital of Australia?", "-c", "sample"])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("I cannot answer that from the documents.")
    assert "nothing in the collection is close enough" in res.stdout
    assert "The closest passages:" in res.stdout and "(relevance 0." in res.stdout
    assert fake.calls == []


def test_ask_json_and_verbose(fake: FakeChatModel):
    res = runner.invoke(app, ["ask", "How hot is Venus?", "-c", "sample", "--json"])
    out = json.loads(res.stdout)
    assert out["declined"] is False and out["citations"][0]["number"] == 1
    assert [s["status"] for s in out["sentences"]] == ["attached", "dropped"]
    res = runner.invoke(app, ["ask", "How hot is Venus?", "-c", "sample", "-v", "--show-draft"])
    assert res.exit_code == 0
    assert "dropped (unsupported): It is also made of cheese." in res.stderr
    assert "prompt answer@v3" in res.stderr and "made of cheese" in res.stderr


def test_batch_needs_question_objects(fake: FakeChatModel, tmp_path: Path):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"id": "1", "nope": "x"}\n')
    res = runner.invoke(app, ["ask", "--questions", str(bad), "-c", "sample"])
    assert isinstance(res.exception, InvalidQueryError)
    res = runner.invoke(app, ["ask", "-c", "sample"])
    assert res.exit_code != 0 and "give a question" in res.output


def test_chat_reads_lines_and_keeps_history(fake: FakeChatModel):
    res = runner.invoke(
        app,
        ["chat", "-c", "sample", "--verbose"],
        input="How hot is Venus?\n\n/reset\nHow hot is Venus?\nand what about Mars?\n"
        "/exit\nnot read\n",
    )
    assert res.exit_code == 0, res.output
    assert res.stdout.count("you> ") == 3 and "(history cleared)" in res.stdout
    assert "rewritten (model): How hot is Mars?" in res.stderr
    assert "not read" not in res.stdout


def test_chat_json_lines(fake: FakeChatModel):
    res = runner.invoke(
        app, ["chat", "-c", "sample", "--json"], input="How hot is Venus?\nand what about Mars?\n"
    )
    first, second = (json.loads(line) for line in res.stdout.splitlines())
    assert first["query"] == "How hot is Venus?" and second["query"] == "How hot is Mars?"


def test_ask_style_extractive_quotes_without_the_model(fake: FakeChatModel):
    res = runner.invoke(
        app, ["ask", "How hot is Venus?", "-c", "sample", "--style", "extractive", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["style"] in ("extractive", None) and fake.calls == []
    assert 0.0 <= out["answerability"] <= 1.0
    if out["declined"]:  # a decline always says why
        assert out["decline_reason"] and out["decline_detail"]
    else:
        assert out["answer"].startswith(('"', "4")) and out["citations"]


def test_ask_refuses_a_huge_question_and_an_unknown_style(fake: FakeChatModel):
    res = runner.invoke(app, ["ask", "why " * 2500, "-c", "sample"])
    assert isinstance(res.exception, InvalidQueryError) and res.exception.hint
    assert "10,000 characters" in str(res.exception)
    assert "max_question_chars" in str(res.exception)
    res = runner.invoke(app, ["ask", "How hot is Venus?", "-c", "sample", "--style", "poetic"])
    assert isinstance(res.exception, ConfigError)
    assert "unknown answer style" in str(res.exception)
    assert fake.calls == []
