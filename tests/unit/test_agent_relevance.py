"""The tool-relevance gate with the real embedded MiniLM and the shipped weights: a request
no tool fits gets no call and the model is never asked; a fitting one reaches the model;
``tool_choice`` other than auto, the setting, and another embedder turn the gate off."""

from __future__ import annotations

import numpy as np
import pytest

from ragline.agent.calling import call_functions, function_calls
from ragline.agent.relevance import (
    FEATURES,
    ToolRelevance,
    embedder_id,
    gate_for,
    shipped_model,
    tool_texts,
    words,
)
from ragline.config import load_settings
from ragline.testing.chat_conformance import FakeChatModel

WEATHER = {
    "name": "get_current_weather",
    "description": "Get the current weather (temperature, rain, wind) in a given city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city, e.g. Paris"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
}
TRIANGLE = {
    "name": "geometry.triangle_area",
    "description": "Calculate the area of a triangle from its base and height.",
    "parameters": {
        "type": "object",
        "properties": {
            "base": {"type": "number", "description": "The base of the triangle."},
            "height": {"type": "number", "description": "The height of the triangle."},
        },
        "required": ["base", "height"],
    },
}
FITS = [
    ("What is the weather like in Lisbon right now?", [WEATHER]),
    ("Find the area of a triangle with base 10 and height 5.", [TRIANGLE]),
    ("Compute the area of a triangle whose base is 3 m and height 4 m.", [WEATHER, TRIANGLE]),
]
NO_FIT = [
    ("Who wrote the novel Pride and Prejudice?", [WEATHER]),
    ("Translate 'good morning' into Japanese.", [TRIANGLE]),
    ("What is the capital of Australia?", [TRIANGLE]),
    ("Recommend a good recipe for banana bread.", [WEATHER, TRIANGLE]),
]


@pytest.fixture(scope="module")
def gate() -> ToolRelevance:
    g = gate_for(load_settings())
    assert g is not None  # the default embedder is the one the weights were fitted with
    return g


def test_the_shipped_weights_load_and_match_the_features():
    model = shipped_model()
    assert len(model.weights) == len(FEATURES)
    assert 0.0 < model.threshold < 1.0
    assert model.embedder == embedder_id(load_settings())
    assert model.meta["fitted_on"]["irrelevant"] > 0  # written by train_tool_relevance.py


def test_words_split_names_and_drop_stop_words():
    assert words("getCellType") == {"get", "cell", "type"}
    assert words("the cities of Spain") == {"cit", "spain"}  # the crude stemmer's work
    assert "the" not in words("The weather")


def test_tool_texts_read_tools_and_function_documents():
    doc, name, params = tool_texts(TRIANGLE)
    assert doc.startswith("geometry triangle area: Calculate the area")
    assert name == "geometry triangle area"
    assert "base: The base of the triangle." in params
    bare = tool_texts({"name": "ping", "description": "", "parameters": {}})
    assert bare[2] == "ping"  # no parameters: the name stands in


@pytest.mark.parametrize(("request_text", "tools"), FITS)
def test_a_fitting_tool_scores_over_the_threshold(gate, request_text, tools):
    assert gate.probability(request_text, tools) >= gate.model.threshold


@pytest.mark.parametrize(("request_text", "tools"), NO_FIT)
def test_no_fitting_tool_scores_under_the_threshold(gate, request_text, tools):
    assert gate.probability(request_text, tools) < gate.model.threshold


def test_features_are_those_of_the_best_tool(gate):
    f = gate.features("Find the area of a triangle with base 10 and height 5.", [WEATHER, TRIANGLE])
    assert f.shape == (len(FEATURES),)
    assert f[FEATURES.index("name_words_in_request")] == pytest.approx(2 / 3)  # triangle, area
    assert np.all(gate.features("anything", []) == 0)


def test_function_calls_abstain_without_asking_the_model(gate):
    model = FakeChatModel(['{"calls": [{"name": "get_current_weather", "arguments": {}}]}'])
    out = function_calls(model, NO_FIT[0][0], [WEATHER])
    assert out.calls == [] and out.via == "gate"
    assert out.relevance is not None and out.relevance < gate.model.threshold
    assert model.calls == []  # the model was never asked
    assert out.to_dict()["relevance"] == round(out.relevance, 4)


def test_a_fitting_request_reaches_the_model_with_its_score(gate):
    reply = '{"calls": [{"name": "get_current_weather", "arguments": {"city": "Lisbon"}}]}'
    model = FakeChatModel([reply])
    out = function_calls(model, FITS[0][0], [WEATHER])
    assert [c.arguments for c in out.calls] == [{"city": "Lisbon"}]
    assert out.via == "grammar" and out.relevance >= gate.model.threshold
    assert len(model.calls) == 1


@pytest.mark.parametrize("choice", ["required", "get_current_weather"])
def test_a_required_or_named_tool_is_never_gated(choice):
    reply = '{"calls": [{"name": "get_current_weather", "arguments": {"city": "Bath"}}]}'
    model = FakeChatModel([reply])
    calls = call_functions(model, NO_FIT[0][0], [WEATHER], tool_choice=choice)
    assert [c.name for c in calls] == ["get_current_weather"]


def test_the_setting_and_the_threshold_control_the_gate():
    reply = '{"calls": []}'
    off = load_settings(tools={"relevance_gate": False})
    assert gate_for(off) is None
    model = FakeChatModel([reply])
    out = function_calls(model, NO_FIT[0][0], [WEATHER], settings=off)
    assert out.via == "grammar" and out.relevance is None and len(model.calls) == 1
    # threshold 0: every request passes; 1: none does
    model = FakeChatModel([reply])
    low = load_settings(tools={"relevance_threshold": 0.0})
    assert function_calls(model, NO_FIT[0][0], [WEATHER], settings=low).via == "grammar"
    high = load_settings(tools={"relevance_threshold": 1.0})
    assert function_calls(FakeChatModel([reply]), FITS[0][0], [WEATHER], settings=high).via == (
        "gate"
    )


def test_another_embedder_turns_the_gate_off(tmp_path):
    other = load_settings(embedder={"model_path": tmp_path / "tuned.onnx"})
    assert gate_for(other) is None  # the weights were fitted on the default's vectors
