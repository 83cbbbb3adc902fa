"""Extractive answers, answerability, bad input and JSONL record ids, with the real embedder
and store (a scripted chat model where a draft is needed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO
from ragline.answer import logistic
from ragline.answer.answerability import ANSWERABILITY_FEATURES, features
from ragline.answer.events import (
    AnswerDone,
    Retrieved,
    Routed,
    SentenceChecked,
    Started,
    TokenDelta,
    citation_item,
)
from ragline.answer.extractive import READER_FEATURES, SentenceReader, answer_type, quote
from ragline.api import Ragline
from ragline.config import load_settings
from ragline.errors import CollectionNotFoundError, ConfigError, InvalidQueryError
from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel

SAMPLE = REPO / "examples" / "sample"
COFFEE = "What is the ideal brewing temperature for coffee?"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("extractive-home")
    records = [
        {"_id": "rec-venus", "title": "Venus", "text": "Venus is the hottest planet in the "
         "solar system, with a surface temperature of about 464 degrees Celsius."},
        {"_id": "rec-mars", "title": "Mars", "text": "Mars has two small moons, Phobos and "
         "Deimos, which were discovered by Asaph Hall in 1877."},
    ]  # fmt: skip
    corpus = home / "planets.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
    with Ragline(load_settings(home=home)) as rag:
        rag.ingest([SAMPLE], collection="sample")
        rag.ingest([corpus], collection="planets")
        rag.store.create_collection("empty")
    return home


@pytest.fixture
def rag(home: Path) -> Iterator[Ragline]:
    with Ragline(load_settings(home=home)) as r:
        yield r


def scripted(rag: Ragline, text: str, **answer: object) -> FakeChatModel:
    settings = rag.settings
    settings = settings.model_copy(update={"answer": settings.answer.model_copy(update=answer)})
    rag.settings = settings
    fake = FakeChatModel([text])
    rag.gateway = Gateway(settings, models={"embedded": fake})
    return fake


# --------------------------------------------------------------------------- pieces


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who discovered the moons of Mars?", "person"),
        ("When were Phobos and Deimos discovered?", "date"),
        ("In what year did the war end?", "date"),
        ("How many moons does Mars have?", "number"),
        ("How long is the Seine?", "number"),
        ("Where is the Eiffel Tower?", "place"),
        ("What is photosynthesis?", None),
    ],
)
def test_answer_type_from_the_wh_phrase(question: str, kind: str | None):
    assert answer_type(question) == kind


def test_the_span_is_the_typed_phrase_the_question_does_not_name(rag: Ragline):
    reader = rag.answerer.reader
    sentence = "Mars has two small moons, Phobos and Deimos, discovered by Asaph Hall in 1877."
    q = "when were the moons of mars discovered by asaph hall?"
    assert reader.span(sentence, "date", q) == "1877"
    assert reader.span(sentence, "person", "who discovered the moons of mars?") == "Asaph Hall"
    assert reader.span(sentence, "number", "how many moons does mars have?").startswith("two")
    # nothing of the type beyond the question's own words: no span
    assert reader.span("Mars is red.", "date", "when is mars red?") is None


def test_logistic_fit_is_deterministic_and_separates():
    rows = [{"a": float(i), "b": 1.0} for i in range(20)]
    labels = [int(i >= 10) for i in range(20)]
    m1 = logistic.fit(rows, labels, ("a", "b"))
    m2 = logistic.fit(rows, labels, ("a", "b"))
    assert m1 == m2
    assert m1.probability({"a": 18.0}) > 0.9 > 0.1 > m1.probability({"a": 1.0})
    assert logistic.Logistic.from_dict(m1.to_dict()).logit({"a": 3.0}) == pytest.approx(
        m1.logit({"a": 3.0}), abs=1e-4
    )
    with pytest.raises(ConfigError, match="malformed"):
        logistic.Logistic.from_dict({"features": ["a"], "mean": [], "scale": [1], "coef": [1],
                                     "bias": 0})  # fmt: skip


def test_shipped_weights_are_small_and_match_the_features():
    path = Path(logistic.__file__).with_name(logistic.WEIGHTS_FILE)
    assert path.stat().st_size < 16_000
    data = json.loads(path.read_text())
    assert "tuning half" in data["trained_on"]
    assert tuple(logistic.load("reader").features) == READER_FEATURES
    assert tuple(logistic.load("answerability").features) == ANSWERABILITY_FEATURES
    # the setting's default is the threshold the training chose
    assert load_settings().answer.min_answerability == data["threshold"]


def test_reader_features_are_the_models_features(rag: Ragline):
    ctx = rag.answerer.prepare(COFFEE, collection="sample").context
    reading = rag.answerer.reader.read(COFFEE, ctx.passages, ctx.question_vector)
    assert reading.candidates and set(reading.best.features) == set(READER_FEATURES)
    scores = [c.score for c in reading.candidates]
    assert scores == sorted(scores, reverse=True)
    assert isinstance(rag.answerer.reader, SentenceReader)


def test_a_changed_entity_shows_in_the_unmatched_question_terms(rag: Ragline):
    """SQuAD 2.0's unanswerables reuse the passage's words and change one: the changed word
    is an unmatched, rare question term, absent from every passage."""

    def signals(question: str) -> dict[str, float]:
        ctx = rag.answerer.prepare(question, collection="planets").context
        reading = rag.answerer.reader.read(question, ctx.passages, ctx.question_vector)
        x = features(reading, rag.retriever.analyzer, ctx.best_relevance)
        assert set(x) == set(ANSWERABILITY_FEATURES)
        return x

    faithful = signals("Who discovered the moons of Mars?")
    changed = signals("Who discovered the rings of Mars?")
    assert faithful["unmatched_idf"] == 0.0 and faithful["absent_terms"] == 0.0
    assert faithful["max_unmatched_idf"] == 0.0 and faithful["span_is_new"] == 1.0
    assert changed["unmatched_idf"] > 0.0 and changed["absent_terms"] == 1.0
    assert changed["max_unmatched_idf"] > 0.0


# --------------------------------------------------------------------------- styles


def test_extractive_answer_quotes_the_sentence_without_a_model_call(rag: Ragline):
    fake = scripted(rag, "never used", style="extractive", min_answerability=0.0)
    events = list(rag.ask_stream(COFFEE, collection="sample"))
    kinds = [type(e) for e in events]
    assert kinds == [Started, Routed, Retrieved, TokenDelta, SentenceChecked, AnswerDone]
    answer = events[-1].answer
    assert not answer.declined and answer.style == "extractive" and not fake.calls
    assert "90" in answer.text and "96" in answer.text and answer.text.endswith("[1]")
    assert events[3].text == answer.text  # the quote streams as the answer text
    (citation,) = answer.citations
    assert citation.sentence in answer.text and citation.supported
    assert citation.sentence in citation.passage.text  # the cited passage shows the quote
    assert answer.result is None and answer.timings["ttft_s"] <= answer.timings["total_s"]
    assert 0.0 <= answer.answerability <= 1.0


def test_auto_falls_back_to_the_quote_when_the_draft_is_unsupported(rag: Ragline):
    fake = scripted(
        rag,
        "Coffee was invented by astronauts on the Moon in 1850.",
        style="auto",
        min_answerability=0.0,
    )
    answer = rag.ask(COFFEE, collection="sample")
    assert fake.calls  # the model wrote first
    assert not answer.declined and answer.style == "extractive"
    assert "90" in answer.text and answer.draft.startswith("Coffee was invented")
    assert answer.result is not None  # the draft's usage is kept
    dropped = [s for s in answer.sentences if not s.kept]
    assert dropped and dropped[0].reason in ("unsupported", "off_topic")


def test_generative_still_declines_an_unsupported_draft(rag: Ragline):
    scripted(
        rag,
        "Coffee was invented by astronauts on the Moon in 1850.",
        style="generative",
        min_answerability=0.0,
    )
    answer = rag.ask(COFFEE, collection="sample")
    assert answer.declined and answer.decline_reason == "unsupported"
    assert answer.decline_detail and answer.answerability is not None


def test_style_per_call_overrides_the_setting(rag: Ragline):
    fake = scripted(rag, "never used", style="generative", min_answerability=0.0)
    answer = rag.ask(COFFEE, collection="sample", style="extractive")
    assert answer.style == "extractive" and not fake.calls
    with pytest.raises(ConfigError, match="unknown answer style"):
        rag.ask(COFFEE, collection="sample", style="poetic")


def test_low_answerability_declines_with_the_score_and_reason(rag: Ragline):
    fake = scripted(rag, "never used", style="extractive", min_answerability=1.0)
    answer = rag.ask(COFFEE, collection="sample")
    assert answer.declined and answer.decline_reason == "not_answerable" and not fake.calls
    assert answer.decline_detail.startswith("answerability ")
    out = answer.to_dict()
    assert out["decline_reason"] == "not_answerable" and out["answerability"] < 1.0
    assert out["decline_detail"] == answer.decline_detail


def test_auto_declines_an_unsupported_draft_when_the_passages_do_not_answer(rag: Ragline):
    fake = scripted(
        rag,
        "Coffee was invented by astronauts on the Moon in 1850.",
        style="auto",
        min_answerability=1.0,
    )
    answer = rag.ask(COFFEE, collection="sample")
    assert fake.calls and answer.declined and answer.decline_reason == "unsupported"
    assert answer.answerability is not None and answer.answerability < 1.0


def test_a_supported_draft_stays_generative_in_auto(rag: Ragline):
    scripted(
        rag,
        "The ideal brewing temperature is between 90 and 96 degrees Celsius.",
        style="auto",
        min_answerability=1.0,  # the checker's verdict wins over the score for a draft
    )
    answer = rag.ask(COFFEE, collection="sample")
    assert not answer.declined and answer.style == "generative"
    assert answer.text.startswith("The ideal brewing temperature") and answer.answerability


# --------------------------------------------------------------------------- bad input


def test_an_empty_question_is_an_invalid_query(rag: Ragline):
    for question in ("", "   \n"):
        with pytest.raises(InvalidQueryError, match="empty") as err:
            rag.ask(question, collection="sample")
        assert err.value.hint


def test_a_10000_character_question_is_refused_with_the_limit(rag: Ragline):
    with pytest.raises(InvalidQueryError, match="10,000 characters") as err:
        rag.ask("why " * 2500, collection="sample")
    assert "max_question_chars" in str(err.value) and err.value.hint


def test_a_question_in_another_language_gets_a_reason_not_silence(rag: Ragline):
    scripted(rag, "never used", style="extractive")
    answer = rag.ask("¿Cuál es la capital de Australia y cuántos habitantes tiene?",
                     collection="sample")  # fmt: skip
    assert answer.text.strip()
    assert answer.declined and answer.decline_reason in ("no_relevant_passages", "not_answerable")
    assert answer.decline_detail


def test_an_empty_collection_declines_saying_it_is_empty(rag: Ragline):
    answer = rag.ask("How hot is Venus?", collection="empty")
    assert answer.declined and answer.decline_reason == "no_relevant_passages"
    assert "empty" in answer.decline_detail and "ragline ingest" in answer.decline_detail


def test_a_missing_collection_is_an_error_with_a_hint(rag: Ragline):
    with pytest.raises(CollectionNotFoundError) as err:
        rag.ask("How hot is Venus?", collection="no-such-collection")
    assert "no-such-collection" in str(err.value)


# --------------------------------------------------------------------------- JSONL ids


def test_a_jsonl_citation_names_its_record_id(rag: Ragline):
    scripted(rag, "never used", style="extractive", min_answerability=0.0)
    answer = rag.ask("Who discovered the moons of Mars?", collection="planets")
    assert not answer.declined, answer.decline_detail
    (citation,) = answer.citations
    assert citation.passage.chunk.record_id == "rec-mars"
    assert citation.to_dict()["record_id"] == "rec-mars"
    assert answer.to_dict()["citations"][0]["record_id"] == "rec-mars"
    assert citation_item(citation.passage, True)["record_id"] == "rec-mars"
    assert "Asaph Hall" in answer.text
    assert answer.text.startswith("Asaph Hall")  # the span leads, then the quote
    assert quote(answer_reading_best(rag)).startswith("Asaph Hall")


def answer_reading_best(rag: Ragline):
    q = "Who discovered the moons of Mars?"
    ctx = rag.answerer.prepare(q, collection="planets").context
    return rag.answerer.reader.read(q, ctx.passages, ctx.question_vector).best


def test_a_file_citation_has_no_record_id(rag: Ragline):
    scripted(rag, "never used", style="extractive", min_answerability=0.0)
    answer = rag.ask(COFFEE, collection="sample")
    assert answer.citations[0].to_dict()["record_id"] is None
