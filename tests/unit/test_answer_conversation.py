"""Conversations: follow-up detection, model rewrite with heuristic fallback, trimming."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from conftest import REPO
from ragline.answer.conversation import (
    Conversation,
    QueryRewriter,
    Turn,
    build_messages,
    token_counter,
)
from ragline.api import Ragline
from ragline.config import AnswerSettings, load_settings
from ragline.errors import ModelTimeoutError
from ragline.models.gateway import Gateway
from ragline.prompts import PromptRegistry
from ragline.retrieve.analyzer import Analyzer
from ragline.testing.chat_conformance import FakeChatModel

REWRITE = PromptRegistry().get("rewrite")
ANSWER = PromptRegistry().get("answer")


def conversation(*queries: str) -> Conversation:
    return Conversation([Turn(q, q, f"answer to {q}") for q in queries])


def rewriter(reply: str | Exception | None) -> tuple[QueryRewriter, list]:
    calls: list = []

    def generate(messages):
        calls.append(messages)
        if isinstance(reply, Exception):
            raise reply
        return reply

    return QueryRewriter(REWRITE, Analyzer(), None if reply is None else generate), calls


@pytest.mark.parametrize(
    ("question", "follow_up"),
    [
        ("and what about Mars?", True),
        ("How tall is it?", True),
        ("why?", True),
        ("What is the meal allowance per day?", False),
        ("Who reclassified Pluto as a dwarf planet?", False),
    ],
)
def test_follow_ups_are_recognised(question: str, follow_up: bool):
    r, _ = rewriter(None)
    assert r.is_follow_up(question, conversation("How hot is Venus?")) is follow_up
    assert r.is_follow_up(question, Conversation()) is False  # nothing to follow


def test_a_usable_model_rewrite_is_used():
    r, calls = rewriter("Rewritten question: How hot is Mars?")
    out = r.rewrite("and what about Mars?", conversation("How hot is Venus?"))
    assert (out.method, out.query) == ("model", "How hot is Mars?")
    (messages,) = calls
    assert "Earlier question: How hot is Venus?" in messages[-1]["content"]
    assert "Follow-up question: and what about Mars?" in messages[-1]["content"]


@pytest.mark.parametrize(
    "reply",
    [
        "",  # nothing
        "I cannot answer that.",  # a refusal
        "How hot is Venus?",  # lost the follow-up's own word (Mars)
        "What about Mars?",  # nothing from the conversation: not standalone
        "Mars " * 40,  # rambling
        ModelTimeoutError("too slow"),  # the model failed
    ],
)
def test_unusable_model_output_falls_back_to_the_heuristic(reply):
    r, _ = rewriter(reply)
    out = r.rewrite("and what about Mars?", conversation("How hot is Venus?"))
    assert out.method == "heuristic"
    assert out.query == "and what about Mars? hot Venus"


def test_heuristic_appends_only_missing_key_terms():
    r, _ = rewriter(None)
    conv = conversation("Tell me about the Eiffel Tower in Paris")
    assert r.rewrite("How tall is it?", conv).query == ("How tall is it? Tell Eiffel Tower Paris")
    assert r.heuristic("is the Eiffel Tower old?", conv) == "is the Eiffel Tower old? Tell Paris"


def test_standalone_questions_are_not_rewritten():
    r, calls = rewriter("should not be used")
    out = r.rewrite("What is the meal allowance per day?", conversation("How hot is Venus?"))
    assert (out.method, out.query) == ("none", "What is the meal allowance per day?")
    assert calls == []


# --------------------------------------------------------------------------- trimming


def count_words(messages) -> int:
    return sum(len(m["content"].split()) + 4 for m in messages)


def plan(n_ctx: int, turns: int = 5, history_turns: int = 5):
    history = [
        Turn(f"question {i} " + "word " * 20, "q", f"answer {i} " + "word " * 20)
        for i in range(turns)
    ]
    passages = [f"[{n}] " + "passage text " * 15 for n in (1, 2, 3)]
    return build_messages(
        ANSWER,
        question="the question?",
        passage_lines=passages,
        history=history,
        settings=AnswerSettings(history_turns=history_turns),
        n_ctx=n_ctx,
        max_tokens=50,
        count=count_words,
    )


def test_everything_fits_in_a_large_window():
    p = plan(4096, turns=2)
    assert (p.passages_used, p.turns_used) == (3, 2)
    roles = [m["role"] for m in p.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert p.messages[1]["content"].startswith("question 0")  # oldest first, in order
    assert p.messages[-1]["content"].endswith("Question: the question?")


def test_oldest_turns_are_dropped_first():
    full = plan(4096)
    budget = full.prompt_tokens - 30  # room for all but about one turn
    p = plan(budget + 50 + 16)
    assert p.passages_used == 3 and 0 < p.turns_used < 5
    assert p.prompt_tokens <= budget
    kept = [m["content"].split()[1] for m in p.messages if m["role"] == "user"][:-1]
    assert kept == [str(i) for i in range(5 - p.turns_used, 5)]  # the newest ones


def test_history_turns_setting_caps_the_history():
    assert plan(4096, turns=5, history_turns=1).turns_used == 1
    assert plan(4096, turns=5, history_turns=0).turns_used == 0


def test_passages_are_dropped_last_and_least_relevant_first():
    p = plan(150)
    assert p.turns_used == 0 and p.passages_used < 3
    assert "[1]" in p.messages[-1]["content"]


def test_token_counter_estimates_without_a_tokenizer():
    count = token_counter(FakeChatModel())
    assert count([{"role": "user", "content": "x" * 400}]) == 100 + 4 + 2


# --------------------------------------------------------------------------- chat API


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ragline]:
    with Ragline(
        load_settings(home=tmp_path_factory.mktemp("chat-home"), answer={"style": "generative"})
    ) as r:
        r.ingest([REPO / "examples" / "sample"], collection="sample")
        yield r


def test_chat_rewrites_follow_ups_and_records_turns(rag: Ragline):
    def reply(messages, params):
        content = messages[-1]["content"]
        if "Follow-up question:" in content:
            return "How hot is Mars?"  # the rewrite call
        if "Mars" in content.split("Question:")[-1]:
            return "Mars has the largest volcano in the Solar System, Olympus Mons."
        return "Venus is the hottest planet."

    fake = FakeChatModel(reply)
    rag.gateway = Gateway(rag.settings, models={"embedded": fake})
    conv = Conversation()
    first = rag.chat("How hot is Venus?", conv, collection="sample")
    assert not first.declined and len(conv) == 1
    second = rag.chat("and what about Mars?", conv, collection="sample")
    assert second.query == "How hot is Mars?" and len(conv) == 2
    assert conv.turns[1].query == "How hot is Mars?"
    # the answer prompt carried the first turn, without citation markers
    answer_calls = [m for m, _ in fake.calls if "Read the passages" in m[-1]["content"]]
    assert answer_calls[-1][1:3] == [
        {"role": "user", "content": "How hot is Venus?"},
        {"role": "assistant", "content": "Venus is the hottest planet."},
    ]
    conv.reset()
    assert len(conv) == 0


def test_a_model_that_keeps_failing_to_rewrite_is_not_asked_again(rag: Ragline):
    def reply(messages, params):
        if "Follow-up question:" in messages[-1]["content"]:
            return "Mars is red and cold."  # answers instead of rewriting: unusable
        return "Venus is the hottest planet."

    def rewrite_calls() -> int:
        return sum("Follow-up question:" in m[-1]["content"] for m, _ in fake.calls)

    fake = FakeChatModel(reply)
    rag.gateway = Gateway(rag.settings, models={"embedded": fake})  # a fresh answerer
    give_up = rag.settings.answer.rewrite_give_up_after
    assert give_up == 3
    conv = Conversation()
    rag.chat("How hot is Venus?", conv, collection="sample")
    for n in range(give_up + 2):
        answer = rag.chat("and what about Mars?", conv, collection="sample")
        assert "mars" in answer.query.lower()  # the key-word heuristic still rewrites
        assert rewrite_calls() == min(n + 1, give_up)

    # A model that rewrites well every other time keeps being asked (a success resets the
    # count of misses).
    calls = itertools.count()

    def sometimes(messages, params):
        content = messages[-1]["content"]
        if "Follow-up question:" in content:
            planet = "Mars" if "Mars" in content.split("Follow-up question:")[-1] else "Venus"
            return f"How hot is {planet}?" if next(calls) % 2 == 0 else f"{planet} is red."
        return "Venus is the hottest planet."

    fake = FakeChatModel(sometimes)
    rag.gateway = Gateway(rag.settings, models={"embedded": fake})
    answers = []
    for i in range(8):
        planet = "Mars" if i % 2 == 0 else "Venus"
        answers.append(rag.chat(f"and what about {planet}?", conv, collection="sample"))
    assert rewrite_calls() == 8
    assert [a.query for a in answers[::2]] == ["How hot is Mars?"] * 4  # the model's, used
