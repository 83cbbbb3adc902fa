"""Memory: the rule extractor, supersession, forgetting, per-user isolation, the window
strategies, and the prompt's memory lines (real MiniLM embedder, real SQLite store)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ragline.answer.conversation import Turn, build_messages, token_counter
from ragline.config import MemorySettings, load_settings
from ragline.errors import ResourceNotFoundError
from ragline.memory.facts import Change, RuleExtractor, change_of, forget_request, mentions_user
from ragline.memory.longterm import LongTermMemory
from ragline.memory.model_facts import match_key
from ragline.memory.window import ConversationWindow, WindowState
from ragline.models.embedder import Embedder, get_embedder
from ragline.prompts import PromptRegistry
from ragline.store.sqlite_memory import SQLiteMemoryStore


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return get_embedder(load_settings().embedder)


@pytest.fixture
def memory(tmp_path: Path, embedder: Embedder) -> Iterator[LongTermMemory]:
    store = SQLiteMemoryStore(tmp_path / "ragline.db")
    yield LongTermMemory(store, embedder, MemorySettings(long_term=True))
    store.close()


# --------------------------------------------------------------------------- extractor


@pytest.mark.parametrize(
    ("said", "facts"),
    [
        ("I live in Paris.", [("location", "Paris")]),
        (
            "I moved to Lyon and I work at Renault now.",
            [("location", "Lyon"), ("employer", "Renault")],
        ),
        ("We relocated to Leeds in March.", [("location", "Leeds")]),
        ("Hi! I'm Maya, and I'm based in Porto.", [("name", "Maya"), ("location", "Porto")]),
        ("Please call me Sam.", [("name", "Sam")]),
        ("I'm a software engineer by profession.", [("job", "software engineer")]),
        ("I work as an architect.", [("job", "architect")]),
        ("I just started a new job at Globex last week.", [("employer", "Globex")]),
        ("My favourite colour is green.", [("favorite color", "green")]),
        ("Green is my favorite color.", [("favorite color", "Green")]),
        ("My new number is 913 222 111.", [("phone number", "913 222 111")]),
        ("I have a dog named Rex.", [("dog name", "Rex")]),
        ("I'm 34 years old", [("age", "34")]),
        ("I'm vegetarian.", [("diet", "vegetarian")]),
        ("I love hiking on weekends.", [("preference:hiking", "likes hiking")]),
        ("I don't like hiking anymore.", [("preference:hiking", "dislikes hiking")]),
        ("I can't stand spicy food.", [("preference:spicy food", "dislikes spicy food")]),
        ("I prefer tea over coffee.", [("prefers:tea", "prefers tea over coffee")]),
        ("I've switched to light mode.", [("prefers:light mode", "prefers light mode")]),
        # broader forms: roles, teams, people, places, things, comparisons
        (
            "I work as a nurse at São João hospital.",
            [("job", "nurse"), ("employer", "São João hospital")],
        ),
        (
            "I'm a nurse practitioner in Accra.",
            [("job", "nurse practitioner"), ("location", "Accra")],
        ),
        ("I teach maths at a high school.", [("job", "maths teacher")]),
        ("I got a full-time job as a data engineer.", [("job", "data engineer")]),
        ("I was promoted to team lead.", [("job", "team lead")]),
        (
            "I'm the head of the science department now.",
            [("job", "head of the science department")],
        ),
        ("I support Manchester United.", [("team", "Manchester United")]),
        ("I'm a huge fan of Real Betis.", [("fan:real betis", "fan of Real Betis")]),
        ("My brother Nils is a pilot.", [("brother name", "Nils")]),
        ("My son is called Yassin.", [("son name", "Yassin")]),
        ("I'm lactose intolerant.", [("diet", "lactose intolerant")]),
        ("We moved house to Gävle.", [("location", "Gävle")]),
        ("I'm living in Montreal right now.", [("location", "Montreal")]),
        (
            "I speak Arabic, French and a bit of English.",
            [("languages", "Arabic, French and a bit of English")],
        ),
        ("I play the violin in an orchestra.", [("instrument", "violin")]),
        ("I use a Wacom tablet for drawing.", [("uses for drawing", "Wacom tablet")]),
        ("I own a Kindle.", [("has:kindle", "Kindle")]),
        (
            "Evenings suit me better than mornings.",
            [("prefers:evenings", "prefers Evenings over mornings")],
        ),
        (
            "I'd rather work mornings than evenings.",
            [("prefers:mornings", "prefers mornings over evenings")],
        ),
        ("New email: ana@example.org", [("email", "ana@example.org")]),
        ("My phone is a Pixel 8.", [("phone", "a Pixel 8")]),
        ("We've packed up and relocated to Porto.", [("location", "Porto")]),
        ("We're in Milan these days.", [("location", "Milan")]),
        ("Ana speaking, from Sevilla originally.", [("name", "Ana"), ("hometown", "Sevilla")]),
        ("I'm mad about climbing.", [("preference:climbing", "likes climbing")]),
        ("Hi, I'm Mei.", [("name", "Mei")]),
        ("We relocated from Cairo to Dubai.", [("location", "Dubai")]),
        (
            "I've taken a position with Emaar as a senior architect.",
            [("job", "senior architect"), ("employer", "Emaar")],
        ),
        (
            "I now work for the council as a supervisor.",
            [("employer", "the council"), ("job", "supervisor")],
        ),
        ("I drive to work since the bus stopped.", [("commute", "drive")]),
        ("I'm not vegetarian anymore.", [("diet", "no longer vegetarian")]),
        ("These days I'm eating meat again.", [("diet", "eats meat")]),
    ],
)
def test_the_rules_read_the_common_forms(said: str, facts: list[tuple[str, str]]) -> None:
    got = [(c.key, c.value) for c in RuleExtractor(notes=False).extract(said)]
    assert got == facts


@pytest.mark.parametrize(
    "said",
    [
        "What is my name?",
        "Where do I live?",
        "How do I reset the password of the staff portal?",
        "My question is about the leave policy.",
        "I'm Canadian.",
        "I have a question about my payslip.",
        "I'm a teacher?",
    ],
)
def test_questions_and_other_talk_are_no_facts(said: str) -> None:
    assert RuleExtractor(notes=False).extract(said) == []


def test_an_unread_first_person_statement_is_a_note() -> None:
    [note] = RuleExtractor(notes=True).extract("I've been sleeping badly since December.")
    assert note.kind == "note" and note.key.startswith("note:") and "sleeping" in note.value
    assert RuleExtractor(notes=True).extract("What is the report due on Friday?") == []


def test_a_short_turn_without_i_is_a_note_and_a_pasted_text_is_not() -> None:
    # said to the assistant in a short turn, about the user's own things
    [note] = RuleExtractor(notes=True).extract("The chess club moved to Tuesdays.")
    assert note.kind == "note" and "Tuesdays" in note.value
    pasted = (
        "The report is due on Friday. The committee reviews every submission in turn, and the "
        "chair writes a short summary of the discussion for the minutes. Late reports are "
        "returned to the authors without comment, and the next deadline is in three months."
    )
    assert RuleExtractor(notes=True).extract(pasted) == []


@pytest.mark.parametrize(
    ("said", "change"),
    [
        ("I traded the Peugeot for a Dacia Spring", Change("the Peugeot", "a Dacia Spring")),
        ("I left Globex and joined Initech", Change("Globex", "Initech")),
        ("I went from vegan to vegetarian", Change("vegan", "vegetarian")),
        (
            "Lately I drink matcha instead of green tea",
            Change("green tea", "Lately I drink matcha"),
        ),
        ("Mostly I write Go these days, not Rust", Change("Rust", "Mostly I write Go")),
        ("The Clio is gone", Change("The Clio", "")),
        ("I moved out of Paris", Change("Paris", "")),
        ("I bought a Pixel after the iPhone died", Change("iPhone", "")),
        ("Acme let me go, and Globex hired me", Change("Acme", "Globex hired me")),
        ("I live in Paris", None),
        ("Why did I sell the car?", None),
    ],
)
def test_changes_name_what_they_replace(said: str, change: Change | None) -> None:
    assert change_of(said) == change


def test_forget_requests_are_read() -> None:
    assert forget_request("Please forget that I live in Lyon.").target == "I live in Lyon"
    assert forget_request("can you forget my phone number?").target == "my phone number"
    assert forget_request("Forget everything you know about me").everything
    assert forget_request("forget the previous question") is None
    assert forget_request("I forgot my badge") is None
    assert mentions_user("What museums are in my city?") and not mentions_user("Who is Ada?")


def test_a_model_key_is_mapped_onto_a_known_key() -> None:
    assert match_key("Car", ["location", "car"]) == "car"
    assert match_key("favourite colour", ["favorite color"]) == "favorite color"
    assert match_key("music taste", ["location"]) == "music taste"


# --------------------------------------------------------------------------- long-term


def _values(recalled: Sequence[object]) -> list[str]:
    return [r.fact.value for r in recalled]  # type: ignore[attr-defined]


def test_a_contradiction_supersedes_and_keeps_the_history(memory: LongTermMemory) -> None:
    [paris] = memory.remember("ana", "I live in Paris.", conversation_id="s1", turn_index=0)
    [lyon] = memory.remember(
        "ana", "I moved to Lyon last month.", conversation_id="s2", turn_index=4
    )
    assert [f.id for f in lyon.superseded] == [paris.fact.id]
    assert _values(memory.recall("ana", "Where do I live?")) == ["Lyon"]
    history = memory.facts("ana", history=True)
    assert [(f.value, f.superseded_by) for f in history] == [
        ("Paris", lyon.fact.id),
        ("Lyon", None),
    ]
    source = lyon.fact.source
    assert (source.conversation_id, source.turn_index, source.text) == (
        "s2",
        4,
        "I moved to Lyon last month.",
    )
    assert source.at


def test_preferences_flip_and_choices_replace_alike_ones(memory: LongTermMemory) -> None:
    memory.remember("ana", "I love hiking on weekends. I prefer tea over coffee.")
    memory.remember("ana", "I prefer aisle seats on planes.")
    memory.remember("ana", "I don't like hiking anymore. These days I'd rather have coffee.")
    current = {f.key: f.value for f in memory.facts("ana")}
    assert current["preference:hiking"] == "dislikes hiking"
    assert "prefers:tea" not in current and current["prefers:coffee"] == "prefers coffee"
    assert current["prefers:aisle seats"] == "prefers aisle seats"  # not alike: kept


def test_a_change_in_new_words_replaces_the_thing_it_names(memory: LongTermMemory) -> None:
    """ "I traded the Peugeot for a Dacia" is no rule's form: it names the old car, so it
    becomes the car (history kept), and recall never returns the Peugeot again."""
    [peugeot] = memory.remember("omar", "My car is a Peugeot 208.")
    [dacia] = memory.remember("omar", "I traded the Peugeot for a Dacia Spring.")
    assert (dacia.fact.key, dacia.fact.value) == ("car", "Dacia Spring")
    assert [f.id for f in dacia.superseded] == [peugeot.fact.id]
    recalled = _values(memory.recall("omar", "What car do I have?"))
    assert recalled[0] == "Dacia Spring" and "a Peugeot 208" not in recalled
    history = memory.facts("omar", history=True)
    assert [(f.value, f.superseded_by) for f in history] == [
        ("a Peugeot 208", dacia.fact.id),
        ("Dacia Spring", None),
    ]
    # a thing gone without a new one said: the old value still stops being current
    memory.remember("omar", "I support Olympique de Marseille.")
    memory.remember("omar", "I've stopped following Olympique de Marseille.")
    assert "Olympique de Marseille" not in {f.value for f in memory.facts("omar")}


def test_a_rule_fact_replaces_the_note_it_restates(memory: LongTermMemory) -> None:
    """An unread statement (a note) and a later fact of the same thing read by a rule: the
    fact replaces the note, and a change names the whole value, not a part of another."""
    [note] = memory.remember("sofi", "Cycling keeps me sane on weekends.")
    assert note.fact.kind == "note"
    [done] = memory.remember("sofi", "I'm not into cycling anymore.")
    assert [f.id for f in done.superseded] == [note.fact.id]
    memory.remember("jo", "I live in Graz. I support Sturm Graz.")
    memory.remember("jo", "We moved out of Graz.")
    assert "Sturm Graz" in {f.value for f in memory.facts("jo")}  # the club stays


def test_a_choice_turned_round_replaces_it(memory: LongTermMemory) -> None:
    memory.remember("priya", "I'd pick an aisle seat over a window seat any day.")
    memory.remember("priya", "Window seats have won me over lately.")
    assert not any(f.key.startswith("prefers:aisle") for f in memory.facts("priya"))
    memory.remember("pablo", "I use Pro Tools for mixing.")
    [done] = memory.remember("pablo", "For mixing I've moved over to Reaper.")
    assert (done.fact.key, done.fact.value) == ("uses for mixing", "reaper")
    assert [f.value for f in done.superseded] == ["Pro Tools"]


def test_a_note_naming_a_key_with_a_change_replaces_it(memory: LongTermMemory) -> None:
    memory.remember("leo", "My website is leodraws.ca.")
    [moved] = memory.remember("leo", "My website moved to leo-art.com.")
    assert moved.fact.key == "website" and [f.value for f in moved.superseded] == ["leodraws.ca"]
    assert _values(memory.recall("leo", "What's my website?")) == [moved.fact.value]


def test_one_turn_does_not_replace_its_own_facts(memory: LongTermMemory) -> None:
    """ "My brother Nils lives in Oslo": the brother's name and the note both stay, and the
    user's own city is not replaced by the brother's."""
    memory.remember("greta", "I live in Uppsala.")
    done = memory.remember("greta", "My brother Nils lives in Oslo.")
    assert all(not d.superseded for d in done)
    current = {f.key: f.value for f in memory.facts("greta")}
    assert current["location"] == "Uppsala" and current["brother name"] == "Nils"


def test_recall_is_relevant_only(memory: LongTermMemory) -> None:
    memory.remember("ana", "I live in Lyon. My favourite colour is green. I work at Acme.")
    assert _values(memory.recall("ana", "What's my favorite color?"))[0] == "green"
    assert _values(memory.recall("ana", "What museums are there in my city?")) == ["Lyon"]
    assert memory.recall("ana", "Do you know a good pasta recipe?") == []


def test_of_two_alike_recalled_facts_the_later_one_holds(memory: LongTermMemory) -> None:
    memory.remember(
        "ines",
        "My favourite author is Saramago.",
        conversation_id="s1",
        turn_index=0,
        at="2026-02-14T21:10:00",
    )
    memory.remember(
        "ines", "Lately I've been reading a lot of Pessoa, he's my favourite now.",
        conversation_id="s2", turn_index=3, at="2026-03-30T16:20:00",
    )  # fmt: skip
    # no rule reads the change: both are current, the later one is what is recalled
    assert len(memory.facts("ines")) == 2
    recalled = memory.recall("ines", "Who is my favourite author?")
    assert [r.fact.source.conversation_id for r in recalled] == ["s2"]
    # facts of one turn never hide each other; the setting at 1 turns the rule off
    memory.settings = memory.settings.model_copy(update={"recency_supersede": 1.0})
    assert len(memory.recall("ines", "Who is my favourite author?")) == 2


def test_forgetting_on_request(memory: LongTermMemory) -> None:
    memory.remember("ana", "I live in Paris. My phone number is 555-0101.")
    memory.remember("ana", "I moved to Lyon.")
    done = memory.forget_request("ana", "Please forget that I live in Lyon")
    assert done is not None and done.count == 2  # the current city and the one it replaced
    assert {f.key for f in memory.facts("ana", history=True)} == {"phone number"}
    assert memory.recall("ana", "Where do I live?") == []
    done = memory.forget_request("ana", "forget my phone number")
    assert done is not None and done.count == 1 and memory.facts("ana") == []
    assert memory.forget_request("ana", "What's the weather?") is None


def test_forgetting_by_id_and_everything(memory: LongTermMemory) -> None:
    [paris] = memory.remember("ana", "I live in Paris.")
    memory.remember("ana", "I moved to Lyon. I drive a Golf.")
    assert memory.forget("ana", paris.fact.id).count == 1  # a superseded fact: alone
    assert [f.value for f in memory.facts("ana", history=True)] == ["Lyon", "Golf"]
    done = memory.forget_request("ana", "forget everything about me")
    assert done is not None and done.everything and done.count == 2
    assert memory.facts("ana", history=True) == []


def test_users_never_see_each_other(memory: LongTermMemory) -> None:
    [ana] = memory.remember("ana", "I live in Lyon.")
    memory.remember("bob", "My favourite colour is red.")
    assert memory.recall("bob", "Where do I live?") == []
    assert [f.user_id for f in memory.facts("bob", history=True)] == ["bob"]
    with pytest.raises(ResourceNotFoundError):
        memory.forget("bob", ana.fact.id)
    assert memory.forget_request("bob", "forget everything about me").count == 1  # type: ignore[union-attr]
    assert _values(memory.recall("ana", "Where do I live?")) == ["Lyon"]


# --------------------------------------------------------------------------- window


@dataclass
class _T:
    question: str
    answer: str


def _turns(n: int, detail_at: int = 1) -> list[_T]:
    turns = [_T(f"Filler question number {i} about the weather?", f"Answer {i}.") for i in range(n)]
    turns[detail_at] = _T("My booking reference is QX7-4821.", "Noted.")
    return turns


class _Summaries:
    """A summarizer that keeps the first words of each batch and counts its calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, summary: str, turns: Sequence[_T]) -> str:
        self.calls.append(len(turns))
        return (summary + " " + " ".join(t.question.split()[0] for t in turns)).strip()


def test_last_n_keeps_the_recent_turns_only() -> None:
    window = ConversationWindow(MemorySettings(), recent=2)
    choice = window.select(_turns(10), "What was my booking reference?", WindowState())
    assert choice.turns == (8, 9) and choice.summary == ""


def test_the_summary_folds_older_turns_a_batch_at_a_time() -> None:
    summarize = _Summaries()
    settings = MemorySettings(window="summary", summary_every=4)
    window = ConversationWindow(settings, recent=2, summarize=summarize)
    state = WindowState()
    turns = _turns(12)
    first = window.select(turns[:7], "q", state)
    assert summarize.calls == [4] and state.covered == 4
    assert first.turns == (4, 5, 6)  # the unfolded older turn stays as a turn
    again = window.select(turns, "q", state)  # incremental: only the new batch is folded
    assert summarize.calls == [4, 4] and state.covered == 8
    assert again.turns == (8, 9, 10, 11) and again.summary.split()[0] == "Filler"


def test_summary_retrieval_brings_back_the_turn_asked_about(embedder: Embedder) -> None:
    settings = MemorySettings(window="summary_retrieval", summary_every=4, retrieved_turns=1)
    window = ConversationWindow(settings, recent=2, summarize=_Summaries(), embed=embedder.embed)
    choice = window.select(_turns(30), "What was my booking reference again?", WindowState())
    assert choice.retrieved == (1,) and 1 in choice.turns
    assert len(choice.turns) < 6


def test_memory_lines_join_the_system_message() -> None:
    template = PromptRegistry().get("answer@v3")
    settings = load_settings().answer
    plan = build_messages(
        template,
        question="What museums are there in my city?",
        passage_lines=["[1] Lyon has the Musée des Confluences."],
        history=[Turn("hi", "hi", "Hello!")],
        settings=settings,
        n_ctx=2048,
        max_tokens=96,
        count=token_counter(None),
        memory=["What the user told you about themselves before:\n- I live in Lyon"],
    )
    system = plan.messages[0]
    assert system["role"] == "system" and system["content"].endswith("- I live in Lyon")
    tight = build_messages(
        template,
        question="What museums are there in my city?",
        passage_lines=["[1] Lyon has the Musée des Confluences."],
        history=[],
        settings=settings,
        n_ctx=260,
        max_tokens=96,
        count=token_counter(None),
        memory=["x " * 400],
    )
    assert "x x x" not in tight.messages[0]["content"]  # no room: the passages come first
    assert np.isfinite(tight.prompt_tokens)


def test_a_value_the_pii_guard_redacted_is_not_remembered(memory: LongTermMemory) -> None:
    done = memory.remember("ana", "I live in <LOCATION_1>. I'm allergic to peanuts.")
    assert [(d.fact.key, d.fact.value) for d in done] == [("allergy", "peanuts")]
    assert all("<" not in f.value for f in memory.facts("ana"))


def test_the_answer_goes_on_without_memory_when_the_store_fails(tmp_path: Path) -> None:
    """A store that fails: the question is answered without memory; a request to forget
    fails loudly (the user must not believe it was forgotten)."""
    from ragline.answer.events import AnswerDone, MemoryUsed
    from ragline.api import Ragline
    from ragline.errors import StoreError

    class Broken:
        def facts(self, *a: object, **k: object) -> list[object]:
            raise StoreError("the memory store is down")

    settings = load_settings(
        home=tmp_path,
        memory={"long_term": True},
        guard={"enabled": False},
        route={"enabled": False},
    )
    from ragline.testing.live_server import write_corpus

    with Ragline(settings) as rag:
        rag.ingest([write_corpus(tmp_path / "docs")], collection="docs")
        rag.memory._opened = Broken()  # type: ignore[assignment]
        rag.memory._open = None
        events = list(
            rag.ask_stream("I live in Lyon. Which planet is the hottest?", collection="docs")
        )
        assert isinstance(events[-1], AnswerDone) and not any(
            isinstance(e, MemoryUsed) for e in events
        )
        with pytest.raises(StoreError):
            list(rag.ask_stream("Please forget that I live in Lyon", collection="docs"))


# --------------------------------------------------------------------------- recall model


def test_the_recall_model_finds_a_fact_said_in_other_words(memory: LongTermMemory) -> None:
    """ "What's my trade?" / "I'm an electrician": cosine 0.23, under any similarity floor
    that keeps off-topic questions clean; the model reads that it is the user's best match
    and that a trade question meets a job."""
    for i, said in enumerate(
        ["Søren Dahl, nice to meet you.", "I'm an electrician, self-employed.",
         "My twins are called Ida and Emil.", "I bike everywhere."]
    ):  # fmt: skip
        memory.remember("soren", said, conversation_id="s1", turn_index=i)
    assert "electrician" in _values(memory.recall("soren", "What's my trade?"))[0]
    assert "bike" in " ".join(_values(memory.recall("soren", "How do I get around?")))
    similarity = memory.settings.model_copy(update={"recall": "similarity"})
    plain = LongTermMemory(memory.store, memory.embedder, similarity)
    assert plain.recall("soren", "What's my trade?") == []  # what the model adds
    # off-topic questions of the user's own recall nothing (a question not about the user
    # never reaches recall in the answer flow)
    assert memory.recall("soren", "How do I descale my kettle?") == []
    assert memory.recall("soren", "What gauge of wire do I need for a 32 amp circuit?") == []


def test_the_recall_models_threshold_is_a_setting(memory: LongTermMemory) -> None:
    memory.remember("ana", "I live in Lyon. I work at Acme.")
    memory.settings = memory.settings.model_copy(update={"min_probability": 0.0})
    assert len(memory.recall("ana", "Do you know a good pasta recipe?")) == 2
    memory.settings = memory.settings.model_copy(update={"min_probability": 1.0})
    assert memory.recall("ana", "Where do I live?") == []


def test_the_shipped_recall_weights_match_the_features_and_the_settings() -> None:
    import json

    from ragline.memory.recall_model import FEATURES, WEIGHTS, RecallModel, shipped

    data = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    assert data["features"] == list(FEATURES)
    model = shipped()
    assert 0.0 < model.threshold < 1.0 and model.weights.shape == (len(FEATURES),)
    # the setting's default is the value the training script chose with these weights
    assert MemorySettings().recency_supersede == data["recency_supersede"]
    assert MemorySettings().recency_min_share == data["recency_min_share"]
    assert "test10" not in " ".join(data["trained_on"])  # the untouched split stays out
    with pytest.raises(Exception, match="other features"):
        RecallModel.from_dict({**data, "features": ["cosine"]})


def test_a_later_fact_hides_an_alike_one_only_when_it_answers_as_well(
    memory: LongTermMemory,
) -> None:
    memory.remember(
        "greet", "My night shifts are on Fridays.", conversation_id="s1", turn_index=0,
        at="2026-02-27T21:45:00",
    )  # fmt: skip
    memory.remember(
        "greet", "Night shifts are on Wednesdays now.", conversation_id="s2", turn_index=0,
        at="2026-06-15T06:30:00",
    )  # fmt: skip
    memory.remember(
        "greet", "I'm doing pottery on Saturdays.", conversation_id="s2", turn_index=4,
        at="2026-06-15T06:30:00",
    )  # fmt: skip
    recalled = _values(memory.recall("greet", "When are my night shifts?"))
    assert any("Wednesdays" in v for v in recalled) and not any("Fridays" in v for v in recalled)


def test_a_question_may_name_a_key_by_a_phrase(memory: LongTermMemory) -> None:
    memory.remember("greet", "I'm a midwife at the university hospital. I sing in a choir.")
    assert "midwife" in _values(memory.recall("greet", "What do I do?"))
    from ragline.memory.facts import asked_keys

    assert asked_keys("What do you do for a living?") == {"job"}
    assert asked_keys("What do I do for fun?") == frozenset()
