"""Sync and async twins are thin drivers of one sans-I/O core.

The decisions (retry or not, wait how long, fall back, raise after output, re-ask, when a
stream is over, what a span records) live once, in cores that do no I/O: the gateway's
``_ChainRun``, the structured re-ask loop ``StructuredLoop.steps``, the OpenAI-compatible
accumulator, the generation tracer's ``_StreamTimer``. The ``x`` / ``ax`` methods only do
the I/O (``for`` / ``async for``, ``sleep`` / ``await asleep``, ``with`` / ``async with``).

Here: the cores driven by hand, the sync and async drivers giving the same events,
attempts and waits on the same fault-injected fakes, and a check that no twin pair holds
the same logic twice again.
"""

from __future__ import annotations

import ast
import asyncio
import io
import json
import keyword
import random
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from ragline.config import GatewaySettings, Settings, TraceSettings
from ragline.errors import (
    ModelError,
    ModelTimeoutError,
    ModelUnavailableError,
    RaglineError,
    StructuredOutputError,
)
from ragline.models import chat
from ragline.models.chat import (
    ChatResult,
    SamplingParams,
    StreamDone,
    StreamInterruptedError,
    TokenDelta,
    Usage,
)
from ragline.models.gateway import Gateway
from ragline.models.openai_compat import OpenAICompatChatModel
from ragline.models.structured import StructuredLoop, adrive, drive
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.trace_conformance import ListSink
from ragline.trace import Tracer
from ragline.trace.genai import atrace_stream, trace_stream

SRC = Path(__file__).resolve().parents[2] / "src" / "ragline"

# --------------------------------------------------------------------------- no logic twice

#: What the ``duplicates`` command reports: a run of this many lines of the same shape.
DUPLICATE_RUN = 6


def _shape(line: str) -> str:
    """A line with names, strings and numbers blanked; keywords (``async``, ``await``) kept."""
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(line).readline):
        if tok.type == tokenize.NAME:
            out.append(tok.string if keyword.iskeyword(tok.string) else "N")
        elif tok.type in (tokenize.STRING, tokenize.NUMBER):
            out.append("V")
        elif tok.type == tokenize.OP:
            out.append(tok.string)
    return " ".join(out)


def _body_shape(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    body = fn.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    lines = [line.strip() for stmt in body for line in ast.unparse(stmt).splitlines()]
    return [_shape(line) for line in lines if line]


def _longest_shared_run(a: list[str], b: list[str]) -> int:
    best, previous = 0, [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def _twins() -> Iterator[tuple[str, ast.AST, ast.AST]]:
    """``(where, x, ax)``: functions of one module or class whose names differ by an ``a``
    that starts a word (``stream``/``astream``, ``_call``/``_acall``, ``drive``/``adrive``)."""
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef))]:
            fns = {
                n.name: n
                for n in scope.body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            for name, fn in fns.items():
                for i, c in enumerate(name):
                    sync = name[:i] + name[i + 1 :]
                    if c == "a" and (i == 0 or name[i - 1] == "_") and sync in fns:
                        where = f"{path.relative_to(SRC).as_posix()}:{getattr(scope, 'name', '')}"
                        yield where, fns[sync], fn


def test_no_sync_async_twin_holds_the_same_logic_twice():
    runs = {
        f"{where}.{x.name}/{ax.name}": _longest_shared_run(_body_shape(x), _body_shape(ax))  # type: ignore[arg-type]
        for where, x, ax in _twins()
    }
    # the check sees the twins it is about
    for pair in (
        "models/gateway.py:Gateway.stream/astream",
        "models/gateway.py:Gateway._call/_acall",
        "models/openai_compat.py:OpenAICompatChatModel.stream/astream",
        "models/openai_compat.py:OpenAICompatChatModel.generate/agenerate",
        "models/structured.py:.generate_structured/agenerate_structured",
        "models/structured.py:.drive/adrive",
        "trace/genai.py:.trace_stream/atrace_stream",
        "trace/genai.py:.traced_generate/traced_agenerate",
    ):
        assert pair in runs
    assert {pair: n for pair, n in runs.items() if n >= DUPLICATE_RUN} == {}


def test_the_check_catches_a_twin_that_repeats_its_logic():
    sync = """
def stream(self, msgs):
    for m in self.tries():
        emitted = False
        try:
            for event in m.stream(msgs):
                if isinstance(event, StreamDone):
                    yield StreamDone(self.succeeded(event.result))
                    return
                emitted = True
                yield event
            raise self.cut_short()
        except FAILURES as exc:
            if emitted:
                raise
"""
    twin = sync.replace("def stream", "async def astream").replace("for event", "async for event")
    (x,), (ax,) = ast.parse(sync).body, ast.parse(twin).body
    assert _longest_shared_run(_body_shape(x), _body_shape(ax)) >= DUPLICATE_RUN  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the gateway


class Scripted(FakeChatModel):
    """A fake whose calls follow a script, one step a call: an exception (raised before any
    text), ``"cut"`` (one token, then the connection breaks), ``"silent"`` (the stream ends
    with neither text nor result), ``"ok"`` (the reply). Past the script: ``"ok"``."""

    def __init__(self, name: str, *script: BaseException | str) -> None:
        super().__init__([f"{name} says one two three"], name=name)
        self.script = list(script)

    def _run(self, messages: Any, params: SamplingParams | None, overrides: Any) -> Iterator[Any]:
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, BaseException):
            raise step
        if step == "silent":
            return
        events = super()._run(messages, params, overrides)
        if step == "cut":
            yield next(events)
            raise StreamInterruptedError(f"{self.name}: the connection broke")
        yield from events


SCENARIOS: dict[str, tuple[dict[str, tuple[BaseException | str, ...]], int]] = {
    # name: ({model: script}, gateway.max_retries); the chain is a, then b when given
    "retried then answered": (
        {"a": (chat.ProviderServerError("busy", status_code=503), ModelTimeoutError("slow"))},
        2,
    ),
    "retries run out, b answers": ({"a": (ModelUnavailableError("down"),) * 3, "b": ()}, 2),
    "a stream without its end is retried": ({"a": ("silent", "silent"), "b": ()}, 1),
    "not transient: straight to b": ({"a": (chat.RequestRejectedError("no"),), "b": ()}, 2),
    "a long Retry-After skips a retry": (
        {"a": (chat.ProviderServerError("wait", retry_after=99),), "b": ("silent",) * 3},
        2,
    ),
    "a single model fails for good": ({"a": (ModelTimeoutError("slow"),) * 3}, 2),
    "text reached the caller: no restart": ({"a": ("cut",), "b": ()}, 2),
}


def _gateway(tmp_path: Path, scenario: str) -> tuple[Gateway, list[float]]:
    scripts, retries = SCENARIOS[scenario]
    models = {name: Scripted(name, *script) for name, script in scripts.items()}
    waits: list[float] = []

    async def asleep(seconds: float) -> None:
        waits.append(seconds)

    settings = Settings(
        home=tmp_path,
        gateway=GatewaySettings(default_model="a", fallback=tuple(models)[1:], max_retries=retries),
    )
    gateway = Gateway(
        settings, models=models, sleep=waits.append, asleep=asleep, rng=random.Random(7)
    )
    return gateway, waits


def _attempts(attempts: Any) -> list[tuple[str, str | None, str | None]]:
    return [(a.model, a.error_type, a.error) for a in attempts]


def _outcome(events: list[Any], error: BaseException | None) -> dict[str, Any]:
    shown = [
        (type(e).__name__, e.text if isinstance(e, TokenDelta) else e.result.text) for e in events
    ]
    out: dict[str, Any] = {"events": shown}
    if events and isinstance(events[-1], StreamDone):
        out["attempts"] = _attempts(events[-1].result.attempts)
        out["model"] = events[-1].result.model
    if error is not None:
        out["error"] = (type(error).__name__, str(error), _attempts(getattr(error, "attempts", [])))
    return out


def _stream(gateway: Gateway) -> dict[str, Any]:
    events: list[Any] = []
    try:
        for event in gateway.stream("hi"):
            events.append(event)
    except RaglineError as exc:
        return _outcome(events, exc)
    return _outcome(events, None)


def _astream(gateway: Gateway) -> dict[str, Any]:
    events: list[Any] = []

    async def consume() -> None:
        async for event in gateway.astream("hi"):
            events.append(event)

    try:
        asyncio.run(consume())
    except RaglineError as exc:
        return _outcome(events, exc)
    return _outcome(events, None)


def _generate(gateway: Gateway) -> dict[str, Any]:
    try:
        result = gateway.generate("hi")
    except RaglineError as exc:
        return _outcome([], exc)
    return _outcome([StreamDone(result)], None)


def _agenerate(gateway: Gateway) -> dict[str, Any]:
    try:
        result = asyncio.run(gateway.agenerate("hi"))
    except RaglineError as exc:
        return _outcome([], exc)
    return _outcome([StreamDone(result)], None)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_sync_and_async_gateway_agree_event_for_event(tmp_path: Path, scenario: str):
    gateway, waits = _gateway(tmp_path, scenario)
    sync = _stream(gateway)
    sync_waits = list(waits)
    gateway, waits = _gateway(tmp_path, scenario)
    assert _astream(gateway) == sync and waits == sync_waits

    gateway, waits = _gateway(tmp_path, scenario)
    generated = _generate(gateway)
    generated_waits = list(waits)
    gateway, waits = _gateway(tmp_path, scenario)
    assert _agenerate(gateway) == generated and waits == generated_waits


def test_the_scenarios_do_what_they_say(tmp_path: Path):
    """The parity above compares real outcomes: retries, waits, fallback, the raise after
    output (spot checks of what both drivers gave)."""
    runs = {}
    for scenario in SCENARIOS:
        gateway, waits = _gateway(tmp_path, scenario)
        runs[scenario] = (_stream(gateway), waits)
    out, waits = runs["retried then answered"]
    assert [a[1] for a in out["attempts"]] == ["ProviderServerError", "ModelTimeoutError", None]
    assert len(waits) == 2 and out["events"][-1] == ("StreamDone", "a says one two three")
    out, waits = runs["retries run out, b answers"]
    assert out["model"] == "b" and len(out["attempts"]) == 4 and len(waits) == 2
    out, waits = runs["a stream without its end is retried"]
    assert [a[1] for a in out["attempts"]] == ["StreamInterruptedError"] * 2 + [None]
    out, waits = runs["not transient: straight to b"]
    assert out["model"] == "b" and waits == []
    out, waits = runs["a long Retry-After skips a retry"]
    assert out["error"][0] == "GenerationError" and len(out["error"][2]) == 4 and len(waits) == 2
    out, waits = runs["a single model fails for good"]
    assert out["error"][0] == "ModelTimeoutError" and len(out["error"][2]) == 3
    out, waits = runs["text reached the caller: no restart"]
    assert out["events"] == [("TokenDelta", "a")]
    assert out["error"][0] == "StreamInterruptedError" and len(out["error"][2]) == 1


# --------------------------------------------------------------------------- structured


class Pair(BaseModel):
    left: str
    right: int


def _reply(text: str, tokens: int = 3) -> ChatResult:
    return ChatResult(text=text, usage=Usage(10, tokens), model="m", duration_s=0.01)


def test_the_reask_loop_runs_by_hand_without_a_model():
    loop = StructuredLoop("Pair them", Pair, SamplingParams(), max_reasks=2)
    steps = loop.steps()
    messages, params = next(steps)
    assert params.json_schema == loop.schema_json and "JSON schema" in messages[0]["content"]
    messages, _ = steps.send(_reply("a pair of shoes"))
    assert messages[-2] == {"role": "assistant", "content": "a pair of shoes"}
    assert "not a valid Pair" in messages[-1]["content"]
    messages, _ = steps.send(_reply('{"left": "x"}'))
    assert "right: Field required" in messages[-1]["content"]
    with pytest.raises(StopIteration) as stop:
        steps.send(_reply("{'left': 'x', 'right': 2,}"))
    done = stop.value.value
    assert done.value == Pair(left="x", right=2) and done.repaired
    assert done.usage == Usage(30, 9) and [a.error_type for a in done.attempts] == [
        "ValidationError",
        "ValidationError",
        None,
    ]


def test_the_reask_loop_stops_after_max_reasks():
    steps = StructuredLoop("Pair them", Pair, SamplingParams(), max_reasks=1).steps()
    next(steps)
    steps.send(_reply("no"))
    with pytest.raises(StructuredOutputError, match="no valid Pair after 2 replies") as info:
        steps.send(_reply("still no"))
    assert [a.output for a in info.value.attempts] == ["no", "still no"]


def test_drive_and_adrive_give_the_same_result():
    replies = ["shoes", '{"left": "l"}', '{"left": "l", "right": 1}']

    def run_sync() -> Any:
        fake = FakeChatModel(replies)
        return drive(StructuredLoop("x", Pair, SamplingParams()).steps(), fake.generate), fake

    def run_async() -> Any:
        fake = FakeChatModel(replies)
        loop = StructuredLoop("x", Pair, SamplingParams())
        return asyncio.run(adrive(loop.steps(), fake.agenerate)), fake

    (sync, sync_fake), (async_, async_fake) = run_sync(), run_async()
    assert sync.value == async_.value == Pair(left="l", right=1)
    assert sync.usage == async_.usage and _attempts(sync.attempts) == _attempts(async_.attempts)
    assert sync_fake.calls == async_fake.calls and len(sync_fake.calls) == 3


# --------------------------------------------------------------------------- openai_compat


def _sse(*chunks: Any, done: bool = True) -> bytes:
    lines = [f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks]
    return ("".join(lines) + ("data: [DONE]\n\n" if done else "")).encode()


def _delta(text: str | None = None, finish: str | None = None) -> dict[str, Any]:
    return {
        "choices": [{"delta": {} if text is None else {"content": text}, "finish_reason": finish}]
    }


#: Each case: (status, body, headers) of the one response the server gives.
HTTP_CASES: dict[str, tuple[int, bytes, dict[str, str]]] = {
    "whole": (200, _sse(_delta("He"), _delta("y"), _delta(finish="stop")), {}),
    "finish without [DONE]": (200, _sse(_delta("a"), _delta(finish="stop"), done=False), {}),
    "cut": (200, _sse(_delta("a"), _delta(" b"), done=False), {}),
    "malformed": (200, _sse(_delta("a"), '{"choices": [', done=False), {}),
    "server error": (503, b"busy", {"Retry-After": "4"}),
    "rejected": (401, b'{"error": {"message": "bad key"}}', {}),
    "lines after [DONE] are not read": (
        200,
        _sse(_delta("x"), _delta(finish="stop")) + b"data: {oops\n\n",
        {},
    ),
}


def _http_model(case: str) -> OpenAICompatChatModel:
    return OpenAICompatChatModel(
        base_url="http://server.test/v1",
        model="m1",
        transport=httpx.MockTransport(
            lambda request: httpx.Response(
                HTTP_CASES[case][0], content=HTTP_CASES[case][1], headers=HTTP_CASES[case][2]
            )
        ),
    )


def _http_outcome(events: list[Any], error: BaseException | None) -> dict[str, Any]:
    out = {"events": [e.text if isinstance(e, TokenDelta) else e.result.text for e in events]}
    if error is not None:
        out["error"] = [type(error).__name__, str(error), getattr(error, "retry_after", None)]
    return out


@pytest.mark.parametrize("case", sorted(HTTP_CASES))
def test_the_sync_and_async_http_streams_agree(case: str):
    events: list[Any] = []
    try:
        events.extend(_http_model(case).stream("x"))
        sync = _http_outcome(events, None)
    except ModelError as exc:
        sync = _http_outcome(events, exc)

    events = []

    async def consume() -> None:
        async for event in _http_model(case).astream("x"):
            events.append(event)

    try:
        asyncio.run(consume())
        async_ = _http_outcome(events, None)
    except ModelError as exc:
        async_ = _http_outcome(events, exc)
    assert async_ == sync
    expected_error = {
        "cut": "StreamInterruptedError",
        "malformed": "MalformedResponseError",
        "server error": "ProviderServerError",
        "rejected": "RequestRejectedError",
    }.get(case)
    assert (sync.get("error") or [None])[0] == expected_error


def test_the_http_transport_errors_are_translated_alike():
    request = httpx.Request("POST", "http://server.test/v1/chat/completions")
    for exc, expected in (
        (httpx.ConnectError("refused", request=request), ModelUnavailableError),
        (httpx.ReadTimeout("slow", request=request), ModelTimeoutError),
        (httpx.RemoteProtocolError("cut", request=request), StreamInterruptedError),
    ):

        def fail(request: httpx.Request, exc: Exception = exc) -> httpx.Response:
            raise exc

        model = OpenAICompatChatModel(
            base_url="http://server.test/v1", model="m1", transport=httpx.MockTransport(fail)
        )

        async def consume(model: OpenAICompatChatModel = model) -> None:
            async for _ in model.astream("x"):
                pass

        with pytest.raises(expected) as sync:
            list(model.stream("x"))
        with pytest.raises(expected) as async_:
            asyncio.run(consume())
        assert str(sync.value) == str(async_.value)
        assert isinstance(sync.value.__cause__, httpx.HTTPError)


# --------------------------------------------------------------------------- tracing


def test_the_sync_and_async_stream_tracers_record_the_same_span():
    result = ChatResult(text="a b", usage=Usage(4, 2), model="fake:model", finish_reason="stop")
    events = [TokenDelta("a"), TokenDelta(" b"), StreamDone(result)]
    sink = ListSink()
    tracer = Tracer(TraceSettings(flush_interval_s=0.01), [sink])
    request = {"model": "fake:model", "params": SamplingParams(seed=3), "messages": "q"}

    async def relay() -> list[Any]:
        async def source() -> Any:
            for event in events:
                yield event

        return [e async for e in atrace_stream(tracer, source(), **request)]

    try:
        assert list(trace_stream(tracer, iter(events), **request)) == events
        assert asyncio.run(relay()) == events
        assert tracer.flush()
    finally:
        tracer.close()
    sync, async_ = (  # all but the timings
        {k: v for k, v in t.root.attributes.items() if not k.endswith(("_s", "_ns"))}
        for t in sink.traces
    )
    assert sync == async_ and sync["gen_ai.request.seed"] == 3
    assert sync["gen_ai.usage.output_tokens"] == 2 and sync["output"] == "a b"
