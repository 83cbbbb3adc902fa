"""Long-term memory end to end with the real embedded model and embedder: a fact told in one
session is used in a later one (the question about "my city" is searched with it, and the
prompt carries it), a later session's contradiction replaces it, and another user asking
the same question gets nothing of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragline.answer.conversation import Conversation
from ragline.answer.events import AnswerDone, MemoryUsed, Retrieved
from ragline.api import Ragline
from ragline.config import load_settings
from ragline.testing.live_server import write_corpus

pytestmark = pytest.mark.integration

CITIES = {
    "lyon.md": "# Lyon\n\nLyon is home to the Musée des Confluences, a museum of science and "
    "anthropology at the meeting of the Rhône and the Saône.\n",
    "porto.md": "# Porto\n\nPorto is home to the Serralves Museum of contemporary art, set in a "
    "park with an Art Deco villa.\n",
}
QUESTION = "What museum is there in my city?"


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ragline]:
    home = tmp_path_factory.mktemp("memory-e2e")
    settings = load_settings(
        home=home,
        memory={"long_term": True},
        guard={"enabled": False},  # the PII guard would redact the city (docs/memory.md)
        trace={"enabled": False},
    )
    with Ragline(settings) as r:  # the embedded SmolLM2 and MiniLM: nothing injected
        r.ingest([write_corpus(home / "cities", CITIES)], collection="cities")
        yield r


def _ask(rag: Ragline, question: str, conversation: Conversation, user: str, **kw: object):
    events = list(
        rag.ask_stream(question, collection="cities", conversation=conversation, user=user, **kw)
    )
    done = events[-1]
    assert isinstance(done, AnswerDone)
    conversation.add(done.answer)
    return events


def _of(events: list[object], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_a_fact_from_one_session_is_used_in_the_next(rag: Ragline) -> None:
    first = Conversation()
    events = _ask(rag, "Hi, I'm Maya. I live in Lyon.", first, "maya")
    [used] = _of(events, MemoryUsed)
    assert {(f.key, f.value) for f in used.remembered} == {("name", "Maya"), ("location", "Lyon")}

    second = Conversation()  # a new session: no turn of the first one is in it
    events = _ask(rag, QUESTION, second, "maya", style="generative")
    [used] = _of(events, MemoryUsed)
    [lyon] = [r.fact for r in used.recalled if r.fact.key == "location"]
    assert (lyon.value, lyon.source.conversation_id, lyon.source.turn_index) == (
        "Lyon",
        first.id,
        0,
    )
    [retrieved] = _of(events, Retrieved)
    assert "Lyon" in retrieved.query and retrieved.rewrite.method == "memory"
    assert Path(retrieved.context.passages[0].chunk.source).name == "lyon.md"
    # the prompt the model answered from carries what the user told us
    prep = rag.answerer.prepare(
        QUESTION, collection="cities", conversation=second, recalled=used.recalled
    )
    assert "I live in Lyon" in prep.messages[0]["content"]
    answer = events[-1].answer
    assert not answer.declined or answer.passages  # the real 135M model: judged by the checker
    assert all(Path(c.passage.chunk.source).name == "lyon.md" for c in answer.citations)


def test_a_later_session_replaces_the_fact_and_other_users_see_nothing(rag: Ragline) -> None:
    _ask(rag, "Big news: I moved to Porto last week.", Conversation(), "maya")
    events = _ask(rag, QUESTION, Conversation(), "maya")
    [retrieved] = _of(events, Retrieved)
    assert "Porto" in retrieved.query and "Lyon" not in retrieved.query
    history = rag.memory.facts("maya", history=True)
    assert [(f.value, f.current) for f in history if f.key == "location"] == [
        ("Lyon", False),
        ("Porto", True),
    ]
    events = _ask(rag, QUESTION, Conversation(), "tom")
    assert _of(events, MemoryUsed) == []
    [retrieved] = _of(events, Retrieved)
    assert retrieved.query == QUESTION
