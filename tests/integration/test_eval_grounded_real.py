"""``examples/eval/sample-grounded.yaml`` end to end: the sample documents ingested with the
real embedder, each question answered by ragline's grounded flow with the real embedded
SmolLM2 through ``ragline eval run``, then resumed. The assertions hold whatever the tiny
model says (grounding invariants), as in ``test_answer_real``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO, require_smollm2
from ragline.answer.flow import DECLINE_MESSAGE
from ragline.cli.main import app

pytestmark = pytest.mark.integration
require_smollm2()

runner = CliRunner()
SPEC = REPO / "examples" / "eval" / "sample-grounded.yaml"
LIMIT = 3


@pytest.fixture
def sample_collection(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(REPO / "examples" / "sample", docs)
    res = runner.invoke(app, ["ingest", str(docs), "-c", "sample", "--json"])
    assert res.exit_code == 0, res.output


def _run(*args: str) -> dict:
    res = runner.invoke(app, ["eval", "run", str(SPEC), "--limit", str(LIMIT), "--json", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.mark.usefixtures("sample_collection")
def test_grounded_spec_with_the_embedded_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGLINE_ANSWER__MAX_TOKENS", "48")  # keeps the test fast
    monkeypatch.setenv("RAGLINE_ANSWER__STYLE", "generative")  # the model writes
    out = _run()
    assert out["items"] == LIMIT and out["failed"] == 0
    report = json.loads(Path(out["report"]).with_suffix(".json").read_text())
    run = report["run"]
    assert run["prompts"]["answer"].startswith("answer@v3 sha256:")
    assert run["models"] == ["embedded"]
    assert run["config"]["answer_settings"]["max_tokens"] == 48
    declined = 0
    for item in report["items"]:
        answer = item["details"]["answer"]
        assert answer["flow"] == "grounded" and answer["prompt_version"] == "answer@v3"
        assert answer["passages"] and item["retrieved"]
        if answer["declined"]:
            declined += 1
            assert answer["decline_reason"] in (
                "no_relevant_passages",
                "not_answerable",
                "model_declined",
                "unsupported",
            )
            assert item["output"] == DECLINE_MESSAGE and not answer["citations"]
            continue
        # a kept answer: every citation names a passage of the prompt and is supported
        assert answer["model"].startswith("embedded") and answer["tokens"] > 0
        assert answer["citations"] and all(c["supported"] for c in answer["citations"])
        passages = {p["chunk_id"] for p in answer["passages"]}
        assert {c["chunk_id"] for c in answer["citations"]} <= passages
        assert "[" not in item["output"] and re.search(r"\[\d\]", answer["text"])
        faithfulness = item["scores"]["faithfulness"]
        assert faithfulness is None or 0.0 <= faithfulness <= 1.0
    summary = report["summary"]
    assert summary["extra"]["answers"] == {
        **summary["extra"]["answers"],
        "answers": LIMIT,
        "declined": declined,
    }
    # resuming the finished run evaluates nothing again
    again = _run("--run-id", out["run_id"])
    assert again["run_id"] == out["run_id"] and again["items"] == LIMIT
    assert again["metrics"] == out["metrics"]
