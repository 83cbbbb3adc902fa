"""What every :class:`~ragline.models.chat.ChatModel` must do, as an inheritable test class.

A provider's tests subclass :class:`ChatModelConformance` and supply a ``chat_model``
fixture; the capability flags declare what the provider cannot do, and the suite then checks
that it says so honestly (no made-up log-probabilities) instead of skipping::

    class TestMyProvider(ChatModelConformance):
        supports_logprobs = False

        @pytest.fixture
        def chat_model(self):
            return MyProvider(...)

Also here: :class:`FakeChatModel`, a deterministic scripted provider for tests of code that
uses a chat model (replies, injected failures, log-probabilities, JSON for schemas).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest
from pydantic import BaseModel

from ragline.errors import ConfigError
from ragline.models.chat import (
    ChatModel,
    ChatResult,
    Messages,
    SamplingParams,
    StopMatcher,
    StreamDone,
    StreamEvent,
    TokenDelta,
    Usage,
    collect_stream,
    iterate_in_thread,
    normalize_messages,
    resolve_params,
)
from ragline.models.structured import generate_structured

# --------------------------------------------------------------------------- fake provider

ReplyFn = Callable[[list[dict[str, str]], SamplingParams], str]


def example_for_schema(schema: Mapping[str, Any], root: Mapping[str, Any] | None = None) -> Any:
    """A small value that validates against a (pydantic-generated) JSON schema."""
    root = root or schema
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return example_for_schema(root.get("$defs", {}).get(name, {}), root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return example_for_schema(schema[key][0], root)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: example_for_schema(v, root) for k, v in props.items()}
    if kind == "array":
        return [example_for_schema(schema.get("items", {}), root)] * int(schema.get("minItems", 1))
    return {"string": "example", "integer": 1, "number": 1.0, "boolean": True, "null": None}.get(
        str(kind), "example"
    )


class FakeChatModel:
    """A deterministic :class:`ChatModel`: scripted replies, words as tokens.

    ``replies`` are used in turn (the last repeats) or computed by a function of
    ``(messages, params)``; with a JSON schema in the params and no scripted reply left
    to force, a valid example instance is answered. ``failures`` are raised by the first
    calls, in order. ``logprobs`` gives each reply's mean log-probability (in turn).
    ``token_delay_s`` sleeps before each token; ``before_token(i)`` is called before token
    ``i`` is produced (a test can block there until something else has happened).
    """

    def __init__(
        self,
        replies: Sequence[str] | ReplyFn = (),
        *,
        name: str = "fake:model",
        failures: Sequence[BaseException] = (),
        logprobs: Sequence[float] = (-0.5,),
        token_delay_s: float = 0.0,
        before_token: Callable[[int], None] | None = None,
    ) -> None:
        self._replies = replies
        self._name = name
        self._failures = list(failures)
        self._logprobs = list(logprobs) or [-0.5]
        self.token_delay_s = token_delay_s
        self.before_token = before_token
        self.calls: list[tuple[list[dict[str, str]], SamplingParams]] = []
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"FakeChatModel(name={self._name!r})"

    def _reply(self, msgs: list[dict[str, str]], p: SamplingParams, n: int) -> str:
        if callable(self._replies):
            return self._replies(msgs, p)
        if self._replies:
            return self._replies[min(n, len(self._replies) - 1)]
        if p.json_schema is not None:
            import json

            return json.dumps(example_for_schema(p.json_schema))
        return f"This is a fake reply to: {msgs[-1]['content'][:60]}"

    def _run(
        self, messages: Messages, params: SamplingParams | None, overrides: Mapping[str, Any]
    ) -> Iterator[StreamEvent]:
        msgs, p = normalize_messages(messages), resolve_params(params, overrides)
        with self._lock:
            n = len(self.calls)
            self.calls.append((msgs, p))
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            raise failure
        started = time.perf_counter()
        words = FakeChatModel.tokens(self._reply(msgs, p, n))
        stopper = StopMatcher(p.stop)
        parts: list[str] = []
        used, ttft, finish = 0, None, "stop"
        for i, word in enumerate(words):
            if i >= p.max_tokens:
                finish = "length"
                break
            used += 1
            out = stopper.push(word)
            if self.token_delay_s:
                time.sleep(self.token_delay_s)
            if self.before_token is not None:
                self.before_token(i)
            if out:
                ttft = ttft if ttft is not None else time.perf_counter() - started
                parts.append(out)
                yield TokenDelta(out)
            if stopper.stopped:
                break
        tail = stopper.flush()
        if tail:
            ttft = ttft if ttft is not None else time.perf_counter() - started
            parts.append(tail)
            yield TokenDelta(tail)
        prompt = sum(len(m["content"].split()) + 3 for m in msgs)
        logprob = self._logprobs[min(n, len(self._logprobs) - 1)] if p.logprobs else None
        yield StreamDone(
            ChatResult(
                text="".join(parts),
                usage=Usage(prompt, used),
                model=self._name,
                finish_reason=finish,
                logprob_mean=logprob,
                ttft_s=ttft if ttft is not None else time.perf_counter() - started,
                duration_s=max(time.perf_counter() - started, 1e-6),
            )
        )

    @staticmethod
    def tokens(text: str) -> list[str]:
        """Words with their leading whitespace: the fake's tokens."""
        import re

        return re.findall(r"\s*\S+", text) or ([text] if text else [])

    def generate(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> ChatResult:
        return collect_stream(self._run(messages, params, overrides))

    def stream(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> Iterator[StreamEvent]:
        normalize_messages(messages)
        return self._run(messages, params, overrides)

    async def agenerate(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> ChatResult:
        await asyncio.sleep(0)
        return self.generate(messages, params, **overrides)

    def astream(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> AsyncIterator[StreamEvent]:
        normalize_messages(messages)
        return iterate_in_thread(lambda _cancel: self._run(messages, params, overrides))


# --------------------------------------------------------------------------- suite


class City(BaseModel):
    name: str
    country: str
    population: int


SHORT_PROMPT = "Name three colours of the rainbow."
LONG_ANSWER_PROMPT = "Write a long story about a lighthouse keeper and a storm."
COUNT_PROMPT = "Count from 1 to 20, separated by commas, on one line."


def _params(**kw: Any) -> SamplingParams:
    return SamplingParams(**{"temperature": 0.0, "max_tokens": 16, **kw})


class ChatModelConformance:
    """Inherit in a ``Test...`` class and provide a ``chat_model`` fixture."""

    #: The provider reports exact token counts (not an estimate).
    exact_usage: bool = True
    #: A fixed seed at temperature > 0 reproduces the text (False: a seed is still accepted).
    supports_seed: bool = True
    #: ``logprobs=True`` fills ``logprob_mean`` (False: it stays None, never a made-up value).
    supports_logprobs: bool = True

    @pytest.fixture
    def chat_model(self) -> ChatModel:  # pragma: no cover - subclasses override
        raise NotImplementedError("subclasses supply a chat_model fixture")

    def check_result(self, model: ChatModel, result: ChatResult, max_tokens: int) -> None:
        assert isinstance(result, ChatResult)
        assert isinstance(result.text, str)
        assert result.model == model.name
        assert result.finish_reason in {"stop", "length"}
        assert result.usage.prompt_tokens > 0
        assert result.usage.completion_tokens > 0
        if self.exact_usage:
            assert not result.usage.estimated
            assert result.usage.completion_tokens <= max_tokens
        assert result.duration_s > 0

    def test_satisfies_protocol(self, chat_model: ChatModel) -> None:
        assert isinstance(chat_model, ChatModel)
        assert isinstance(chat_model.name, str) and chat_model.name
        assert "sk-" not in repr(chat_model)

    def test_generate(self, chat_model: ChatModel) -> None:
        result = chat_model.generate(SHORT_PROMPT, _params())
        self.check_result(chat_model, result, 16)
        assert result.text.strip()

    def test_accepts_message_lists_and_overrides(self, chat_model: ChatModel) -> None:
        messages = [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": SHORT_PROMPT},
        ]
        result = chat_model.generate(messages, max_tokens=8, temperature=0.0)
        self.check_result(chat_model, result, 8)

    def test_max_tokens_caps_the_answer(self, chat_model: ChatModel) -> None:
        result = chat_model.generate(LONG_ANSWER_PROMPT, _params(max_tokens=4))
        self.check_result(chat_model, result, 4)
        assert result.finish_reason == "length"

    def test_stop_sequence_is_not_returned(self, chat_model: ChatModel) -> None:
        result = chat_model.generate(COUNT_PROMPT, _params(max_tokens=24, stop=(",", "\n")))
        assert "," not in result.text and "\n" not in result.text

    def test_stream(self, chat_model: ChatModel) -> None:
        events = list(chat_model.stream(LONG_ANSWER_PROMPT, _params(max_tokens=12)))
        assert isinstance(events[-1], StreamDone)
        assert all(isinstance(e, TokenDelta) for e in events[:-1])
        assert len(events) >= 3
        result = events[-1].result
        self.check_result(chat_model, result, 12)
        assert "".join(e.text for e in events[:-1]) == result.text
        assert result.ttft_s is not None and 0 < result.ttft_s <= result.duration_s

    def test_agenerate(self, chat_model: ChatModel) -> None:
        result = asyncio.run(chat_model.agenerate(SHORT_PROMPT, _params(max_tokens=8)))
        self.check_result(chat_model, result, 8)

    def test_astream(self, chat_model: ChatModel) -> None:
        async def run() -> list[StreamEvent]:
            return [e async for e in chat_model.astream(LONG_ANSWER_PROMPT, _params(max_tokens=8))]

        events = asyncio.run(run())
        assert isinstance(events[-1], StreamDone)
        assert "".join(e.text for e in events[:-1] if isinstance(e, TokenDelta)) == (
            events[-1].result.text
        )
        self.check_result(chat_model, events[-1].result, 8)

    def test_concurrent_async_calls(self, chat_model: ChatModel) -> None:
        async def run() -> list[ChatResult]:
            calls = [chat_model.agenerate(SHORT_PROMPT, _params(max_tokens=6)) for _ in range(2)]
            return list(await asyncio.gather(*calls))

        first, second = asyncio.run(run())
        assert first.text == second.text  # temperature 0: the lock kept the calls apart
        self.check_result(chat_model, first, 6)

    def test_seed_makes_sampling_repeatable(self, chat_model: ChatModel) -> None:
        params = SamplingParams(temperature=1.0, max_tokens=10, seed=1234)
        first = chat_model.generate(LONG_ANSWER_PROMPT, params)
        self.check_result(chat_model, first, 10)  # a seed is accepted either way
        if self.supports_seed:
            assert chat_model.generate(LONG_ANSWER_PROMPT, params).text == first.text

    def test_logprobs(self, chat_model: ChatModel) -> None:
        result = chat_model.generate(SHORT_PROMPT, _params(max_tokens=6, logprobs=True))
        if self.supports_logprobs:
            assert result.logprob_mean is not None and result.logprob_mean <= 0.0
        else:  # declared unsupported: the provider must say "unknown", not invent a number
            assert result.logprob_mean is None

    def test_structured_output(self, chat_model: ChatModel) -> None:
        done = generate_structured(
            chat_model.generate,
            "Give the city Paris as JSON: its name, its country and its population.",
            City,
            _params(max_tokens=60),
        )
        assert isinstance(done.value, City)
        assert done.usage.completion_tokens > 0

    def test_rejects_bad_messages(self, chat_model: ChatModel) -> None:
        with pytest.raises(ConfigError):
            chat_model.generate([{"role": "robot", "content": "beep"}])
        with pytest.raises(ConfigError):
            chat_model.generate(SHORT_PROMPT, max_tokens=0)


__all__ = ["ChatModelConformance", "City", "FakeChatModel", "example_for_schema"]
