"""The server's answer events, straight from ``Ragline.ask_stream`` with a scripted model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import REPO
from ragline.api import Ragline
from ragline.config import load_settings
from ragline.models.gateway import Gateway
from ragline.server.answering import (
    AnswerRequest,
    Citations,
    Final,
    Finished,
    Started,
    Token,
    _conversation,
    answer_events,
)
from ragline.testing.chat_conformance import FakeChatModel


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ragline]:
    home = tmp_path_factory.mktemp("answering-home")
    with Ragline(load_settings(home=home)) as r:
        r.ingest([REPO / "examples" / "sample"], collection="sample")
        yield r


def fake(rag: Ragline, reply: str) -> FakeChatModel:
    model = FakeChatModel([reply])
    rag.gateway = Gateway(rag.settings, models={"embedded": model})
    return model


def test_events_draft_then_checked_answer_citations_and_finish(rag: Ragline) -> None:
    model = fake(rag, "Venus is the hottest planet. Venus has 42 moons made of ice.")
    req = AnswerRequest("How hot is Venus?", "sample", sampling={"max_tokens": 50, "seed": 4})
    events = list(answer_events(rag, req))
    assert isinstance(events[0], Started) and events[0].model == rag.settings.gateway.default_model
    assert events[0].trace_id  # the answer's trace, for feedback
    draft = "".join(e.text for e in events if isinstance(e, Token))
    assert draft == "Venus is the hottest planet. Venus has 42 moons made of ice."
    final, citations, finished = events[-3:]
    assert isinstance(final, Final) and final.text == "Venus is the hottest planet [1]."
    assert isinstance(citations, Citations) and citations.items[0]["cited"]
    assert citations.items[0]["source_name"].startswith("solar")
    assert isinstance(finished, Finished) and finished.finish_reason == "stop"
    assert finished.trace_id == events[0].trace_id and finished.model == "fake:model"
    assert finished.usage["completion_tokens"] == 12
    params = model.calls[-1][1]
    assert params.max_tokens == 50 and params.seed == 4


def test_a_decline_finishes_as_declined(rag: Ragline) -> None:
    model = fake(rag, "Canberra.")
    events = list(answer_events(rag, AnswerRequest("What is the capital of Australia?", "sample")))
    assert isinstance(events[-1], Finished) and events[-1].finish_reason == "declined"
    assert events[-1].usage == {} and model.calls == []  # gated before any generation


def test_history_becomes_turns_without_citation_marks() -> None:
    conv = _conversation(
        [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "How hot is Venus?"},
            {"role": "assistant", "content": "About 465 degrees [1]."},
            {"role": "assistant", "content": "an assistant turn with no question is skipped"},
            {"role": "user", "content": "And Mars?"},
        ]
    )
    assert [(t.question, t.answer) for t in conv.turns] == [
        ("How hot is Venus?", "About 465 degrees.")
    ]


def test_openai_finish_reason_says_length_when_max_tokens_cut_a_declined_draft():
    from ragline.server.routes.openai import _finish_reason, _grounding

    cut = Finished("declined", decline_reason="unsupported", model_finish_reason="length")
    assert _finish_reason(cut) == "length"
    assert _grounding(cut) == {"trace_id": None, "declined": True, "decline_reason": "unsupported"}
    assert _finish_reason(Finished("declined", model_finish_reason="stop")) == "stop"
    assert _finish_reason(Finished("stop")) == "stop"
    assert not _grounding(Finished("stop"))["declined"]
