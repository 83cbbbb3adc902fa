"""The answer flow with a scripted chat model: gate, packing, check, decline, events, API."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import ragline.answer.flow as flow_module
from conftest import REPO
from ragline.answer.events import (
    AnswerDone,
    Retrieved,
    Routed,
    SentenceChecked,
    Started,
    TokenDelta,
)
from ragline.answer.flow import DECLINE_MESSAGE
from ragline.api import Ragline
from ragline.config import load_settings
from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel

SAMPLE = REPO / "examples" / "sample"


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ragline]:
    home = tmp_path_factory.mktemp("answer-home")
    # the draft streams token by token (guard.release "token"): this module checks that order
    settings = load_settings(home=home, answer={"style": "generative"}, guard={"release": "token"})
    with Ragline(settings) as r:
        r.ingest([SAMPLE], collection="sample")
        yield r


def use(
    rag: Ragline, fake: FakeChatModel, *, n_ctx: int | None = None, **answer: object
) -> FakeChatModel:
    """``fake`` answers; ``answer`` settings and the context window changed for one test."""
    settings = rag.settings
    if answer:
        settings = settings.model_copy(update={"answer": settings.answer.model_copy(update=answer)})
    if n_ctx is not None:
        gateway = settings.gateway.model_copy(update={"n_ctx": n_ctx})
        settings = settings.model_copy(update={"gateway": gateway})
    rag.settings = settings
    rag.gateway = Gateway(settings, models={"embedded": fake})
    return fake


@pytest.fixture(autouse=True)
def fresh_settings(rag: Ragline) -> Iterator[None]:
    original = rag.settings
    yield
    rag.settings = original


def test_grounded_answer_with_citations(rag: Ragline):
    fake = use(
        rag, FakeChatModel(["The ideal brewing temperature is between 90 and 96 degrees Celsius."])
    )
    answer = rag.ask("What is the ideal brewing temperature for coffee?", collection="sample")
    assert not answer.declined and answer.decline_reason is None
    assert answer.text == "The ideal brewing temperature is between 90 and 96 degrees Celsius [1]."
    (citation,) = answer.citations
    assert citation.passage.chunk.source.endswith("coffee-brewing.html")
    assert citation.attached and citation.supported
    assert answer.prompt_version == "answer@v3" and len(answer.prompt_sha256) == 12
    assert answer.model == "fake:model" and answer.result is not None
    assert {"retrieve_s", "ttft_s", "total_s"} <= set(answer.timings)
    # the prompt: numbered short passages, then the question
    ((messages, params),) = fake.calls
    user = messages[-1]["content"]
    assert "\n\n[1] " in user and user.endswith(
        "Question: What is the ideal brewing temperature for coffee?"
    )
    assert params.temperature == 0.0 and params.max_tokens == rag.settings.answer.max_tokens
    assert len(answer.passages) <= rag.settings.answer.max_passages


def test_irrelevant_question_declines_without_calling_the_model(rag: Ragline):
    fake = use(rag, FakeChatModel(["Canberra."]))
    answer = rag.ask("What is the capital of Australia?", collection="sample")
    assert answer.declined and answer.decline_reason == "no_relevant_passages"
    assert answer.text == DECLINE_MESSAGE and answer.result is None and not answer.citations
    assert answer.passages  # the best passages are still shown
    assert all(p.relevance < rag.settings.answer.min_relevance for p in answer.passages)
    assert fake.calls == []


def test_unsupported_draft_declines_and_keeps_the_passages(rag: Ragline):
    use(rag, FakeChatModel(["Venus is covered in oceans of liquid gold, 900 km deep."]))
    answer = rag.ask("How hot is Venus?", collection="sample")
    assert answer.declined and answer.decline_reason == "unsupported"
    assert answer.draft.startswith("Venus is covered") and answer.passages
    assert [s.status for s in answer.sentences] == ["dropped"]


def test_model_decline_is_reported(rag: Ragline):
    use(rag, FakeChatModel(["I cannot answer from the documents."]))
    answer = rag.ask("How many moons does Jupiter have?", collection="sample")
    assert answer.declined and answer.decline_reason == "model_declined"


def test_unsupported_sentences_are_removed_from_a_grounded_answer(rag: Ragline):
    use(
        rag, FakeChatModel(["Venus is the hottest planet [1]. Venus has 42 moons made of ice [1]."])
    )
    answer = rag.ask("How hot is Venus?", collection="sample")
    assert answer.text == "Venus is the hottest planet [1]."
    assert [s.status for s in answer.sentences] == ["supported", "dropped"]


def test_flag_mode_keeps_and_marks_unsupported_sentences(rag: Ragline):
    use(
        rag,
        FakeChatModel(["Venus is the hottest planet [1]. Venus has 42 moons made of ice [1]."]),
        unsupported="flag",
    )
    answer = rag.ask("How hot is Venus?", collection="sample")
    assert not answer.declined
    assert answer.text.endswith("Venus has 42 moons made of ice [1]. (unsupported)")
    assert [c.supported for c in answer.citations] == [True, False]


def test_stream_events_come_in_order(rag: Ragline, monkeypatch):
    # The model may not write past the first sentence until that sentence's check has
    # finished: if checks ran only after the draft, it would wait in vain.
    checked_one = threading.Event()
    check = flow_module.CitationChecker.check

    def signalling_check(self, sentence):
        try:
            return check(self, sentence)
        finally:
            checked_one.set()

    monkeypatch.setattr(flow_module.CitationChecker, "check", signalling_check)
    first_sentence_tokens = len(
        FakeChatModel.tokens("Passwords must be at least 14 characters long [1]. ")
    )

    def before_token(i: int) -> None:
        if i == first_sentence_tokens + 1:  # the sentence splitter needs the next token
            assert checked_one.wait(30), "the first sentence was not checked mid-draft"
            time.sleep(0.05)  # and let the check's future be marked done

    use(
        rag,
        FakeChatModel(
            [
                "Passwords must be at least 14 characters long [1]. "
                "Sure, glad to help, happy to help, sure!"
            ],
            before_token=before_token,
        ),
    )
    events = list(rag.ask_stream("How long must passwords be?", collection="sample"))
    assert isinstance(events[0], Started) and events[0].collection == "sample"
    assert events[0].model == rag.gateway.name
    assert isinstance(events[1], Routed) and events[1].route == "documents"
    assert isinstance(events[2], Retrieved) and events[2].query == "How long must passwords be?"
    assert isinstance(events[-1], AnswerDone)
    # the trace the answer is recorded in, the same at both ends
    assert events[0].trace_id and events[-1].trace_id == events[0].trace_id
    kinds = [e.kind for e in events[3:-1]]
    assert "sentence" in kinds, [e.kind for e in events]
    first_check = kinds.index("sentence")
    assert kinds[0] == "token" and first_check > 0
    # the first sentence is reported while the model goes on writing
    assert "token" in kinds[first_check:]
    checked = [e.sentence for e in events if isinstance(e, SentenceChecked)]
    assert [(s.status, s.reason) for s in checked] == [("supported", None), ("dropped", "filler")]
    draft = "".join(e.text for e in events if isinstance(e, TokenDelta))
    assert draft == events[-1].answer.draft


def test_best_of_n_samples_and_keeps_the_most_likely(rag: Ragline):
    fake = use(
        rag,
        FakeChatModel(
            ["Venus is made of cheese.", "Venus is the hottest planet.", "Mars is red."],
            logprobs=[-2.0, -0.1, -1.0],
        ),
    )
    answer = rag.ask("How hot is Venus?", collection="sample", samples=3)
    assert len(fake.calls) == 3
    assert all(p.temperature > 0 and p.logprobs for _, p in fake.calls)
    assert answer.text == "Venus is the hottest planet [1]."
    assert answer.result is not None and len(answer.result.candidates) == 3


def test_to_dict_has_answer_citations_ids_and_decline_flag(rag: Ragline):
    use(rag, FakeChatModel(["Meals are reimbursed up to 60 euros per day with receipts."]))
    d = rag.ask("What is the meal allowance per day?", collection="sample").to_dict()
    assert d["declined"] is False and "60 euros" in d["answer"]
    (c,) = d["citations"]
    assert {"passage_id", "document_id", "document_key", "source", "page", "text"} <= set(c)
    assert c["page"] == 2 and c["source"].endswith("travel-policy.pdf")
    assert d["prompt_version"] == "answer@v3" and d["usage"]["completion_tokens"] > 0


def test_filters_restrict_the_passages(rag: Ragline):
    use(rag, FakeChatModel(["Venus is the hottest planet."]))
    answer = rag.ask("How hot is Venus?", collection="sample", source="*.txt")
    assert answer.declined  # the password policy has nothing about Venus
    assert all(p.chunk.source.endswith(".txt") for p in answer.passages)


def test_prompt_file_from_settings(rag: Ragline, tmp_path: Path):
    custom = tmp_path / "terse.v3.md"
    custom.write_text(
        "---\nname: terse\nversion: 3\n---\n[user]\n{{passages}}\nQ: {{question}}\nA:",
        encoding="utf-8",
    )
    fake = use(rag, FakeChatModel(["Venus is the hottest planet."]), prompt=str(custom))
    answer = rag.ask("How hot is Venus?", collection="sample")
    assert answer.prompt_version == "terse@v3"
    assert fake.calls[0][0][0]["content"].endswith("Q: How hot is Venus?\nA:")


def test_bm25_mode_computes_the_relevance_itself(rag: Ragline):
    use(rag, FakeChatModel(["Venus is the hottest planet."]), mode="bm25")
    answer = rag.ask("How hot is Venus?", collection="sample")
    assert not answer.declined
    best = answer.passages[0]
    assert "dense" not in best.scores and best.relevance > 0.4  # embedded here, not searched


def test_bm25_threshold_admits_passages_under_the_cosine_gate(rag: Ragline):
    question = "How hot is Venus?"
    use(rag, FakeChatModel(["Venus is the hottest planet."]), min_relevance=0.99)
    assert rag.ask(question, collection="sample").decline_reason == "no_relevant_passages"
    use(
        rag,
        FakeChatModel(["Venus is the hottest planet."]),
        min_relevance=0.99,
        min_bm25=0.5,
    )
    assert not rag.ask(question, collection="sample").declined


def test_passages_are_short_excerpts_in_document_order(rag: Ragline):
    use(rag, FakeChatModel(["Venus is the hottest planet."]), passage_sentences=1)
    answer = rag.ask("How hot is Venus?", collection="sample")
    first = answer.passages[0]
    assert first.text.startswith("Venus is the hottest planet")
    assert first.text in " ".join(first.chunk.text.split())
    assert len(first.text) < len(first.chunk.text)


def test_a_small_context_window_drops_the_least_relevant_passages(rag: Ragline):
    fake = use(rag, FakeChatModel(["Venus is the hottest planet."]), n_ctx=160, passage_sentences=3)
    answer = rag.ask("What are the planets of the Solar System?", collection="sample")
    prompt = fake.calls[0][0][-1]["content"]
    assert 1 <= len(answer.passages) < 3
    assert f"[{len(answer.passages)}] " in prompt and f"[{len(answer.passages) + 1}] " not in prompt


# ------------------------------------------------------------------------- per-call sampling


def test_sampling_overrides_reach_the_model_for_this_call_only(rag: Ragline):
    fake = use(rag, FakeChatModel(["Venus is the hottest planet."]))
    sampling = {"max_tokens": 40, "temperature": 0.5, "top_p": 0.9, "stop": ["###"], "seed": 7}
    answer = rag.ask("How hot is Venus?", collection="sample", sampling=sampling)
    assert not answer.declined
    ((_, params),) = fake.calls
    assert (params.max_tokens, params.temperature, params.top_p) == (40, 0.5, 0.9)
    assert params.stop == ("###",) and params.seed == 7
    # the next answer is back to the settings
    rag.ask("How hot is Venus?", collection="sample")
    params = fake.calls[-1][1]
    assert params.max_tokens == rag.settings.answer.max_tokens
    assert params.temperature == rag.settings.answer.temperature
    assert params.stop == () and params.seed == rag.settings.gateway.seed


def test_sampling_max_tokens_cuts_the_answer(rag: Ragline):
    fake = use(rag, FakeChatModel(["Venus is the hottest planet of the Solar System."]))
    answer = rag.ask("How hot is Venus?", collection="sample", sampling={"max_tokens": 3})
    assert answer.result is not None and answer.result.finish_reason == "length"
    assert answer.draft == "Venus is the" and answer.result.usage.completion_tokens == 3
    assert fake.calls[0][1].max_tokens == 3


def test_sampling_max_tokens_is_the_room_the_prompt_leaves(
    rag: Ragline, monkeypatch: pytest.MonkeyPatch
):
    import ragline.answer.flow as flow

    reserved: list[int] = []
    real = flow.build_messages

    def spy(*args: object, **kwargs: object):
        reserved.append(kwargs["max_tokens"])  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(flow, "build_messages", spy)
    use(rag, FakeChatModel(["Venus is the hottest planet."]))
    rag.ask("How hot is Venus?", collection="sample", sampling={"max_tokens": 33})
    rag.ask("How hot is Venus?", collection="sample")
    assert reserved == [33, rag.settings.answer.max_tokens]


def test_a_larger_max_tokens_leaves_less_room_for_passages(rag: Ragline):
    use(rag, FakeChatModel(["Venus is the hottest planet."]), n_ctx=400, passage_sentences=3)
    question = "What are the planets of the Solar System?"
    roomy = rag.ask(question, collection="sample", sampling={"max_tokens": 8})
    tight = rag.ask(question, collection="sample", sampling={"max_tokens": 250})
    assert len(tight.passages) < len(roomy.passages)


def test_max_passages_caps_the_passages_for_this_call(rag: Ragline):
    fake = use(rag, FakeChatModel(["The planets orbit the Sun."]))
    question = "What are the planets of the Solar System?"
    default = rag.ask(question, collection="sample")
    one = rag.ask(question, collection="sample", max_passages=1)
    assert len(default.passages) > 1 and len(one.passages) == 1
    assert one.passages[0].chunk.id == default.passages[0].chunk.id  # the best one kept
    assert "[2]" not in fake.calls[-1][0][-1]["content"]  # the prompt had one passage
    from ragline.errors import ConfigError

    with pytest.raises(ConfigError):
        rag.ask_stream(question, collection="sample", max_passages=0)


def test_best_of_n_keeps_a_temperature_the_caller_set(rag: Ragline):
    fake = use(rag, FakeChatModel(["Venus is the hottest planet."]))
    rag.ask("How hot is Venus?", collection="sample", samples=2)
    assert all(p.temperature > 0 for _, p in fake.calls)  # forced: answers are greedy
    fake.calls.clear()
    rag.ask("How hot is Venus?", collection="sample", samples=2, sampling={"temperature": 0.0})
    assert [p.temperature for _, p in fake.calls] == [0.0, 0.0]
    fake.calls.clear()
    rag.ask("How hot is Venus?", collection="sample", samples=2, sampling={"temperature": 1.3})
    assert [p.temperature for _, p in fake.calls] == [1.3, 1.3]


@pytest.mark.parametrize(
    "sampling",
    [
        {"max_tokens": 0},
        {"temperature": 9.0},
        {"top_p": 0.0},
        {"stop": [""]},
        {"max_tokens": None},
        {"temperature": "hot"},
        {"nucleus": 0.5},
    ],
)
def test_bad_sampling_raises_a_config_error_before_any_work(rag: Ragline, sampling: dict):
    from ragline.errors import ConfigError

    fake = use(rag, FakeChatModel(["Venus is the hottest planet."]))
    with pytest.raises(ConfigError):
        rag.ask_stream("How hot is Venus?", collection="sample", sampling=sampling)  # not iterated
    assert fake.calls == []
