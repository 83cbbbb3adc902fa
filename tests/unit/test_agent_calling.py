"""Function calling without a real model: the calls schema and its grammar, validation of
every call, tool_choice, re-asks, and the OpenAI tools API on the wire (a mock transport)."""

from __future__ import annotations

import json

import httpx
import pytest

from ragline.agent.calling import (
    allowed_tools,
    call_functions,
    check_calls,
    function_calls,
    tool_definitions,
)
from ragline.config import load_settings
from ragline.errors import ConfigError, StructuredOutputError
from ragline.models.gateway import Gateway
from ragline.models.openai_compat import _Accumulator
from ragline.models.structured import function_calls_schema
from ragline.testing.chat_conformance import FakeChatModel
from ragline.types import ToolCall

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {  # BFCL's form: the inner object, "dict" and Python type names, a dotted name
        "name": "math.factorial",
        "description": "Factorial of n.",
        "parameters": {
            "type": "dict",
            "properties": {"n": {"type": "integer", "minimum": 0}},
            "required": ["n"],
        },
    },
]


def test_tool_definitions_are_normalised_and_checked():
    tools = tool_definitions(TOOLS)
    assert [t.name for t in tools] == ["get_weather", "math.factorial"]
    assert tools[1].parameters["type"] == "object"
    with pytest.raises(ConfigError, match="two tools are named"):
        tool_definitions([TOOLS[0], TOOLS[0]])
    with pytest.raises(ConfigError, match="not a JSON object"):
        tool_definitions(["get_weather"])  # type: ignore[list-item]


def test_calls_schema_is_an_anyof_of_the_tools_and_a_llama_grammar():
    tools = tool_definitions(TOOLS)
    schema = function_calls_schema([(t.name, t.parameters) for t in tools], max_calls=4)
    calls = schema["properties"]["calls"]
    assert calls["maxItems"] == 4 and "minItems" not in calls  # [] means "no tool fits"
    variants = calls["items"]["anyOf"]
    assert [v["properties"]["name"] for v in variants] == [
        {"const": "get_weather"},
        {"const": "math.factorial"},
    ]
    assert variants[0]["properties"]["arguments"]["additionalProperties"] is False
    required = function_calls_schema([("a", {"type": "object"})], required=True)
    assert required["properties"]["calls"]["minItems"] == 1
    assert function_calls_schema([])["properties"]["calls"]["maxItems"] == 0
    llama_cpp = pytest.importorskip("llama_cpp")
    grammar = llama_cpp.LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    assert grammar is not None
    # BFCL's "type": "any" leaves a description alone, which llama.cpp refuses: any value
    (untyped,) = tool_definitions(
        [
            {
                "name": "fit",
                "parameters": {
                    "type": "dict",
                    "properties": {"data": {"type": "any", "description": "training data"}},
                },
            }
        ]
    )
    loose = function_calls_schema([(untyped.name, untyped.parameters)])
    assert (
        loose["properties"]["calls"]["items"]["anyOf"][0]["properties"]["arguments"]["properties"][
            "data"
        ]
        == {}
    )
    llama_cpp.LlamaGrammar.from_json_schema(json.dumps(loose), verbose=False)


def test_every_call_is_validated_and_a_repeat_kept_once():
    by_name = {t.name: t for t in tool_definitions(TOOLS)}
    ok = {"calls": [{"name": "math.factorial", "arguments": {"n": 5}}] * 2}
    assert check_calls(ok, by_name) == [ToolCall("math.factorial", {"n": 5})]
    assert check_calls({"calls": []}, by_name) == []
    for bad, why in [
        ({"calls": [{"name": "rm_rf", "arguments": {}}]}, "no such function"),
        ({"calls": [{"name": "math.factorial", "arguments": {"n": -1}}]}, "minimum of 0"),
        ({"calls": [{"name": "get_weather", "arguments": {"unit": "kelvin"}}]}, "city"),
        ({"calls": [{"name": "get_weather", "arguments": "Lyon"}]}, "JSON object"),
        ({"answer": "hi"}, '{"calls"'),
    ]:
        with pytest.raises(ValueError, match=why):
            check_calls(bad, by_name)


def test_tool_choice():
    tools = tool_definitions(TOOLS)
    assert allowed_tools("auto", tools) == (tools, False)
    assert allowed_tools("none", tools) == ([], False)
    assert allowed_tools("required", tools) == (tools, True)
    named = {"type": "function", "function": {"name": "math.factorial"}}
    assert allowed_tools(named, tools) == ([tools[1]], True)
    with pytest.raises(ConfigError, match="not one of the tools"):
        allowed_tools("send_mail", tools)


def test_grammar_path_asks_with_the_schema_and_re_asks_an_invalid_reply():
    replies = [
        '{"calls": [{"name": "math.factorial", "arguments": {"n": "seven"}}]}',
        '{"calls": [{"name": "math.factorial", "arguments": {"n": 7}}]}',
    ]
    model = FakeChatModel(replies)
    settings = load_settings()
    out = function_calls(model, "Factorial of 7?", TOOLS, settings=settings)
    assert out.calls == [ToolCall("math.factorial", {"n": 7})] and out.via == "grammar"
    assert len(out.attempts) == 2 and "n:" in (out.attempts[0].error or "")
    (messages, params), _ = model.calls
    assert params.json_schema is not None and params.temperature == 0.0
    assert messages[0]["role"] == "system" and '"name": "math.factorial"' in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content": "Factorial of 7?"}
    # none: no model call at all
    assert call_functions(model, "hi", TOOLS, settings=settings, tool_choice="none") == []
    assert len(model.calls) == 2


def test_a_model_that_never_validates_ends_in_a_clear_error():
    model = FakeChatModel(['{"calls": [{"name": "drop_tables", "arguments": {}}]}'])
    with pytest.raises(StructuredOutputError, match="no such function") as err:
        call_functions(model, "x", TOOLS, settings=load_settings())
    assert len(err.value.attempts) == 1 + load_settings().tools.call_max_reasks


def test_the_request_may_be_a_conversation_with_its_own_system_text():
    model = FakeChatModel(['{"calls": []}'])
    convo = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": '{"calls": [{"name": "get_weather"}]}'},
        {"role": "user", "content": "Result of get_weather: 3 C"},
    ]
    assert call_functions(model, convo, TOOLS, settings=load_settings()) == []
    ((messages, _),) = model.calls
    assert messages[0]["content"].endswith("Be brief.")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    with pytest.raises(ConfigError, match="end with a user message"):
        call_functions(model, convo[:3], TOOLS, settings=load_settings())


def _openai_gateway(handler) -> Gateway:
    settings = load_settings(
        gateway={
            "endpoints": {"srv": {"base_url": "http://srv.test/v1", "api_key_env": None}},
            "max_retries": 0,
        }
    )
    return Gateway(settings, transport=httpx.MockTransport(handler))


def _completion(tool_calls: list[dict], content: str | None = None) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "tool_calls": tool_calls},
                "finish_reason": "tool_calls" if tool_calls else "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def test_openai_compatible_servers_get_the_tools_api_and_names_are_mapped_back():
    bodies: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        args = '{"n": -3}' if len(bodies) == 1 else '{"n": 7}'  # an invalid one is re-asked
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "math_factorial", "arguments": args},
        }
        return httpx.Response(200, json=_completion([call]))

    with _openai_gateway(handler) as gw:
        out = function_calls(
            "srv:m",
            "Factorial of 7",
            TOOLS,
            settings=gw.settings,
            gateway=gw,
            tool_choice="required",
            parallel=False,
        )
    assert out.via == "tools_api"
    assert out.calls == [ToolCall("math.factorial", {"n": 7}, id="call_1")]
    first = bodies[0]
    assert [t["function"]["name"] for t in first["tools"]] == ["get_weather", "math_factorial"]
    assert first["tool_choice"] == "required" and first["parallel_tool_calls"] is False
    assert "response_format" not in first
    assert "minimum of 0" in bodies[1]["messages"][-1]["content"]


def test_a_text_reply_of_the_tools_api_is_no_call():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=_completion([], content="I cannot help with that."))

    with _openai_gateway(handler) as gw:
        out = function_calls("srv:m", "Sing", TOOLS, settings=gw.settings, gateway=gw)
    assert out.calls == [] and out.result is not None
    assert out.result.text == "I cannot help with that."


def test_streamed_tool_call_pieces_are_joined():
    acc = _Accumulator("m", [{"role": "user", "content": "x"}], 0.0, 60.0)
    pieces = [
        {"index": 0, "id": "call_a", "function": {"name": "get_weather", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"city": "Ly'}},
        {"index": 1, "id": "call_b", "function": {"name": "math.factorial", "arguments": "{"}},
        {"index": 0, "function": {"arguments": 'on"}'}},
        {"index": 1, "function": {"arguments": '"n": 3}'}},
    ]
    for piece in pieces:
        acc.chunk({"choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]})
    acc.chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    result = acc.result()
    assert result.tool_calls == (
        ToolCall("get_weather", {"city": "Lyon"}, id="call_a"),
        ToolCall("math.factorial", {"n": 3}, id="call_b"),
    )
    assert result.finish_reason == "tool_calls"


def test_the_grammar_writes_properties_in_the_schema_order():
    """llama.cpp's converter sorts properties by name unless told an order: the schema's
    order (a reason before the calls; a call's arguments, which pick the tool, before its
    name) is what the model writes."""
    pytest.importorskip("llama_cpp")
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from ragline.models.llamacpp import _property_order

    tools = tool_definitions(TOOLS)
    schema = function_calls_schema([(t.name, t.parameters) for t in tools], reason_chars=80)
    assert list(schema["properties"]) == ["reason", "calls"]
    order = _property_order(schema)
    assert order[:4] == ["reason", "calls", "arguments", "name"]
    gbnf = json_schema_to_gbnf(json.dumps(schema), prop_order=order)
    root = next(line for line in gbnf.splitlines() if line.startswith("root ::="))
    assert root.index("reason") < root.index("calls")
    item = next(line for line in gbnf.splitlines() if line.startswith("calls-item-0 ::="))
    assert item.index("arguments-kv") < item.index("name-kv")


def test_a_reason_is_asked_for_only_when_set():
    model = FakeChatModel(['{"reason": "none fits", "calls": []}'])
    # the relevance gate off: "Sing" fits none of the tools, and the prompt is what is tested
    settings = load_settings(tools={"call_reason_chars": 120, "relevance_gate": False})
    assert call_functions(model, "Sing", TOOLS, settings=settings) == []
    ((messages, params),) = model.calls
    assert '"reason"' in messages[0]["content"]
    assert params.json_schema["properties"]["reason"]["maxLength"] == 120
    plain = FakeChatModel(['{"calls": []}'])
    call_functions(plain, "Sing", TOOLS, settings=load_settings(tools={"relevance_gate": False}))
    ((messages, params),) = plain.calls
    assert (
        '"reason"' not in messages[0]["content"]
        and "reason" not in params.json_schema["properties"]
    )


def test_a_reply_cut_by_max_tokens_keeps_its_whole_calls():
    from ragline.agent.calling import complete_calls

    cut = '{"calls": [ {"arguments": {"n": 7}, "name": "math.factorial"}, {"arguments": {"n": 1'
    assert json.loads(complete_calls(cut)) == {
        "calls": [{"arguments": {"n": 7}, "name": "math.factorial"}]
    }
    assert complete_calls('{"calls": [ {"arguments": {"city": "To') == '{"calls": []}'
    assert complete_calls('{"calls": []}') == '{"calls": []}'

    class Cut(FakeChatModel):
        def generate(self, messages, params=None, **overrides):
            result = super().generate(messages, params, **overrides)
            return result.replace(finish_reason="length")

    out = function_calls(Cut([cut]), "Factorial of 7", TOOLS, settings=load_settings())
    assert out.calls == [ToolCall("math.factorial", {"n": 7})] and len(out.attempts) == 1
