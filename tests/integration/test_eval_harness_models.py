"""The evaluation harness with the real embedded SmolLM2 through the real Gateway: a judge
rating, a both-orders pairwise judgement, a judge spec run, and ``eval generate``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO, require_smollm2
from ragline.cli.main import app
from ragline.config import load_settings
from ragline.evaluate.judge import Judge
from ragline.prompts import PromptRegistry

pytestmark = pytest.mark.integration
require_smollm2()

from ragline.models.gateway import Gateway  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def gateway():
    with Gateway(load_settings()) as gw:
        yield gw


def test_real_judge_rates_and_compares(gateway: Gateway) -> None:
    call = lambda messages, **kw: gateway.generate(messages, model="embedded", **kw)  # noqa: E731
    rater = Judge(call, PromptRegistry().get("judge_reference@v1"), temperature=0.0, max_tokens=48)
    verdict = rater.rate("What is the capital of France?", "Paris.", "Paris")
    # constrained decoding makes the reply JSON whose first key is the rating
    assert verdict.value in (1, 2, 3, 4, 5), verdict.raw
    assert verdict.error is None and verdict.tokens > 0 and verdict.raw.lstrip().startswith("{")
    pair = Judge(
        call, PromptRegistry().get("judge_pairwise@v1"), temperature=0.0, max_tokens=32
    ).compare(
        "What is the capital of France?", ("good", "Paris is the capital."), ("bad", "Berlin.")
    )
    assert pair.first.value in ("A", "B", "tie") and pair.second.value in ("A", "B", "tie")
    assert pair.winner in ("left", "right", "tie")  # inconsistent orders count as a tie


def test_judge_spec_runs_end_to_end(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["eval", "run", str(REPO / "examples/eval/sample-judge.yaml"), "--limit", "1", "--json"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["items"] == 1 and out["failed"] == 0 and out["tokens"] > 0
    judges = {j["name"]: j for j in out["judges"]}
    assert judges["judge_reference"]["verdicts"] == 1
    assert judges["pairwise"]["pairs"] == 1


def test_generate_with_the_embedded_model(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(REPO / "examples" / "sample" / "password-policy.txt", docs)
    res = runner.invoke(app, ["ingest", str(docs), "-c", "pw"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "qa.jsonl"
    res = runner.invoke(app, ["eval", "generate", "-c", "pw", "-n", "1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    # SmolLM2 is tiny: its structured answer may fail validation; then it is reported, not raised
    if not lines:
        assert "skipped:" in res.output and "0 pending items" in res.output
        return
    item = json.loads(lines[0])
    assert item["status"] == "pending" and item["question"] and item["answer"]
    assert item["source_passage"] and item["relevant"][0].endswith("password-policy.txt")
    assert item["generator"]["prompt"].startswith("synthetic_qa@v1 sha256:")
