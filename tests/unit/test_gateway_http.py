"""The OpenAI-compatible provider against ``httpx.MockTransport`` (no sockets)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragline.config import GatewaySettings, Settings
from ragline.errors import ModelTimeoutError, ModelUnavailableError
from ragline.models.chat import (
    MalformedResponseError,
    ProviderServerError,
    RequestRejectedError,
    SamplingParams,
    StreamDone,
    StreamInterruptedError,
    TokenDelta,
    collect_stream,
)
from ragline.models.gateway import Gateway
from ragline.models.openai_compat import OpenAICompatChatModel, parse_retry_after

SECRET = "sk-test-very-secret-0000"


def completion(text: str = "Hi there", **extra: Any) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, **extra}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13},
    }


def sse(*chunks: Any, done: bool = True) -> bytes:
    lines = [f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks]
    return ("".join(lines) + ("data: [DONE]\n\n" if done else "")).encode()


def delta(text: str | None = None, finish: str | None = None) -> dict[str, Any]:
    d = {"content": text} if text is not None else {}
    return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


class Recorder:
    """A MockTransport handler replaying canned responses and recording requests."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses[min(len(self.requests) - 1, len(self.responses) - 1)]
        if isinstance(item, Exception):
            raise item
        return item

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.requests[-1].content)


def model(recorder: Recorder, **kw: Any) -> OpenAICompatChatModel:
    return OpenAICompatChatModel(
        base_url="http://server.test/v1",
        model="m1",
        api_key=SECRET,
        transport=httpx.MockTransport(recorder),
        **kw,
    )


def test_request_body_headers_and_result() -> None:
    rec = Recorder(httpx.Response(200, json=completion(finish_reason="length")))
    m = model(rec, name="vllm:m1")
    params = SamplingParams(
        temperature=0.3, top_p=0.9, top_k=20, min_p=0.1, max_tokens=7, stop=("X",), seed=3
    )
    result = m.generate("Hello", params)
    req = rec.requests[0]
    assert str(req.url) == "http://server.test/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {SECRET}"
    assert rec.body == {
        "model": "m1",
        "messages": [{"role": "user", "content": "Hello"}],
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 7,
        "top_k": 20,
        "min_p": 0.1,
        "stop": ["X"],
        "seed": 3,
    }
    assert result.text == "Hi there" and result.model == "vllm:m1"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (11, 2)
    assert result.finish_reason == "length" and result.ttft_s is None and result.cost is None


def test_optional_sampling_knobs_are_omitted_and_logprobs_parsed() -> None:
    lp = {"content": [{"token": "Hi", "logprob": -0.2}, {"token": " there", "logprob": -0.4}]}
    rec = Recorder(httpx.Response(200, json=completion(logprobs=lp, finish_reason="stop")))
    result = model(rec).generate("Hello", logprobs=True)
    assert "top_k" not in rec.body and "min_p" not in rec.body and "seed" not in rec.body
    assert rec.body["logprobs"] is True
    assert result.logprob_mean == pytest.approx(-0.3)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("json_schema", {"type": "json_schema", "json_schema": {"name": "T", "schema": None}}),
        ("json_object", {"type": "json_object", "schema": None}),
        ("none", None),
    ],
)
def test_response_format_modes(mode: str, expected: dict[str, Any] | None) -> None:
    schema = {"title": "T", "type": "object", "properties": {"a": {"type": "integer"}}}
    rec = Recorder(httpx.Response(200, json=completion('{"a": 1}')))
    model(rec, structured_output=mode).generate("x", json_schema=schema)
    if expected is None:
        assert "response_format" not in rec.body
    elif mode == "json_schema":
        assert rec.body["response_format"]["json_schema"] == {"name": "T", "schema": schema}
    else:
        assert rec.body["response_format"] == {"type": "json_object", "schema": schema}


def test_api_key_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder(httpx.Response(401, json={"error": {"message": "invalid key"}}))
    m = model(rec)
    with pytest.raises(RequestRejectedError) as info:
        m.generate("x")
    assert info.value.status_code == 401 and "api_key" in (info.value.hint or "")
    shown = repr(m) + str(info.value) + repr(info.value.__dict__) + caplog.text + str(vars(m))
    assert SECRET not in shown
    assert "**********" in repr(m)


@pytest.mark.parametrize(
    ("response", "error", "status"),
    [
        (httpx.Response(500, json={"error": {"message": "oops"}}), ProviderServerError, 500),
        (httpx.Response(503, text="busy"), ProviderServerError, 503),
        (httpx.Response(408, text="slow"), ProviderServerError, 408),
        (httpx.Response(400, json={"detail": "bad"}), RequestRejectedError, 400),
        (httpx.Response(404, text="nope"), RequestRejectedError, 404),
        (httpx.Response(200, text="{not json"), MalformedResponseError, None),
        (httpx.Response(200, json={"foo": 1}), MalformedResponseError, None),
        (httpx.Response(200, json={"choices": [{"message": 3}]}), MalformedResponseError, None),
    ],
)
def test_error_mapping(
    response: httpx.Response, error: type[Exception], status: int | None
) -> None:
    with pytest.raises(error) as info:
        model(Recorder(response)).generate("x")
    assert getattr(info.value, "status_code", None) == status


def test_transport_errors_are_typed() -> None:
    req = httpx.Request("POST", "http://server.test")
    with pytest.raises(ModelUnavailableError, match="cannot reach"):
        model(Recorder(httpx.ConnectError("refused", request=req))).generate("x")
    with pytest.raises(ModelTimeoutError):
        model(Recorder(httpx.ReadTimeout("slow", request=req))).generate("x")
    with pytest.raises(StreamInterruptedError):
        list(model(Recorder(httpx.RemoteProtocolError("cut", request=req))).stream("x"))


def test_retry_after_header() -> None:
    rec = Recorder(httpx.Response(429, headers={"Retry-After": "7"}, text="slow down"))
    with pytest.raises(ProviderServerError) as info:
        model(rec).generate("x")
    assert info.value.retry_after == 7.0
    when = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 <= (parse_retry_after(format_datetime(when, usegmt=True)) or 0) <= 31
    assert parse_retry_after("garbage") is None and parse_retry_after(None) is None


def test_stream_parses_deltas_usage_and_logprobs() -> None:
    usage = {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}
    first = delta("Hel")
    first["choices"][0]["logprobs"] = {"content": [{"token": "Hel", "logprob": -1.0}]}
    body = sse(
        {"choices": [{"delta": {"role": "assistant"}}]},
        first,
        delta("lo"),
        delta("!"),
        delta(finish="stop"),
        usage,
    )
    rec = Recorder(httpx.Response(200, content=body, headers={"content-type": "text/event-stream"}))
    events = list(model(rec).stream("x"))
    assert [e.text for e in events if isinstance(e, TokenDelta)] == ["Hel", "lo", "!"]
    final = events[-1]
    assert isinstance(final, StreamDone)
    assert final.result.text == "Hello!" and final.result.usage.completion_tokens == 3
    assert not final.result.usage.estimated and final.result.logprob_mean == -1.0
    assert final.result.ttft_s is not None
    assert rec.body["stream"] is True and rec.body["stream_options"] == {"include_usage": True}


def test_stream_without_usage_is_estimated_and_cut_streams_fail() -> None:
    rec = Recorder(httpx.Response(200, content=sse(delta("a"), delta(" b"), delta(finish="stop"))))
    result = collect_stream(model(rec).stream("hello there"))
    assert result.usage.estimated and result.usage.completion_tokens == 2
    rec = Recorder(httpx.Response(200, content=sse(delta("a"), delta(" b"), done=False)))
    with pytest.raises(StreamInterruptedError, match="before the response was complete"):
        list(model(rec).stream("x"))
    rec = Recorder(httpx.Response(200, content=sse(delta("a"), '{"choices": [', done=False)))
    with pytest.raises(MalformedResponseError):
        list(model(rec).stream("x"))
    rec = Recorder(httpx.Response(500, text="down"))
    with pytest.raises(ProviderServerError):
        list(model(rec).stream("x"))


def test_stream_deadline_counts_from_the_request_and_the_timeout_is_sent() -> None:
    """A stream past the call's ``timeout_s`` fails (here: a slow reader), sync and async."""
    body = sse(delta("a"), delta(" b"), delta(finish="stop"))
    rec = Recorder(*(httpx.Response(200, content=body) for _ in range(3)))
    m = model(rec, timeout_s=60.0)
    events = m.stream("x", timeout_s=0.05)
    assert isinstance(next(events), TokenDelta)
    time.sleep(0.06)
    with pytest.raises(ModelTimeoutError, match=r"no complete answer within 0\.05 s"):
        list(events)
    assert rec.requests[-1].extensions["timeout"] == {
        "connect": 0.05,
        "read": 0.05,
        "write": 0.05,
        "pool": 0.05,
    }

    async def slow_reader() -> None:
        stream = m.astream("x", timeout_s=0.05)
        await anext(stream)
        await asyncio.sleep(0.06)
        async for _ in stream:
            pass

    with pytest.raises(ModelTimeoutError):
        asyncio.run(slow_reader())
    assert collect_stream(m.stream("x")).text == "a b"
    assert rec.requests[-1].extensions["timeout"]["read"] == 60.0
    assert rec.requests[-1].extensions["timeout"]["connect"] == 10.0


def test_async_paths() -> None:
    rec = Recorder(
        httpx.Response(200, json=completion("async")),
        httpx.Response(200, content=sse(delta("x"), delta("y"), delta(finish="stop"))),
    )
    m = model(rec)

    async def run() -> tuple[Any, list[Any]]:
        r = await m.agenerate("a")
        events = [e async for e in m.astream("b")]
        return r, events

    result, events = asyncio.run(run())
    assert result.text == "async" and events[-1].result.text == "xy"
    assert rec.requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_gateway_retries_http_500_and_429_then_succeeds(tmp_path: Path) -> None:
    rec = Recorder(
        httpx.Response(500, text="x"),
        httpx.Response(429, headers={"Retry-After": "2"}, text="x"),
        httpx.Response(200, json=completion("finally")),
    )
    delays: list[float] = []
    settings = Settings(
        home=tmp_path,
        gateway=GatewaySettings(
            default_model="srv:m1",
            endpoints={"srv": {"base_url": "http://server.test/v1", "api_key": SECRET}},
        ),
    )
    gw = Gateway(
        settings, transport=httpx.MockTransport(rec), sleep=delays.append, rng=random.Random(0)
    )
    result = gw.generate("x")
    assert result.text == "finally" and len(rec.requests) == 3
    assert [a.status_code for a in result.attempts] == [500, 429, None]
    assert len(delays) == 2 and delays[1] >= 2.0
    assert SECRET not in repr(result) and SECRET not in json.dumps(result.to_dict())
