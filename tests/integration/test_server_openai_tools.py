"""``/v1/chat/completions`` with ``tools``: the official ``openai`` client against a real
uvicorn server and the real SmolLM2 model, whose calls a grammar of the tools constrains."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from conftest import require_smollm2
from ragline.testing.live_server import LiveServer, running_server, server_settings

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.integration
require_smollm2()

FACTORIAL = {
    "type": "function",
    "function": {
        "name": "factorial",
        "description": "Factorial of a non-negative integer.",
        "parameters": {
            "type": "object",
            "properties": {"n": {"type": "integer", "description": "the number"}},
            "required": ["n"],
        },
    },
}
ASK = [{"role": "user", "content": "Compute the factorial of 7."}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("tools-home")
    settings = server_settings(home, gateway={"temperature": 0.0}, guard={"enabled": False})
    with running_server(settings) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def test_tool_calls_in_openai_format(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="embedded", messages=ASK, tools=[FACTORIAL])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "factorial" and json.loads(call.function.arguments) == {"n": 7}
    assert completion.usage.completion_tokens > 0


def test_tool_calls_streamed(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="embedded",
        messages=ASK,
        tools=[FACTORIAL],
        tool_choice={"type": "function", "function": {"name": "factorial"}},
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    calls = [tc for d in deltas for tc in (d.tool_calls or [])]
    assert [(c.index, c.function.name) for c in calls] == [(0, "factorial")]
    assert json.loads(calls[0].function.arguments) == {"n": 7}
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["tool_calls"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_a_tool_result_is_answered_in_text(client: openai.OpenAI) -> None:
    convo = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "factorial", "arguments": '{"n": 7}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "5040"},
    ]
    completion = client.chat.completions.create(
        model="embedded", messages=convo, tools=[FACTORIAL], tool_choice="none", max_tokens=8
    )
    choice = completion.choices[0]
    assert choice.message.tool_calls is None and choice.message.content
    assert choice.finish_reason in ("stop", "length")


def test_bad_tools_are_client_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="not one of the tools"):
        client.chat.completions.create(
            model="embedded",
            messages=ASK,
            tools=[FACTORIAL],
            tool_choice={"type": "function", "function": {"name": "rm_rf"}},
        )
    broken = {"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}
    with pytest.raises(openai.BadRequestError, match="object schema"):
        client.chat.completions.create(model="embedded", messages=ASK, tools=[broken])
