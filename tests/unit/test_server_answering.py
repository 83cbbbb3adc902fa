"""The server's answer events (the one vocabulary of ``ragline.answer.events``), straight from
``Ragline.ask_stream`` with a scripted model, and how the REST and OpenAI streams encode them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import REPO
from ragline.answer.events import AnswerDone, Retrieved, Routed, Started, TokenDelta
from ragline.api import Ragline
from ragline.config import load_settings
from ragline.models.chat import ChatResult, StreamDone, Usage
from ragline.models.gateway import Gateway
from ragline.server.answering import AnswerRequest, _conversation, answer_events
from ragline.testing.chat_conformance import FakeChatModel
from ragline.types import Answer, DeclineReason


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ragline]:
    home = tmp_path_factory.mktemp("answering-home")
    with Ragline(load_settings(home=home, answer={"style": "generative"})) as r:
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
    assert events[0].collection == "sample" and isinstance(events[1], Routed)
    assert isinstance(events[2], Retrieved)
    draft = "".join(e.text for e in events if isinstance(e, TokenDelta))
    assert draft == "Venus is the hottest planet. Venus has 42 moons made of ice."
    done = events[-1]
    assert isinstance(done, AnswerDone) and done.text == "Venus is the hottest planet [1]."
    citations = done.citations()
    assert citations[0]["cited"] and citations[0]["source_name"].startswith("solar")
    assert done.finish_reason == "stop" and done.decline_reason is None
    assert done.trace_id == events[0].trace_id and done.model == "fake:model"
    assert done.usage is not None and done.usage.completion_tokens == 12
    assert done.to_dict()["usage"]["completion_tokens"] == 12
    params = model.calls[-1][1]
    assert params.max_tokens == 50 and params.seed == 4


def test_a_decline_finishes_as_declined(rag: Ragline) -> None:
    model = fake(rag, "Canberra.")
    events = list(answer_events(rag, AnswerRequest("What is the capital of Australia?", "sample")))
    done = events[-1]
    assert isinstance(done, AnswerDone) and done.finish_reason == "declined"
    assert done.decline_reason == "no_relevant_passages" and done.model_finish_reason is None
    assert done.to_dict()["usage"] == {} and model.calls == []  # gated before any generation
    assert not any(c["cited"] for c in done.citations())


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


def _answer(declined: bool, finish: str | None, reason: DeclineReason | None = None) -> Answer:
    result = None if finish is None else ChatResult("draft", Usage(5, 7), "m", finish_reason=finish)
    return Answer("q", "text", declined, (), (), decline_reason=reason, result=result)


def test_openai_finish_reason_says_length_when_max_tokens_cut_a_declined_draft():
    from ragline.server.routes.openai import _finish_reason, _grounding

    cut = AnswerDone(_answer(True, "length", "unsupported"))
    assert cut.finish_reason == "declined" and _finish_reason(cut) == "length"
    assert _grounding(cut) == {
        "citations": [],
        "trace_id": None,
        "declined": True,
        "decline_reason": "unsupported",
        "decline_detail": None,
        "answerability": None,
        "cached": None,
        "guard": None,
    }
    assert _finish_reason(AnswerDone(_answer(True, "stop", "unsupported"))) == "stop"
    assert _finish_reason(AnswerDone(_answer(False, "stop"))) == "stop"
    assert _finish_reason(AnswerDone(_answer(False, None))) == "stop"
    assert _finish_reason(None) == "stop"  # the client left before the end
    assert not _grounding(AnswerDone(_answer(False, "stop")))["declined"]
    # a gateway model's stream ends the same way
    assert _finish_reason(StreamDone(ChatResult("x", Usage(), "m", finish_reason="length"))) == (
        "length"
    )


def test_a_request_style_reaches_the_flow_and_the_response_schema(rag: Ragline) -> None:
    from ragline.server.schemas import AnswerOut, AskIn

    model = fake(rag, "never used")
    req = AnswerRequest("How hot is Venus?", "sample", style="extractive")
    done = list(answer_events(rag, req))[-1]
    assert isinstance(done, AnswerDone) and not model.calls
    body = AnswerOut.model_validate(
        {"answer": done.text, "citations": done.citations(), **done.to_dict()}
    )
    assert body.style == "extractive" and body.answerability is not None
    assert body.citations[0].record_id is None  # a file, not a JSONL record
    assert AskIn(question="q", style="auto").style == "auto"
    with pytest.raises(ValueError, match="style"):
        AskIn(question="q", style="poetic")


def test_openai_requests_pick_a_style_and_report_answerability(rag: Ragline) -> None:
    from ragline.server.routes.openai import ChatCompletionRequest, _answer_request, _grounding

    body = ChatCompletionRequest.model_validate(
        {
            "model": "ragline:sample",
            "messages": [{"role": "user", "content": "How hot is Venus?"}],
            "style": "extractive",
        }
    )
    req = _answer_request(body, "sample")
    assert req.style == "extractive"
    model = fake(rag, "never used")
    done = list(answer_events(rag, req))[-1]
    assert isinstance(done, AnswerDone) and not model.calls
    grounding = _grounding(done)
    assert grounding["answerability"] == done.answer.answerability is not None
    assert "record_id" in grounding["citations"][0]
