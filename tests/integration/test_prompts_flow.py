"""The answer flow reads its prompt from the registry (the user's folder first) and records
the prompt's name, version and hash in the answer and in its trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO
from ragline.api import Ragline
from ragline.config import load_settings
from ragline.models.gateway import Gateway
from ragline.prompts import PromptRegistry
from ragline.testing.chat_conformance import FakeChatModel

pytestmark = pytest.mark.integration
REPLY = "The ideal brewing temperature is between 90 and 96 degrees Celsius."
MINE = "---\nname: answer\nversion: 2\n---\n[user]\nMINE\n{{passages}}\nQ: {{question}}\n"


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ragline]:
    home = tmp_path_factory.mktemp("prompts-home")
    (home / "prompts").mkdir()
    (home / "prompts" / "my-answer.md").write_text(MINE, encoding="utf-8")
    with Ragline(
        load_settings(
            home=home,
            trace={"flush_interval_s": 0.05},
            # the user's file replaces the shipped version it names
            answer={"style": "generative", "prompt": "answer@v2"},
        )
    ) as r:
        r.ingest([REPO / "examples" / "sample"], collection="sample")
        yield r


def test_the_answer_uses_the_users_prompt_and_the_trace_records_it(rag: Ragline) -> None:
    fake = FakeChatModel([REPLY])
    rag.gateway = Gateway(rag.settings, models={"embedded": fake}, tracer=rag.tracer)
    answer = rag.ask("What is the ideal brewing temperature for coffee?", collection="sample")
    prompt = PromptRegistry(Path(rag.settings.home) / "prompts").get("answer@v2")
    assert prompt.source == "user"
    sent = fake.calls[0][0]
    assert [m["role"] for m in sent] == ["user"] and sent[0]["content"].startswith("MINE\n[1] ")
    assert (answer.prompt_version, answer.prompt_sha256) == ("answer@v2", prompt.digest)
    assert prompt.digest != PromptRegistry().get("answer@v2").digest
    assert rag.tracer.flush()
    trace = rag.traces.get_trace(rag.tracer.last_trace_id)
    assert trace is not None
    span = next(s for s in trace.spans if s.name == "prompt").attributes
    assert span["prompt.template"] == "answer" and span["prompt.version"] == "answer@v2"
    assert span["prompt.sha256"] == prompt.digest
    root = trace.root.attributes
    assert root["prompt.template"] == "answer" and root["prompt.version"] == "answer@v2"
    assert root["prompt.sha256"] == prompt.digest
