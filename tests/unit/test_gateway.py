"""Gateway: resolution, retries with backoff, fallback, pricing, best-of-N, settings, secrets."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from ragline.config import GatewaySettings, Settings
from ragline.errors import (
    ConfigError,
    GenerationError,
    ModelError,
    ModelTimeoutError,
    ModelUnavailableError,
    StructuredOutputError,
)
from ragline.models.chat import (
    ChatModel,
    ChatResult,
    ProviderServerError,
    RequestRejectedError,
    SamplingParams,
    StopMatcher,
    StreamDone,
    StreamInterruptedError,
    TokenDelta,
    Usage,
)
from ragline.models.gateway import Gateway, MeanLogprobScorer, RetryPolicy
from ragline.models.llamacpp import LlamaCppChatModel
from ragline.models.openai_compat import OpenAICompatChatModel
from ragline.models.pricing import DEFAULT_PRICE_TABLE, Price, PriceTable
from ragline.testing.chat_conformance import ChatModelConformance, FakeChatModel


class TestFakeConformance(ChatModelConformance):
    @pytest.fixture
    def chat_model(self) -> ChatModel:
        return FakeChatModel(
            lambda msgs, p: (
                json.dumps({"name": "Paris", "country": "France", "population": 2100000})
                if p.json_schema
                else "One, two, three, four, five, six, seven, eight, nine, ten, eleven."
            )
        )


class TestGatewayConformance(ChatModelConformance):
    """The gateway itself is a ChatModel (its results name the provider that answered)."""

    @pytest.fixture
    def chat_model(self, tmp_path: Path) -> ChatModel:
        fake = FakeChatModel(
            lambda msgs, p: (
                '{"name": "Paris", "country": "France", "population": 2100000}'
                if p.json_schema
                else "One, two, three, four, five, six, seven, eight, nine, ten."
            ),
            name="fake",
        )
        return Gateway(settings(tmp_path, default_model="fake"), models={"fake": fake})


def settings(tmp_path: Path, **gateway: Any) -> Settings:
    return Settings(home=tmp_path, gateway=GatewaySettings(**gateway))


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_gateway(tmp_path: Path, models: dict[str, ChatModel], **gateway: Any) -> Gateway:
    sleeps = Sleeps()
    gw = Gateway(
        settings(tmp_path, **gateway),
        models=models,
        sleep=sleeps,
        asleep=sleeps.asleep,
        rng=random.Random(0),
    )
    gw.sleeps = sleeps  # type: ignore[attr-defined]
    return gw


def test_retries_transient_errors_then_succeeds(tmp_path: Path) -> None:
    fake = FakeChatModel(
        ["ok"],
        name="a",
        failures=[ProviderServerError("boom", status_code=500), ModelTimeoutError("slow")],
    )
    gw = make_gateway(tmp_path, {"a": fake}, default_model="a", max_retries=2)
    result = gw.generate("hi")
    assert result.text == "ok"
    assert [a.error_type for a in result.attempts] == [
        "ProviderServerError",
        "ModelTimeoutError",
        None,
    ]
    assert all(a.model == "a" for a in result.attempts)
    assert len(gw.sleeps.delays) == 2
    # equal jitter: retry n waits within [cap/2, cap], cap = base * 2**n
    assert 0.25 <= gw.sleeps.delays[0] <= 0.5 and 0.5 <= gw.sleeps.delays[1] <= 1.0


def test_retry_after_is_honoured_and_a_long_one_skips_to_fallback(tmp_path: Path) -> None:
    fake = FakeChatModel(["ok"], name="a", failures=[ProviderServerError("429", retry_after=3)])
    gw = make_gateway(tmp_path, {"a": fake}, default_model="a")
    assert gw.generate("hi").text == "ok"
    assert gw.sleeps.delays == [3.0]

    slow = FakeChatModel(["x"], name="a", failures=[ProviderServerError("429", retry_after=999)])
    backup = FakeChatModel(["from b"], name="b")
    gw = make_gateway(tmp_path, {"a": slow, "b": backup}, default_model="a", fallback=("b",))
    result = gw.generate("hi")
    assert result.text == "from b" and result.model == "b"
    assert gw.sleeps.delays == []


def test_non_transient_errors_are_not_retried(tmp_path: Path) -> None:
    fake = FakeChatModel(["ok"], name="a", failures=[RequestRejectedError("bad", status_code=400)])
    gw = make_gateway(tmp_path, {"a": fake}, default_model="a")
    with pytest.raises(RequestRejectedError) as info:
        gw.generate("hi")
    assert len(info.value.attempts) == 1 and gw.sleeps.delays == []


def test_single_model_raises_its_own_error_type_with_all_attempts(tmp_path: Path) -> None:
    failures = [ModelUnavailableError("down")] * 3
    gw = make_gateway(
        tmp_path, {"a": FakeChatModel(name="a", failures=failures)}, default_model="a"
    )
    with pytest.raises(ModelUnavailableError) as info:
        gw.generate("hi")
    assert [a.model for a in info.value.attempts] == ["a", "a", "a"]
    assert all(a.duration_s >= 0 and a.error == "down" for a in info.value.attempts)


def test_fallback_chain_and_generation_error(tmp_path: Path) -> None:
    a = FakeChatModel(name="a", failures=[ModelUnavailableError("a down")] * 9)
    b = FakeChatModel(name="b", failures=[RequestRejectedError("b says no", status_code=400)])
    c = FakeChatModel(["from c"], name="c")
    gw = make_gateway(
        tmp_path, {"a": a, "b": b, "c": c}, default_model="a", fallback=("b", "c"), max_retries=1
    )
    result = gw.generate("hi")
    assert result.text == "from c"
    assert [x.model for x in result.attempts] == ["a", "a", "b", "c"]

    d = FakeChatModel(name="d", failures=[ModelTimeoutError("d slow")] * 9)
    gw = make_gateway(tmp_path, {"a": a, "d": d}, default_model="a", fallback=("d",), max_retries=0)
    with pytest.raises(GenerationError) as info:
        gw.generate("hi")
    err = info.value
    assert [x.model for x in err.attempts] == ["a", "d"]
    assert "ModelUnavailableError" in err.message and "ModelTimeoutError" in err.message
    assert isinstance(err.__cause__, ModelTimeoutError)


def test_explicit_model_goes_first_and_unknown_names_fail_over(tmp_path: Path) -> None:
    a, b = FakeChatModel(["A"], name="a"), FakeChatModel(["B"], name="b")
    gw = make_gateway(tmp_path, {"a": a, "b": b}, default_model="a", fallback=("nope", "b"))
    assert gw.generate("hi", model="b").text == "B"
    assert gw.chain("b") == ["b", "nope"]
    assert gw.generate("hi", model="nope").text == "B"  # falls back past a bad name
    with pytest.raises(ConfigError, match="unknown model"):
        make_gateway(tmp_path, {"a": a}, default_model="a").generate("hi", model="nope")
    broken = FakeChatModel(name="a", failures=[ModelUnavailableError("x")] * 9)
    gw = make_gateway(
        tmp_path, {"a": broken, "b": b}, default_model="a", fallback=("nope", "b"), max_retries=0
    )
    result = gw.generate("hi")
    assert result.text == "B" and result.attempts[1].error_type == "ConfigError"


def test_async_generate_retries_and_falls_back(tmp_path: Path) -> None:
    a = FakeChatModel(name="a", failures=[ProviderServerError("x", status_code=503)] * 9)
    b = FakeChatModel(["B"], name="b")
    gw = make_gateway(tmp_path, {"a": a, "b": b}, default_model="a", fallback=("b",))
    result = asyncio.run(gw.agenerate("hi"))
    assert result.text == "B" and len(result.attempts) == 4
    assert len(gw.sleeps.delays) == 2


def test_stream_retries_before_first_token_only(tmp_path: Path) -> None:
    a = FakeChatModel(["a b c"], name="a", failures=[ModelUnavailableError("x")])
    gw = make_gateway(tmp_path, {"a": a}, default_model="a", price_table=None)
    events = list(gw.stream("hi"))
    assert isinstance(events[-1], StreamDone) and events[-1].result.text == "a b c"
    assert [x.error_type for x in events[-1].result.attempts] == ["ModelUnavailableError", None]

    class CutAfterOne(FakeChatModel):
        def stream(self, messages, params=None, **kw):  # type: ignore[no-untyped-def]
            yield TokenDelta("partial")
            raise StreamInterruptedError("cut")

    cut, b = CutAfterOne(name="cut"), FakeChatModel(["B"], name="b")
    gw = make_gateway(tmp_path, {"cut": cut, "b": b}, default_model="cut", fallback=("b",))
    seen: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        for event in gw.stream("hi"):
            if isinstance(event, TokenDelta):
                seen.append(event.text)
    assert seen == ["partial"] and len(info.value.attempts) == 1


def test_a_stream_without_its_end_is_retried_then_fails_over(tmp_path: Path) -> None:
    class NoEnd(FakeChatModel):
        def stream(self, messages, params=None, **kw):  # type: ignore[no-untyped-def]
            return iter(())

        def astream(self, messages, params=None, **kw):  # type: ignore[no-untyped-def]
            async def events():  # type: ignore[no-untyped-def]
                return
                yield

            return events()

    b = FakeChatModel(["B"], name="b")
    gw = make_gateway(
        tmp_path, {"cut": NoEnd(name="cut"), "b": b}, default_model="cut", fallback=("b",)
    )
    events = list(gw.stream("hi"))
    assert events[-1].result.model == "b" and len(gw.sleeps.delays) == 2
    assert [a.error_type for a in events[-1].result.attempts] == ["StreamInterruptedError"] * 3 + [
        None
    ]

    async def run() -> list[Any]:
        return [e async for e in gw.astream("hi", model="cut")]

    alone = make_gateway(tmp_path, {"cut": NoEnd(name="cut")}, default_model="cut")
    with pytest.raises(StreamInterruptedError, match=r"^cut: the stream ended without a result"):
        list(alone.stream("hi"))
    assert len(asyncio.run(run())[-1].result.attempts) == 4


def test_astream_falls_back(tmp_path: Path) -> None:
    a = FakeChatModel(name="a", failures=[RequestRejectedError("no")])
    b = FakeChatModel(["one two three"], name="b")
    gw = make_gateway(tmp_path, {"a": a, "b": b}, default_model="a", fallback=("b",))

    async def run() -> list[Any]:
        return [e async for e in gw.astream("hi")]

    events = asyncio.run(run())
    assert "".join(e.text for e in events[:-1]) == "one two three"
    assert events[-1].result.model == "b"


# --------------------------------------------------------------------------- pricing


def test_cost_comes_from_the_price_table(tmp_path: Path) -> None:
    table = tmp_path / "prices.json"
    table.write_text(
        json.dumps(
            {
                "models": {
                    "priced": {"input_per_million": 1.0, "output_per_million": 2.0},
                    "fam:*": {"input_per_million": 10.0, "output_per_million": 10.0},
                }
            }
        )
    )
    priced, free = FakeChatModel(["a b c d"], name="priced"), FakeChatModel(["x"], name="other")
    gw = make_gateway(
        tmp_path, {"priced": priced, "other": free}, default_model="priced", price_table=table
    )
    r = gw.generate("one two")
    assert r.cost == pytest.approx((r.usage.prompt_tokens * 1 + 4 * 2) / 1e6)
    assert gw.generate("x", model="other").cost is None  # not listed: unknown, not zero
    assert gw.prices.cost("fam:m", Usage(100_000, 0)) == pytest.approx(1.0)
    assert gw.prices.cost("endpoint:priced", Usage(1_000_000, 0)) == pytest.approx(1.0)


def test_default_price_table_and_bad_tables(tmp_path: Path) -> None:
    table = PriceTable.load()
    assert table.source == str(DEFAULT_PRICE_TABLE)
    assert table.cost("embedded:SmolLM2-135M-Instruct.Q4_1", Usage(1000, 1000)) == 0.0
    assert table.price_of("openai:gpt-4o-mini") == Price(0.15, 0.60)
    assert table.price_of("openai:gpt-4o-mini-2024") is None
    with pytest.raises(ConfigError, match="does not exist"):
        PriceTable.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"models": {"m": {"input_per_million": "x"}}}')
    with pytest.raises(ConfigError, match="bad entry"):
        PriceTable.load(bad)
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match="not readable JSON"):
        PriceTable.load(bad)


def test_provider_cost_fields_are_ignored(tmp_path: Path) -> None:
    class Liar(FakeChatModel):
        def generate(self, messages, params=None, **kw):  # type: ignore[no-untyped-def]
            return super().generate(messages, params, **kw).replace(cost=123.0)

    gw = make_gateway(tmp_path, {"liar": Liar(name="liar")}, default_model="liar")
    assert gw.generate("hi").cost is None


# --------------------------------------------------------------------------- best-of-N


def test_best_of_n_picks_highest_mean_logprob(tmp_path: Path) -> None:
    fake = FakeChatModel(["first", "second", "third"], name="f", logprobs=[-2.0, -0.1, -1.0])
    gw = make_gateway(tmp_path, {"f": fake}, default_model="f")
    result = gw.generate("hi", samples=3, seed=10)
    assert result.text == "second" and result.logprob_mean == -0.1
    assert [c.text for c in result.candidates] == ["first", "second", "third"]
    assert result.usage == sum((c.usage for c in result.candidates), Usage())
    assert [p.seed for _, p in fake.calls] == [10, 11, 12]
    assert all(p.logprobs for _, p in fake.calls)


def test_best_of_n_with_a_custom_scorer_async(tmp_path: Path) -> None:
    class Longest:
        def score(self, messages: list[dict[str, str]], result: ChatResult) -> float:
            return len(result.text)

    fake = FakeChatModel(["a", "a b c", "a b"], name="f")
    gw = make_gateway(tmp_path, {"f": fake}, default_model="f", samples=3)
    result = asyncio.run(gw.agenerate("hi", scorer=Longest()))
    assert result.text == "a b c" and len(result.candidates) == 3
    assert MeanLogprobScorer().score([], ChatResult("x", Usage(), "m")) == float("-inf")
    with pytest.raises(ConfigError, match="samples"):
        gw.generate("hi", samples=2, schema=ChatResult)
    with pytest.raises(ConfigError, match="samples"):
        gw.generate("hi", samples=0)


# --------------------------------------------------------------------------- structured


class Answer(BaseModel):
    answer: str
    confidence: float


def test_generate_with_schema_returns_the_type(tmp_path: Path) -> None:
    fake = FakeChatModel(["Sure! ```json\n{'answer': 'yes', 'confidence': 0.9,}\n```"], name="f")
    gw = make_gateway(tmp_path, {"f": fake}, default_model="f")
    value = gw.generate("Is it?", schema=Answer)
    assert value == Answer(answer="yes", confidence=0.9)
    sent = fake.calls[0][1]
    assert sent.json_schema is not None and sent.json_schema["title"] == "Answer"
    assert fake.calls[0][0][0]["role"] == "system"  # schema stated in the prompt


def test_structured_reasks_with_the_validation_error(tmp_path: Path) -> None:
    fake = FakeChatModel(['{"answer": "yes"}', '{"answer": "yes", "confidence": 0.5}'], name="f")
    gw = make_gateway(tmp_path, {"f": fake}, default_model="f")
    done = gw.generate_structured("Is it?", Answer)
    assert done.value.confidence == 0.5
    assert [a.error_type for a in done.attempts] == ["ValidationError", None]
    feedback = fake.calls[1][0][-1]["content"]
    assert "confidence" in feedback and "Field required" in feedback
    assert done.usage == fake_usage_sum(fake, gw)


def fake_usage_sum(fake: FakeChatModel, gw: Gateway) -> Usage:
    return Usage(
        sum(sum(len(m["content"].split()) + 3 for m in msgs) for msgs, _ in fake.calls),
        len(FakeChatModel.tokens('{"answer": "yes"}'))
        + len(FakeChatModel.tokens('{"answer": "yes", "confidence": 0.5}')),
    )


def test_structured_failure_carries_attempts_and_usage(tmp_path: Path) -> None:
    fake = FakeChatModel(["no idea", "still no idea"], name="f")
    gw = make_gateway(tmp_path, {"f": fake}, default_model="f", structured_max_reasks=1)
    with pytest.raises(StructuredOutputError) as info:
        gw.generate("Is it?", schema=Answer)
    err = info.value
    assert len(err.attempts) == 2 and err.attempts[-1].output == "still no idea"
    assert err.usage.completion_tokens == 5 and err.usage.prompt_tokens > 0
    with pytest.raises(StructuredOutputError):
        asyncio.run(gw.agenerate("Is it?", schema=Answer, max_tokens=50))


# --------------------------------------------------------------------------- resolution


def test_resolves_embedded_and_http_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_VLLM_KEY", "sk-from-env-123")
    gw = Gateway(
        settings(
            tmp_path,
            n_ctx=1024,
            endpoints={
                "vllm": {
                    "base_url": "http://127.0.0.1:9/v1",
                    "model": "qwen",
                    "api_key_env": "MY_VLLM_KEY",
                },
                "ollama": {"base_url": "http://127.0.0.1:11434/v1", "api_key": "sk-config-456"},
            },
        )
    )
    embedded = gw.resolve("embedded")
    assert isinstance(embedded, LlamaCppChatModel) and embedded.n_ctx == 1024
    assert embedded.name == "embedded:SmolLM2-135M-Instruct.Q4_1"
    assert gw.resolve("smollm2").name == embedded.name
    assert gw.resolve("llamacpp:/models/x.gguf").name == "llamacpp:x"
    vllm = gw.resolve("vllm")
    assert isinstance(vllm, OpenAICompatChatModel) and vllm.name == "vllm:qwen"
    assert gw.resolve("vllm:other").model == "other"
    assert gw.resolve("vllm") is vllm  # cached
    with pytest.raises(ConfigError, match="no default model"):
        gw.resolve("ollama")
    assert gw.resolve("ollama:llama3").name == "ollama:llama3"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        gw.resolve("openai:gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-789")
    assert gw.resolve("openai:gpt-4o-mini").base_url == "https://api.openai.com/v1"
    # secrets never show in repr or serialisation
    text = repr(gw.settings) + gw.settings.model_dump_json() + repr(gw._models) + repr(gw)
    for secret in ("sk-from-env-123", "sk-config-456", "sk-openai-789"):
        assert secret not in text


def test_settings_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGLINE_HOME", str(tmp_path))
    monkeypatch.setenv("RAGLINE_GATEWAY__DEFAULT_MODEL", "local:smollm2")
    monkeypatch.setenv("RAGLINE_GATEWAY__FALLBACK", '["embedded"]')
    monkeypatch.setenv(
        "RAGLINE_GATEWAY__ENDPOINTS",
        '{"local": {"base_url": "http://127.0.0.1:8080/v1", "api_key": "sk-env-secret"}}',
    )
    monkeypatch.setenv("RAGLINE_GATEWAY__MAX_RETRIES", "5")
    s = Settings()
    assert s.gateway.default_model == "local:smollm2" and s.gateway.fallback == ("embedded",)
    assert s.gateway.max_retries == 5
    assert "sk-env-secret" not in repr(s) and "sk-env-secret" not in s.model_dump_json()
    gw = Gateway(s)
    assert gw.chain() == ["local:smollm2", "embedded"]
    assert gw.defaults.max_tokens == 512 and gw.defaults.timeout_s == 60.0


def test_retry_policy_bounds() -> None:
    rng = random.Random(1)
    policy = RetryPolicy(max_retries=3, backoff_base_s=1.0, backoff_max_s=3.0)
    err = ModelUnavailableError("x")
    delays = [policy.delay(i, err, rng) for i in range(4)]
    assert delays[3] is None
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2 and 1.5 <= delays[2] <= 3
    assert policy.delay(0, ModelError("permanent"), rng) is None


# --------------------------------------------------------------------------- contract bits


def test_sampling_params_validation() -> None:
    p = SamplingParams(stop="END")  # type: ignore[arg-type]
    assert p.stop == ("END",)
    with pytest.raises(ConfigError, match="temperature"):
        SamplingParams(temperature=-1)
    with pytest.raises(ConfigError, match="unknown sampling"):
        SamplingParams().with_(temprature=1)
    with pytest.raises(ConfigError, match="top_p"):
        SamplingParams(top_p=0)


@pytest.mark.parametrize(
    ("pieces", "stops", "expected"),
    [
        (["Hel", "lo wor", "ld"], ["wor"], "Hello "),
        (["a", "b", "c"], ["bd"], "abc"),
        (["x<", "/s", ">y"], ["</s>"], "x"),
        (["no stops"], [], "no stops"),
    ],
)
def test_stop_matcher(pieces: list[str], stops: list[str], expected: str) -> None:
    m = StopMatcher(stops)
    out = "".join(m.push(p) for p in pieces) + m.flush()
    assert out == expected
