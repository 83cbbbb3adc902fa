"""The grounding check of a model's calls: a required value the conversation does not contain
is named, the forms a request says values in are accepted, and ``function_calls`` withholds
a call with a made-up value (only with ``tool_choice`` auto on local models, and only when
``tools.grounded_calls`` is on)."""

from __future__ import annotations

import pytest

from ragline.agent.calling import call_functions, function_calls
from ragline.agent.grounding import RequestText, contained, ungrounded
from ragline.config import load_settings
from ragline.testing.chat_conformance import FakeChatModel


def _params(**props: dict) -> dict:
    return {"type": "object", "properties": props, "required": list(props)}


MUSEUM = {
    "name": "most_frequent_visitor",
    "description": "The most frequent visitor of a museum over a period.",
    "parameters": _params(
        museum_name={"type": "string"},
        start_date={"type": "string", "description": "YYYY-MM-DD"},
        end_date={"type": "string", "description": "YYYY-MM-DD"},
    ),
}


@pytest.mark.parametrize(
    ("request_text", "value"),
    [
        ("Find the area of a triangle with a base of 10 units", 10),
        ("an annual interest rate of 5%", 0.05),
        ("a population of 213 million", 213_000_000),
        ("revenues of $1.2M in 2020", 1_200_000),
        ("a capacitance of 100µF", 0.0001),
        ("the electrostatic potential of charges 1e-9 and 2e-9", 2e-9),
        ("the factorial of 5,10 and 15", 10),
        ("Could you initiate a ninety dollar transaction?", 90),
        ("the host count for February 2022", 2),
        ("Any number of flags", 1),  # 0 and 1: defaults and flags
        ("the weather in Lisbon, Portugal", "Lisbon"),
        ("a 4 star hotel in LA", "Los Angeles, CA"),
        ("the price of Apple on NYSE", "AAPL"),  # a code: inferred, not invented
        ("a flight on the 16th of March 2024", "16/03/2024"),
        ("book it for March 14th", "2023-03-14"),
        ("a table this Friday at 8 in the evening", "2023-10-06"),
        ("pick it up at 2pm", "14:00"),
        ("play any song", "any"),
        ("sort the people by age", ["name", "age"]),  # one item of a list is enough
        ("Tell me about the Persian Empire", {"name": "Persian Empire", "era": "ancient"}),
    ],
)
def test_values_said_in_other_forms_are_contained(request_text, value):
    assert contained(value, RequestText.of(request_text))


@pytest.mark.parametrize(
    ("request_text", "value"),
    [
        ("How frequent do members visit the Museum of Modern Art?", "2022-12-31"),
        ("How to increase the population of deer in a forest?", 0.05),
        ("What's the lowest score in the Flappy Bird game?", "Mobile"),
        ("Who is the top scorer for Los Angeles Lakers?", ["roster", "results"]),
        ("Find a hotel in Paris", 250),
        ("What time does it open?", "09:30"),
    ],
)
def test_made_up_values_are_not_contained(request_text, value):
    assert not contained(value, RequestText.of(request_text))


def test_ungrounded_names_required_parameters_only_and_skips_enums():
    params = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
            "detail": {"type": "string"},
        },
        "required": ["city", "unit", "days"],
    }
    args = {"city": "Oslo", "unit": "fahrenheit", "days": 7, "detail": "hourly"}
    # unit: an enum; detail: not required; days: not said
    assert ungrounded(args, params, "Is it raining in Oslo?") == ["days"]
    assert ungrounded(args, params, "Oslo's weather for the next 7 days") == []
    assert ungrounded({"unit": "celsius"}, params, "weather") == []  # left out: not checked


def test_a_request_outside_the_latin_alphabet_is_not_checked():
    params = _params(location={"type": "string"})
    assert ungrounded({"location": "Shanghai, China"}, params, "上海目前的天气状况如何？") == []
    assert ungrounded({"location": "Shanghai, China"}, params, "Is it hot today?") == ["location"]


def test_function_calls_withhold_a_call_with_made_up_values():
    reply = (
        '{"calls": [{"name": "most_frequent_visitor", "arguments": {"museum_name": '
        '"Museum of Modern Art", "start_date": "2022-12-31", "end_date": "2023-12-31"}}]}'
    )
    settings = load_settings(tools={"relevance_gate": False})
    request = "How frequent do members visit the Museum of Modern Art?"
    out = function_calls(FakeChatModel([reply]), request, [MUSEUM], settings=settings)
    assert out.calls == [] and out.via == "grounding"
    ((call, missing),) = out.withheld
    assert call.name == "most_frequent_visitor" and missing == ("start_date", "end_date")
    assert out.to_dict()["withheld"][0]["ungrounded"] == ["start_date", "end_date"]
    # the same reply when the request gives the period: the call stands
    said = request + " Count from 2022-12-31 to 2023-12-31."
    out = function_calls(FakeChatModel([reply]), said, [MUSEUM], settings=settings)
    assert [c.name for c in out.calls] == ["most_frequent_visitor"] and out.via == "grammar"
    assert out.withheld == ()


def test_only_the_ungrounded_call_of_several_is_withheld():
    reply = (
        '{"calls": [{"name": "most_frequent_visitor", "arguments": {"museum_name": "Louvre", '
        '"start_date": "2024-01-01", "end_date": "2024-01-31"}}, '
        '{"name": "most_frequent_visitor", "arguments": {"museum_name": "Prado", '
        '"start_date": "2021-05-01", "end_date": "2021-05-31"}}]}'
    )
    settings = load_settings(tools={"relevance_gate": False})
    request = "Who visited the Louvre most from January 1st to January 31st 2024, and the Prado?"
    out = function_calls(FakeChatModel([reply]), request, [MUSEUM], settings=settings)
    assert [c.arguments["museum_name"] for c in out.calls] == ["Louvre"]
    assert out.via == "grammar" and [w[0].arguments["museum_name"] for w in out.withheld] == [
        "Prado"
    ]


def test_a_value_from_an_earlier_turn_counts():
    reply = (
        '{"calls": [{"name": "most_frequent_visitor", "arguments": {"museum_name": "Tate", '
        '"start_date": "2024-03-01", "end_date": "2024-03-31"}}]}'
    )
    settings = load_settings(tools={"relevance_gate": False})
    messages = [
        {"role": "user", "content": "I care about March 2024, from the 1st to the 31st."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Who visited the Tate most often?"},
    ]
    out = function_calls(FakeChatModel([reply]), messages, [MUSEUM], settings=settings)
    assert len(out.calls) == 1


def test_the_setting_and_a_required_call_turn_the_check_off():
    reply = (
        '{"calls": [{"name": "most_frequent_visitor", "arguments": {"museum_name": "Tate", '
        '"start_date": "2020-01-01", "end_date": "2020-12-31"}}]}'
    )
    request = "Who visits the Tate most?"
    off = load_settings(tools={"relevance_gate": False, "grounded_calls": False})
    assert len(function_calls(FakeChatModel([reply]), request, [MUSEUM], settings=off).calls) == 1
    on = load_settings(tools={"relevance_gate": False})
    calls = call_functions(
        FakeChatModel([reply]), request, [MUSEUM], settings=on, tool_choice="required"
    )
    assert len(calls) == 1  # the caller asked for a call: it gets the model's
