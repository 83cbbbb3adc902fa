"""The model gateway: one :class:`ChatModel` in front of every configured model.

``Gateway(settings)`` resolves model names to providers, then wraps each call in:

* **retries** on transient errors (HTTP 5xx/429, connection failures, timeouts, malformed
  replies, cut streams) with exponential backoff and jitter, honouring ``Retry-After``;
* a **fallback chain**: when a model fails for good, the next one in
  ``settings.gateway.fallback`` is tried;
* **pricing** from the user's price table (never from a provider's cost field);
* **structured output** (``generate(..., schema=T) -> T``) and **best-of-N** sampling
  (``samples=N``: the candidate with the highest score wins, by default the mean token
  log-probability).

Model names: ``embedded`` (the configured GGUF, default SmolLM2), ``smollm2`` (always
SmolLM2), ``llamacpp:<path.gguf>``, ``<endpoint>:<model>`` or ``<endpoint>`` for endpoints
in ``settings.gateway.endpoints``; ``openai`` is built in (``OPENAI_API_KEY``).

Failure: a single model raises its own typed error; a chain of several raises
:class:`GenerationError`. Either way ``exc.attempts`` lists every :class:`Attempt`.
A stream is retried or falls back only until its first token reached the caller.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, overload, runtime_checkable

import httpx

from ragline.config import GatewaySettings, Settings, load_settings
from ragline.errors import (
    ConfigError,
    GenerationError,
    MissingDependencyError,
    ModelError,
    RaglineError,
)
from ragline.models.chat import (
    Attempt,
    ChatModel,
    ChatResult,
    Messages,
    SamplingParams,
    StreamDone,
    StreamEvent,
    StreamInterruptedError,
    is_transient,
    normalize_messages,
    resolve_params,
    retry_after_of,
    sum_usage,
)
from ragline.models.pricing import PriceTable
from ragline.models.structured import StructuredLoop, StructuredResult, adrive, drive
from ragline.trace.genai import traced_agenerate, traced_astream, traced_generate, traced_stream
from ragline.trace.tracer import NOOP_TRACER, AnyTracer

log = logging.getLogger(__name__)
T = TypeVar("T")

EMBEDDED_NAMES = frozenset({"embedded", "smollm2", "llamacpp"})
# A model fails over to the next one on these; anything else is a bug and propagates.
_FAILURES = (ModelError, MissingDependencyError, ConfigError)


# --------------------------------------------------------------------------- policies


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries per model on transient errors: ``base * 2**n`` with equal jitter, capped.

    A ``Retry-After`` hint is honoured (waited at least); one longer than
    ``max_retry_after_s`` ends the retries of that model.
    """

    max_retries: int = 2
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 30.0

    def delay(self, retry: int, exc: BaseException, rng: random.Random) -> float | None:
        """Seconds to wait before retry number ``retry`` (0-based), or None: give up."""
        if retry >= self.max_retries or not is_transient(exc):
            return None
        cap = min(self.backoff_max_s, self.backoff_base_s * (2**retry))
        backoff = rng.uniform(cap / 2, cap) if cap > 0 else 0.0
        hint = retry_after_of(exc)
        if hint is not None:
            if hint > self.max_retry_after_s:
                return None
            return max(hint, backoff)
        return backoff


@runtime_checkable
class CandidateScorer(Protocol):
    """Scores a best-of-N candidate; the highest score wins."""

    def score(self, messages: list[dict[str, str]], result: ChatResult) -> float: ...


class MeanLogprobScorer:
    """The default scorer: mean token log-probability (candidates without one lose)."""

    def score(self, messages: list[dict[str, str]], result: ChatResult) -> float:
        return result.logprob_mean if result.logprob_mean is not None else float("-inf")


# --------------------------------------------------------------------------- chain state


class _ChainRun:
    """One call down the fallback chain, sans I/O: which model to try next, when to retry,
    what failed, what a stream's caller sees.

    All the decisions live here; the sync and async drivers (``_call`` / ``_acall``,
    ``stream`` / ``astream``) only do the I/O. They iterate :meth:`tries` (one model per
    try) and call the model, then report what happened: a reply to :meth:`succeeded`, each
    streamed event to :meth:`on_event` (and relay what it returns, until :attr:`finished`),
    a failure to :meth:`on_error` (which raises it, or says how long to wait before the
    next try). When the tries run out, :meth:`exhausted` is the error to raise.
    """

    def __init__(self, gateway: Gateway, model: str | None) -> None:
        self.gateway = gateway
        self.names = gateway.chain(model)
        self.attempts: list[Attempt] = []
        self.last: RaglineError | None = None
        # The current try: its chain name, its provider's name, its start, its retry number.
        self.name = ""
        self._current = ""
        self._t0 = 0.0
        self._retry = 0
        self._retrying = False
        # The current try's stream: text reached the caller / its end was relayed.
        self._emitted = False
        self.finished = False

    def tries(self) -> Iterator[ChatModel]:
        """The model of each try, in order: each model of the chain that can be created,
        again while :meth:`retry_delay` allows a retry. A try's clock starts as it is handed
        out (after the driver's backoff wait)."""
        for name in self.names:
            chat_model = self.resolve(name)
            if chat_model is None:
                continue
            self.name, self._current, self._retry = name, chat_model.name, 0
            self._retrying = True
            while self._retrying:
                self._retrying = False
                self._emitted = False
                self._t0 = time.perf_counter()
                yield chat_model

    def resolve(self, name: str) -> ChatModel | None:
        t0 = time.perf_counter()
        try:
            return self.gateway.resolve(name)
        except _FAILURES as exc:
            self.failed(name, exc, t0)
            return None

    def failed(self, name: str, exc: RaglineError, t0: float) -> None:
        self.attempts.append(Attempt.failed(name, exc, time.perf_counter() - t0))
        self.last = exc

    def failed_after_output(self, exc: RaglineError) -> None:
        """A stream failed after text reached the caller: record it, no retry or fallback."""
        self.failed(self._current, exc, self._t0)
        if isinstance(exc, ModelError):
            exc.attempts = list(self.attempts)

    def on_event(self, event: StreamEvent) -> StreamEvent:
        """What to relay for an event of the current try's stream: its end, carrying the
        gateway's result (priced, with every attempt), finishes the run; anything else is
        output that reached the caller (no retry after it)."""
        if isinstance(event, StreamDone):
            self.finished = True
            return StreamDone(self.succeeded(event.result))
        self._emitted = True
        return event

    def on_error(self, exc: RaglineError) -> float | None:
        """The current try failed with ``exc``: raise it when text already reached the
        caller (no silent restart), else see :meth:`retry_delay`."""
        if self._emitted:
            self.failed_after_output(exc)
            raise exc
        return self.retry_delay(exc)

    def retry_delay(self, exc: RaglineError) -> float | None:
        """Record the current try's failure: seconds to wait before retrying its model, or
        None: go on to the next model of the chain."""
        self.failed(self._current, exc, self._t0)
        delay = self.gateway.retry.delay(self._retry, exc, self.gateway.rng)
        log.warning(
            "model %s failed (%s: %s)%s",
            self._current,
            type(exc).__name__,
            exc.message,
            f"; retrying in {delay:.2f} s" if delay is not None else "",
        )
        self._retry += 1
        self._retrying = delay is not None
        return delay

    def succeeded(self, result: ChatResult) -> ChatResult:
        self.attempts.append(
            Attempt(model=self._current, duration_s=time.perf_counter() - self._t0)
        )
        return self.gateway.price(result).replace(attempts=tuple(self.attempts))

    def cut_short(self) -> StreamInterruptedError:
        return StreamInterruptedError(f"{self.name}: the stream ended without a result")

    def exhausted(self) -> RaglineError:
        last = self.last
        assert last is not None
        if len(self.names) == 1:
            if isinstance(last, ModelError):
                last.attempts = list(self.attempts)
            return last
        summary = "; ".join(f"{a.model}: {a.error_type}" for a in self.attempts if a.error)
        error = GenerationError(
            f"every model in the chain failed ({summary})",
            hint="see the attempts; check the servers, keys and gateway.fallback",
            attempts=self.attempts,
        )
        error.__cause__ = last
        return error


# --------------------------------------------------------------------------- gateway


class Gateway:
    """Resolves model names and adds retries, fallback, pricing, structure and best-of-N.

    ``models`` pre-registers providers by name (they win over resolution); ``transport``
    is handed to every HTTP provider (tests inject ``httpx.MockTransport``); ``sleep`` /
    ``asleep`` are how backoff waits (tests inject no-ops).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        models: Mapping[str, ChatModel] | None = None,
        price_table: PriceTable | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        tracer: AnyTracer | None = None,
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        # Each generate/stream call is a "generation" span (ragline.trace.genai).
        self.tracer: AnyTracer = tracer if tracer is not None else NOOP_TRACER
        cfg = self.config
        self.retry = RetryPolicy(
            cfg.max_retries, cfg.backoff_base_s, cfg.backoff_max_s, cfg.max_retry_after_s
        )
        self.defaults = SamplingParams(
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            top_k=cfg.top_k,
            min_p=cfg.min_p,
            max_tokens=cfg.max_tokens,
            seed=cfg.seed,
            timeout_s=cfg.timeout_s,
        )
        self.prices = price_table if price_table is not None else PriceTable.load(cfg.price_table)
        self._transport = transport
        self._async_transport = async_transport
        self._sleep = sleep
        self._asleep = asleep
        self.rng = rng or random.Random()
        self._models: dict[str, ChatModel] = dict(models or {})
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> Gateway:
        return cls(settings, **kwargs)

    @property
    def config(self) -> GatewaySettings:
        return self.settings.gateway

    @property
    def name(self) -> str:
        return self.config.default_model

    def __repr__(self) -> str:
        return f"Gateway(default={self.name!r}, fallback={list(self.config.fallback)!r})"

    def chain(self, model: str | None = None) -> list[str]:
        """The models tried for a call, in order: ``model`` (or the default), then fallbacks."""
        first = model or self.config.default_model
        return list(dict.fromkeys([first, *self.config.fallback]))

    # ------------------------------------------------------------------ resolution

    def resolve(self, name: str) -> ChatModel:
        """The provider for a model name (created once, then cached)."""
        with self._lock:
            if name not in self._models:
                self._models[name] = self._create(name)
            return self._models[name]

    def _create(self, name: str) -> ChatModel:
        """The provider registered for the name's prefix creates the model
        (:func:`ragline.models.providers.create_chat_model`, ``ragline.chat_models``)."""
        from ragline.models.providers import create_chat_model

        return create_chat_model(
            name,
            self.settings,
            self.defaults,
            transport=self._transport,
            async_transport=self._async_transport,
        )

    def price(self, result: ChatResult) -> ChatResult:
        """``result`` with its cost from the price table (None when the model is not listed)."""
        return result.replace(cost=self.prices.cost(result.model, result.usage))

    def close(self) -> None:
        for model in self._models.values():
            close = getattr(model, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ one call, chained

    def _params(
        self, params: SamplingParams | None, overrides: Mapping[str, Any]
    ) -> SamplingParams:
        return resolve_params(params or self.defaults, overrides)

    def _prepare(
        self, messages: Messages, params: SamplingParams | None, overrides: Mapping[str, Any]
    ) -> tuple[list[dict[str, str]], SamplingParams]:
        """Validate up front: bad messages or parameters are not worth a retry."""
        return normalize_messages(messages), self._params(params, overrides)

    # The drivers of _ChainRun: they call the models and wait, it decides.

    def _wait(self, delay: float | None) -> None:
        if delay is not None:
            self._sleep(delay)

    async def _await(self, delay: float | None) -> None:
        if delay is not None:
            await self._asleep(delay)

    def _call(self, messages: Messages, p: SamplingParams, model: str | None) -> ChatResult:
        run = _ChainRun(self, model)
        for chat_model in run.tries():
            try:
                result = chat_model.generate(messages, p)
            except _FAILURES as exc:
                self._wait(run.on_error(exc))
            else:
                return run.succeeded(result)
        raise run.exhausted()

    async def _acall(self, messages: Messages, p: SamplingParams, model: str | None) -> ChatResult:
        run = _ChainRun(self, model)
        for chat_model in run.tries():
            try:
                result = await chat_model.agenerate(messages, p)
            except _FAILURES as exc:
                await self._await(run.on_error(exc))
            else:
                return run.succeeded(result)
        raise run.exhausted()

    # ------------------------------------------------------------------ best-of-N

    @staticmethod
    def _check_schema(schema: type[Any] | None, samples: int | None) -> None:
        if schema is not None and (samples or 1) > 1:
            raise ConfigError("samples > 1 is not supported with a schema")

    def _plan(
        self,
        messages: Messages,
        params: SamplingParams | None,
        samples: int | None,
        overrides: Mapping[str, Any],
    ) -> tuple[list[dict[str, str]], list[SamplingParams]]:
        """The messages and the parameters of each call: one, or one per best-of-N candidate
        (each with log-probabilities, and its own seed when one is set)."""
        msgs, p = self._prepare(messages, params, overrides)
        n = samples if samples is not None else self.config.samples
        if n < 1:
            raise ConfigError("samples must be >= 1")
        if n == 1:
            return msgs, [p]
        return msgs, [
            p.with_(logprobs=True, seed=None if p.seed is None else p.seed + i) for i in range(n)
        ]

    def _structured(
        self,
        messages: Messages,
        schema: type[T],
        params: SamplingParams | None,
        max_reasks: int | None,
        overrides: Mapping[str, Any],
    ) -> StructuredLoop[T]:
        """The re-ask loop of a structured call (its model calls go down the chain)."""
        return StructuredLoop(
            messages,
            schema,
            self._params(params, overrides),
            max_reasks=self.config.structured_max_reasks if max_reasks is None else max_reasks,
        )

    @staticmethod
    def _pick(
        messages: Messages, candidates: Sequence[ChatResult], scorer: CandidateScorer | None
    ) -> ChatResult:
        """The one result, or the best-of-N winner with the candidates' totals."""
        if len(candidates) == 1:
            return candidates[0]
        judge = scorer or MeanLogprobScorer()
        msgs = normalize_messages(messages)
        scores = [judge.score(msgs, c) for c in candidates]
        best = candidates[max(range(len(candidates)), key=lambda i: (scores[i], -i))]
        costs = [c.cost for c in candidates]
        return best.replace(
            usage=sum_usage(c.usage for c in candidates),
            cost=None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
            duration_s=sum(c.duration_s for c in candidates),
            attempts=tuple(a for c in candidates for a in c.attempts),
            candidates=tuple(candidates),
        )

    # ------------------------------------------------------------------ ChatModel API

    @overload
    def generate(
        self,
        messages: Messages,
        params: SamplingParams | None = ...,
        *,
        schema: None = ...,
        model: str | None = ...,
        samples: int | None = ...,
        scorer: CandidateScorer | None = ...,
        **overrides: Any,
    ) -> ChatResult: ...

    @overload
    def generate(
        self,
        messages: Messages,
        params: SamplingParams | None = ...,
        *,
        schema: type[T],
        model: str | None = ...,
        samples: int | None = ...,
        scorer: CandidateScorer | None = ...,
        **overrides: Any,
    ) -> T: ...

    @traced_generate
    def generate(
        self,
        messages: Messages,
        params: SamplingParams | None = None,
        *,
        schema: type[Any] | None = None,
        model: str | None = None,
        samples: int | None = None,
        scorer: CandidateScorer | None = None,
        **overrides: Any,
    ) -> Any:
        """Generate with retries and fallback. ``schema=T`` returns a validated ``T``;
        ``samples=N`` draws N candidates and returns the best (all in ``.candidates``)."""
        self._check_schema(schema, samples)
        if schema is not None:
            return self.generate_structured(
                messages, schema, params, model=model, **overrides
            ).value
        msgs, plan = self._plan(messages, params, samples, overrides)
        return self._pick(msgs, [self._call(msgs, sp, model) for sp in plan], scorer)

    @traced_agenerate
    async def agenerate(
        self,
        messages: Messages,
        params: SamplingParams | None = None,
        *,
        schema: type[Any] | None = None,
        model: str | None = None,
        samples: int | None = None,
        scorer: CandidateScorer | None = None,
        **overrides: Any,
    ) -> Any:
        """The async twin of :meth:`generate` (best-of-N candidates run concurrently)."""
        self._check_schema(schema, samples)
        if schema is not None:
            done = await self.agenerate_structured(
                messages, schema, params, model=model, **overrides
            )
            return done.value
        msgs, plan = self._plan(messages, params, samples, overrides)
        candidates = await _concurrently([self._acall(msgs, sp, model) for sp in plan])
        return self._pick(msgs, candidates, scorer)

    def generate_structured(
        self,
        messages: Messages,
        schema: type[T],
        params: SamplingParams | None = None,
        *,
        model: str | None = None,
        max_reasks: int | None = None,
        **overrides: Any,
    ) -> StructuredResult[T]:
        """A validated ``schema`` instance with usage, cost and attempts (see ``structured``)."""
        loop = self._structured(messages, schema, params, max_reasks, overrides)
        return drive(loop.steps(), lambda msgs, sp: self._call(msgs, sp, model))

    async def agenerate_structured(
        self,
        messages: Messages,
        schema: type[T],
        params: SamplingParams | None = None,
        *,
        model: str | None = None,
        max_reasks: int | None = None,
        **overrides: Any,
    ) -> StructuredResult[T]:
        loop = self._structured(messages, schema, params, max_reasks, overrides)
        return await adrive(loop.steps(), lambda msgs, sp: self._acall(msgs, sp, model))

    @traced_stream
    def stream(
        self,
        messages: Messages,
        params: SamplingParams | None = None,
        *,
        model: str | None = None,
        **overrides: Any,
    ) -> Iterator[StreamEvent]:
        """Stream with retries and fallback until the first token; the end carries cost."""
        msgs, p = self._prepare(messages, params, overrides)
        run = _ChainRun(self, model)
        for chat_model in run.tries():
            try:
                for event in chat_model.stream(msgs, p):
                    yield run.on_event(event)
                    if run.finished:
                        return
                raise run.cut_short()
            except _FAILURES as exc:
                self._wait(run.on_error(exc))
        raise run.exhausted()

    @traced_astream
    async def astream(
        self,
        messages: Messages,
        params: SamplingParams | None = None,
        *,
        model: str | None = None,
        **overrides: Any,
    ) -> AsyncIterator[StreamEvent]:
        msgs, p = self._prepare(messages, params, overrides)
        run = _ChainRun(self, model)
        for chat_model in run.tries():
            try:
                async for event in chat_model.astream(msgs, p):
                    yield run.on_event(event)
                    if run.finished:
                        return
                raise run.cut_short()
            except _FAILURES as exc:
                await self._await(run.on_error(exc))
        raise run.exhausted()


async def _concurrently(calls: list[Awaitable[T]]) -> list[T]:
    """The results of ``calls``, run concurrently; a lone call is awaited as it is."""
    if len(calls) == 1:
        return [await calls[0]]
    return list(await asyncio.gather(*calls))


__all__ = ["CandidateScorer", "Gateway", "MeanLogprobScorer", "RetryPolicy"]
