"""The router: intent classifier (real MiniLM embeddings), its file's bad input, routing in
the answer path (chit-chat, out of scope, handoff), and weak/strong model routing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import REPO
from ragline.answer.events import AnswerDone, Retrieved, Routed, Started
from ragline.api import Ragline
from ragline.config import Settings, load_settings
from ragline.errors import ConfigError
from ragline.guard.base import Action, Decision, GuardContext, HandoffSink
from ragline.models.embedder import get_embedder
from ragline.models.gateway import Gateway
from ragline.route.intent import (
    SHIPPED_INTENTS,
    IntentRouter,
    intent_router,
    load_intents,
    parse_intents,
)
from ragline.route.models import (
    FEATURES,
    ModelRouter,
    RouterWeights,
    features,
    load_weights,
    model_router,
)
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.trace_conformance import ListSink
from ragline.trace.tracer import Tracer

SAMPLE = REPO / "examples" / "sample"

# Phrasings that are neither in the shipped intents file nor in the benchmark's eval set.
HELD_OUT = {
    "documents": [
        "What is the recommended brewing temperature for coffee?",
        "How many characters must a password have?",
        "Which planet is closest to the sun?",
    ],
    "chitchat": ["hi, good to see you", "thank you very much!", "goodbye for now"],
    "out_of_scope": [
        "write a sonnet about my cat",
        "book a taxi to the airport",
        "what will the weather be on Saturday?",
    ],
    "handoff": [
        "I would like to speak to a human agent",
        "please put me through to a real person",
        "connect me with someone on your support team",
    ],
}


@pytest.fixture(scope="module")
def router() -> IntentRouter:
    settings = load_settings()
    return intent_router(settings.route, get_embedder(settings.embedder))


@pytest.mark.parametrize("route", sorted(HELD_OUT))
def test_intent_classifier_on_held_out_phrasings(router: IntentRouter, route: str) -> None:
    got = [router.classify(m) for m in HELD_OUT[route]]
    assert [d.route for d in got] == [route] * len(got)
    for d in got:
        assert d.predicted == route and 0.5 <= d.score <= 1 and not d.defaulted
        assert set(d.scores) == {"documents", "chitchat", "out_of_scope", "handoff"}
        assert abs(sum(d.scores.values()) - 1) < 1e-5


def test_unsure_messages_go_to_documents(router: IntentRouter) -> None:
    strict = IntentRouter(router.embedder, router.examples, min_confidence=0.999)
    decision = strict.classify("hello there, could you help me a bit")
    assert decision.route == "documents" and decision.defaulted
    assert decision.predicted != "documents" and decision.score < 0.999
    # the vector path gives the same decision as embedding the text
    vector = router.embedder.embed(["thanks a million"])[0]
    assert router.classify_vector(vector).route == router.classify("thanks a million").route


def test_the_router_is_trained_once_per_process(router: IntentRouter) -> None:
    settings = load_settings()
    assert intent_router(settings.route, router.embedder) is router
    other = settings.route.model_copy(update={"min_confidence": 0.7})
    assert intent_router(other, router.embedder) is not router


def test_shipped_intents_file_is_valid() -> None:
    examples = load_intents()
    assert examples.source == str(SHIPPED_INTENTS)
    assert set(examples.examples) == {"documents", "chitchat", "out_of_scope", "handoff"}
    assert all(len(v) >= 15 for v in examples.examples.values())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("# only a comment\n", "is empty"),
        ("documents: [a\nchitchat: - b", "not valid YAML at line"),
        ("- just\n- a list\n", "not be a list"),
        ("documents: [a]\nsmalltalk: [hi]\n", "unknown route 'smalltalk'"),
        ("documents: [a]\nchitchat: hi\n", "must be a list of non-empty"),
        ("documents: [a]\nchitchat: ['']\n", "must be a list of non-empty"),
        ("documents: [a]\nchitchat: [1, 2]\n", "must be a list of non-empty"),
        ("chitchat: [hi]\nhandoff: [a person]\n", "no 'documents' examples"),
        ("documents: [a, b]\nchitchat:\n", "one route only"),
    ],
)
def test_bad_intents_files_get_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_intents(text, "my-intents.yaml")
    assert "my-intents.yaml" in str(err.value)


def test_missing_intents_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as err:
        load_intents(tmp_path / "nope.yaml")
    assert "route.intents" in str(err.value)


# ------------------------------------------------------------------ in the answer path


class ListInbox:
    """A :class:`HandoffSink` that keeps what it was handed (the real inbox is guard's)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def open(
        self,
        *,
        question: str,
        decision: Decision,
        context: GuardContext,
        trace_id: str | None = None,
    ) -> str:
        self.items.append(
            {"question": question, "decision": decision, "context": context, "trace": trace_id}
        )
        return f"H{len(self.items)}"


@pytest.fixture(scope="module")
def sink() -> ListSink:
    return ListSink()


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory, sink: ListSink) -> Iterator[Ragline]:
    home = tmp_path_factory.mktemp("router-home")
    # the guards are not what these tests are about (and their models are slow to load)
    settings = load_settings(home=home, answer={"style": "generative"}, guard={"enabled": False})
    tracer = Tracer(settings.trace, [sink])
    with Ragline(settings, tracer=tracer) as r:
        r.ingest([SAMPLE], collection="sample")
        yield r
    tracer.close()


@pytest.fixture(autouse=True)
def fresh_settings(request: pytest.FixtureRequest) -> Iterator[None]:
    if "rag" not in request.fixturenames:
        yield
        return
    rag = request.getfixturevalue("rag")
    original = rag.settings
    yield
    rag.settings = original


def use(rag: Ragline, settings: Settings, **models: FakeChatModel) -> None:
    rag.settings = settings
    rag.gateway = Gateway(settings, models=models)  # a new answerer with these settings


def spans(rag: Ragline, sink: ListSink, name: str) -> list[dict[str, Any]]:
    rag.tracer.flush()
    return [s.attributes for s in sink.traces[-1].spans if s.name == name]


def test_chitchat_is_answered_without_retrieval_or_a_model(rag: Ragline, sink: ListSink) -> None:
    fake = FakeChatModel(["should not be called"])
    use(rag, rag.settings, embedded=fake)
    events = list(rag.ask_stream("hey, thanks so much!", collection="sample"))
    assert [type(e) for e in events] == [Started, Routed, AnswerDone]
    assert events[1].route == "chitchat" and events[1].to_dict()["route"] == "chitchat"
    answer = events[-1].answer
    assert not answer.declined and answer.text == rag.settings.route.chitchat_reply
    assert answer.passages == () and answer.result is None and fake.calls == []
    (span,) = spans(rag, sink, "route")
    assert span["route"] == "chitchat" and 0.5 <= span["score"] <= 1
    assert spans(rag, sink, "retrieve") == []


def test_out_of_scope_declines_politely(rag: Ragline) -> None:
    fake = FakeChatModel(["A poem."])
    use(rag, rag.settings, embedded=fake)
    events = list(rag.ask_stream("write me a funny poem about my boss", collection="sample"))
    assert not any(isinstance(e, Retrieved) for e in events)
    done = events[-1]
    assert isinstance(done, AnswerDone) and done.finish_reason == "declined"
    assert done.decline_reason == "out_of_scope"
    assert done.text == rag.settings.route.out_of_scope_reply and fake.calls == []
    assert done.to_dict()["decline_reason"] == "out_of_scope"


def test_handoff_opens_an_item_in_the_inbox(rag: Ragline) -> None:
    use(rag, rag.settings, embedded=FakeChatModel(["no"]))
    inbox = ListInbox()
    assert isinstance(inbox, HandoffSink)
    rag.answerer.handoff_sink = inbox
    done = list(rag.ask_stream("I need to talk to a real person", collection="sample"))[-1]
    assert done.answer.declined and done.decline_reason == "handoff"
    assert done.text == "I've passed your message to a person (ticket H1)."
    (item,) = inbox.items
    assert item["question"] == "I need to talk to a real person"
    decision = item["decision"]
    assert decision.action is Action.HANDOFF and decision.decided_by == "router"
    assert decision.extra["route"]["route"] == "handoff"
    assert item["context"].collection == "sample" and item["trace"] == done.trace_id


def test_handoff_without_an_inbox_says_so(rag: Ragline) -> None:
    use(rag, rag.settings, embedded=FakeChatModel(["no"]))
    rag.answerer.handoff_sink = None  # no inbox at all (Ragline's default is the store's)
    answer = rag.ask("let me speak with a human agent", collection="sample")
    assert answer.declined and answer.decline_reason == "handoff"
    assert answer.text == rag.settings.route.no_handoff_reply


def test_the_routers_handoff_reaches_the_stores_inbox_by_default(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home", guard={"enabled": False})
    with Ragline(settings) as r:
        r.ingest([SAMPLE], collection="sample")
        answer = r.ask("let me speak with a human agent", collection="sample")
        assert answer.decline_reason == "handoff" and answer.handoff_id
        item = r.handoffs.get_item(answer.handoff_id)
        assert item.guard == "router" and item.status == "open"


def test_document_questions_go_on_to_retrieval(rag: Ragline, sink: ListSink) -> None:
    fake = FakeChatModel(["The ideal brewing temperature is between 90 and 96 degrees Celsius."])
    use(rag, rag.settings, embedded=fake)
    events = list(rag.ask_stream("What is the ideal brewing temperature?", collection="sample"))
    assert isinstance(events[1], Routed) and events[1].route == "documents"
    assert isinstance(events[2], Retrieved) and len(fake.calls) == 1
    assert events[2].context.passages[0].chunk.source.endswith("coffee-brewing.html")
    # the question is embedded once: by the router, and retrieval reuses the vector
    assert len(spans(rag, sink, "route")) == 1 and spans(rag, sink, "embed") == []
    assert sink.traces[-1].summary.embedding is not None  # still kept for drift detection


def test_routing_off_and_a_bad_intents_file(rag: Ragline, tmp_path: Path) -> None:
    off = rag.settings.model_copy(
        update={"route": rag.settings.route.model_copy(update={"enabled": False})}
    )
    use(rag, off, embedded=FakeChatModel(["Hello."]))
    events = list(rag.ask_stream("hello!", collection="sample"))
    assert not any(isinstance(e, Routed) for e in events)
    assert any(isinstance(e, Retrieved) for e in events)

    bad = tmp_path / "intents.yaml"
    bad.write_text("documents: [a]\ngreetings: [hi]\n")
    broken = rag.settings.model_copy(
        update={"route": rag.settings.route.model_copy(update={"enabled": True, "intents": bad})}
    )
    use(rag, broken, embedded=FakeChatModel(["x"]))
    with pytest.raises(ConfigError, match="unknown route 'greetings'"):
        rag.ask_stream("hello!", collection="sample")  # raised by the call, not the stream


# ------------------------------------------------------------------ model routing


def weights(bias: float) -> RouterWeights:
    """A router whose score rises with the best passage's relevance."""
    n = len(FEATURES)
    coef = np.zeros(n)
    coef[FEATURES.index("best_relevance")] = 4.0
    return RouterWeights(np.zeros(n), np.ones(n), coef, bias, {})


def test_model_router_picks_weak_or_strong_by_threshold() -> None:
    router = ModelRouter(weights(-2.0), weak="small", strong="big", threshold=0.5)
    clear = router.choose("How tall is the tower?", [0.9, 0.4])  # p = sigmoid(1.6)
    vague = router.choose("How tall is the tower?", [0.2, 0.1])  # p = sigmoid(-1.2)
    assert (clear.model, clear.tier) == ("small", "weak") and clear.score > 0.5
    assert (vague.model, vague.tier) == ("big", "strong") and vague.score < 0.5
    always_weak = ModelRouter(weights(-2.0), weak="small", strong="big", threshold=0.0)
    always_strong = ModelRouter(weights(-2.0), weak="small", strong="big", threshold=1.0)
    assert always_weak.choose("q", [0.1]).tier == "weak"
    assert always_strong.choose("q", [0.99]).tier == "strong"
    down = router.choose("q", [0.1], available=lambda name: name != "big")
    assert down.model == "small" and "not available" in down.note


def test_features_and_weights_files(tmp_path: Path) -> None:
    x = features("How many moons does Jupiter have?", [0.8, 0.5, 0.3])
    assert x.shape == (len(FEATURES),)
    assert x[FEATURES.index("best_relevance")] == pytest.approx(0.8)
    assert x[FEATURES.index("top_gap")] == pytest.approx(0.3)
    assert x[FEATURES.index("wh_how")] == 1 and x[FEATURES.index("numeric")] == 1
    shipped = load_weights()
    assert 0 <= shipped.score(x) <= 1
    for text, message in [
        ("{", "cannot read"),
        ('{"features": ["other"]}', "not for this version"),
        (json.dumps({"features": list(FEATURES), "mean": [1]}), "malformed"),
        (
            json.dumps(
                {
                    "features": list(FEATURES),
                    **{key: [1] for key in ("mean", "scale", "coef")},
                    "intercept": 0,
                }
            ),
            "wrong shape",
        ),
    ]:
        path = tmp_path / "w.json"
        path.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_weights(path)
    with pytest.raises(ConfigError, match="do not exist"):
        load_weights(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match=r"both route\.weak_model and route\.strong_model"):
        model_router("embedded", None, 0.5, None)
    assert model_router(None, None, 0.5, None) is None


@pytest.mark.parametrize(("threshold", "tier"), [(0.0, "weak"), (1.0, "strong")])
def test_the_answer_flow_calls_the_routed_model(
    rag: Ragline, sink: ListSink, threshold: float, tier: str
) -> None:
    text = "The ideal brewing temperature is between 90 and 96 degrees Celsius."
    weak, strong = FakeChatModel([text]), FakeChatModel([text])
    route = rag.settings.route.model_copy(
        update={"weak_model": "weak", "strong_model": "strong", "model_threshold": threshold}
    )
    use(rag, rag.settings.model_copy(update={"route": route}), weak=weak, strong=strong)
    answer = rag.ask("What is the ideal brewing temperature for coffee?", collection="sample")
    assert not answer.declined
    assert (len(weak.calls), len(strong.calls)) == ((1, 0) if tier == "weak" else (0, 1))
    (span,) = spans(rag, sink, "model_route")
    assert span["tier"] == tier and span["model"] == tier and 0 <= span["score"] <= 1


def test_a_declined_weak_answer_cascades_to_the_strong_model(rag: Ragline, sink: ListSink) -> None:
    good = "The ideal brewing temperature is between 90 and 96 degrees Celsius."
    weak = FakeChatModel(["The moon landing happened in 1969 with three astronauts."])
    strong = FakeChatModel([good])
    route = rag.settings.route.model_copy(
        update={"weak_model": "weak", "strong_model": "strong", "model_threshold": 0.0}
    )
    use(rag, rag.settings.model_copy(update={"route": route}), weak=weak, strong=strong)
    events = list(
        rag.ask_stream("What is the ideal brewing temperature for coffee?", collection="sample")
    )
    answer = events[-1].answer
    assert not answer.declined and "90" in answer.text
    assert (len(weak.calls), len(strong.calls)) == (1, 1)
    # the weak draft was held back: the stream shows only the strong model's words
    shown = "".join(e.text for e in events if type(e).__name__ == "TokenDelta")
    assert "moon" not in shown and "90" in shown
    (span,) = spans(rag, sink, "model_cascade")
    assert span["weak"] == "weak" and span["strong"] == "strong"
    assert span["reason"] == "unsupported"


@pytest.mark.parametrize("cascade", [True, False])
def test_a_kept_weak_answer_or_no_cascade_never_calls_the_strong_model(
    rag: Ragline, sink: ListSink, cascade: bool
) -> None:
    text = "The ideal brewing temperature is between 90 and 96 degrees Celsius."
    weak = FakeChatModel([text if cascade else "The moon landing happened in 1969."])
    strong = FakeChatModel([text])
    route = rag.settings.route.model_copy(
        update={
            "weak_model": "weak",
            "strong_model": "strong",
            "model_threshold": 0.0,
            "model_cascade": cascade,
        }
    )
    use(rag, rag.settings.model_copy(update={"route": route}), weak=weak, strong=strong)
    answer = rag.ask("What is the ideal brewing temperature for coffee?", collection="sample")
    assert answer.declined is not cascade  # off: the weak decline stands
    assert (len(weak.calls), len(strong.calls)) == (1, 0)
    assert spans(rag, sink, "model_cascade") == []
