"""Gateway calls as ``generation`` spans: GenAI attributes, usage, cost, TTFT/TPOT, early stops."""

from __future__ import annotations

import asyncio

import pytest

from ragline.config import TraceSettings, load_settings
from ragline.models.chat import SamplingParams, StreamDone, StreamInterruptedError, TokenDelta
from ragline.models.gateway import Gateway
from ragline.models.pricing import PriceTable
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.trace_conformance import ListSink
from ragline.trace import Tracer
from ragline.trace import semconv as sc
from ragline.trace.genai import TracedChatModel, provider_of


@pytest.fixture
def sink():
    return ListSink()


@pytest.fixture
def tracer(sink):
    t = Tracer(TraceSettings(flush_interval_s=0.01), [sink])
    yield t
    t.close()


REPLY = "Venus is the hottest planet at about 465 degrees"


def gateway(tracer, fake):
    prices = PriceTable.from_mapping(
        {"models": {"fake:model": {"input_per_million": 1.0, "output_per_million": 2.0}}}
    )
    settings = load_settings(gateway={"default_model": "fake:model", "max_retries": 0})
    return Gateway(settings, models={"fake:model": fake}, price_table=prices, tracer=tracer)


def test_generate_is_a_trace_with_genai_attributes(tracer, sink):
    gw = gateway(tracer, FakeChatModel([REPLY]))
    result = gw.generate("How hot is Venus?", SamplingParams(temperature=0.0, max_tokens=64))
    assert tracer.flush()
    (t,) = sink.traces
    a = t.root.attributes
    assert t.root.name == "generation" and t.root.kind == "client"
    assert a[sc.GEN_AI_OPERATION] == "chat" and a[sc.GEN_AI_REQUEST_MODEL] == "fake:model"
    assert a[sc.GEN_AI_PROVIDER] == "fake" and a[sc.GEN_AI_RESPONSE_MODEL] == "fake:model"
    assert a[sc.GEN_AI_TEMPERATURE] == 0.0 and a[sc.GEN_AI_MAX_TOKENS] == 64
    assert a[sc.GEN_AI_INPUT_TOKENS] == result.usage.prompt_tokens
    assert a[sc.GEN_AI_OUTPUT_TOKENS] == result.usage.completion_tokens == 9
    assert a[sc.GEN_AI_FINISH_REASONS] == ["stop"]
    assert a[sc.OUTPUT] == REPLY and a[sc.INPUT] == "How hot is Venus?"
    s = t.summary
    assert s.query == "How hot is Venus?" and s.answer_length == len(REPLY)
    assert s.cost == pytest.approx(result.cost) and s.cost > 0
    assert s.ttft_s is not None and s.tpot_s is not None and s.model == "fake:model"


def test_overrides_and_the_default_sampling_are_recorded(tracer, sink):
    gw = gateway(tracer, FakeChatModel([REPLY]))
    gw.generate("q", temperature=0.7)
    asyncio.run(gw.agenerate("q"))
    tracer.flush()
    first, second = (t.root.attributes for t in sink.traces)
    assert first[sc.GEN_AI_TEMPERATURE] == 0.7
    assert second[sc.GEN_AI_TEMPERATURE] == gw.defaults.temperature


def test_a_gateway_call_inside_an_answer_is_a_child_span(tracer, sink):
    gw = gateway(tracer, FakeChatModel([REPLY]))
    with tracer.trace("ask", query="How hot is Venus?", answer=REPLY):
        with tracer.span("prompt", **{sc.PROMPT_TEMPLATE: "answer", sc.PROMPT_VERSION: "1"}):
            pass
        gw.generate([{"role": "user", "content": "How hot is Venus?"}])
    tracer.flush()
    (t,) = sink.traces
    assert [s.name for s in t.spans] == ["ask", "prompt", "generation"]
    assert t.spans[2].parent_id == t.spans[0].span_id
    assert sc.QUERY not in t.spans[2].attributes  # only a root lists its question
    assert t.summary.output_tokens == 9 and t.summary.model == "fake:model"


def test_stream_measures_ttft_and_inter_token_latency(tracer, sink):
    gw = gateway(tracer, FakeChatModel([REPLY], token_delay_s=0.01))
    events = list(gw.stream("How hot is Venus?"))
    assert isinstance(events[-1], StreamDone) and isinstance(events[0], TokenDelta)
    tracer.flush()
    (t,) = sink.traces
    a = t.root.attributes
    assert a[sc.TTFT] >= 0.009 and a["itl_mean_s"] >= 0.009
    assert t.summary.tpot_s == pytest.approx(a[sc.TPOT], rel=0.2)
    assert t.summary.ttft_s == pytest.approx(a[sc.TTFT], abs=0.005)
    assert t.signals == []


def test_stopping_a_stream_early_is_an_implicit_signal(tracer, sink):
    gw = gateway(tracer, FakeChatModel([REPLY]))
    for i, _ in enumerate(gw.stream("How hot is Venus?")):
        if i == 2:
            break
    tracer.flush()
    (t,) = sink.traces
    assert t.root.attributes["stream_cancelled"] is True
    assert t.root.attributes["tokens_emitted"] == 3
    assert [(f.kind, f.value, f.trace_id) for f in t.signals] == [("early_stop", 3.0, t.trace_id)]


def test_async_stream_and_errors(tracer, sink):
    gw = gateway(tracer, FakeChatModel([REPLY]))

    async def consume():
        return [e async for e in gw.astream("q")]

    assert isinstance(asyncio.run(consume())[-1], StreamDone)
    broken = gateway(tracer, FakeChatModel([REPLY], failures=[ValueError("bug")]))
    with pytest.raises(ValueError):
        broken.generate("q")
    tracer.flush()
    ok, failed = sink.traces
    assert ok.summary.output_tokens == 9 and not ok.signals
    assert failed.root.status == "error" and "bug" in failed.root.error


def test_a_stream_that_fails_midway_is_an_error_and_an_async_early_stop_a_signal(tracer, sink):
    class CutAfterOne(FakeChatModel):
        def stream(self, messages, params=None, **kw):
            yield TokenDelta("partial")
            raise StreamInterruptedError("cut")

        async def astream(self, messages, params=None, **kw):
            yield TokenDelta("partial")
            raise StreamInterruptedError("cut")

    gw = gateway(tracer, CutAfterOne([REPLY]))

    async def consume_async():
        return [e async for e in gw.astream("q")]

    async def stop_async_early():
        stream = gw.astream("q", model="fake:model")
        await anext(stream)
        await stream.aclose()

    with pytest.raises(StreamInterruptedError):
        list(gw.stream("q"))
    with pytest.raises(StreamInterruptedError):
        asyncio.run(consume_async())
    asyncio.run(stop_async_early())
    tracer.flush()
    sync_cut, async_cut, stopped = sink.traces
    for t in (sync_cut, async_cut):
        assert t.root.status == "error" and "cut" in t.root.error and not t.signals
        assert "stream_cancelled" not in t.root.attributes
    assert stopped.root.status == "ok" and stopped.root.attributes["tokens_emitted"] == 1
    assert [f.kind for f in stopped.signals] == ["early_stop"]


def test_wrapping_any_chat_model(tracer, sink):
    model = TracedChatModel(FakeChatModel([REPLY]), tracer)
    assert model.name == "fake:model" and model.tokens("a b") == ["a", " b"]
    model.generate("q")
    list(model.stream("q"))
    asyncio.run(model.agenerate("q"))
    tracer.flush()
    assert [t.summary.output_tokens for t in sink.traces] == [9, 9, 9]


def test_untraced_gateway_records_nothing(sink):
    gw = gateway(None, FakeChatModel([REPLY]))
    assert gw.generate("q").text == REPLY
    assert list(gw.stream("q"))[-1].result.text == REPLY


def test_provider_names():
    assert provider_of("openai:gpt-4o") == "openai"
    assert provider_of("embedded") == provider_of("smollm2") == "llama.cpp"
