"""Tracing chat-model calls: a ``generation`` span per call, GenAI semantic conventions.

The gateway is traced through the decorators here (``Gateway(settings, tracer=...)``); any
other :class:`~ragline.models.chat.ChatModel` can be wrapped:
``model = TracedChatModel(model, tracer)``. Either way each ``generate`` / ``agenerate`` /
``stream`` / ``astream`` call records a ``generation`` span — a trace of its own when no
trace is active, a step of the active one (an answer, a chat turn) otherwise — with the
model, sampling parameters, prompt, usage, cost, finish reason, TTFT and TPOT.

By hand, inside your own code::

    with tracer.trace("generation", kind="client") as span:
        start_generation(span, model_name, params, messages)
        result = gateway.generate(messages, params)
        record_chat_result(span, result)

For streams the time to the first token and between tokens are measured as the caller sees
them, and an ``early_stop`` implicit signal is recorded when the caller stops reading before
the end (closes the iterator, breaks out of the loop, cancels the task). Chat types are read
by attribute, so this module does not import the model layer.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Required, TypedDict, Unpack

from ragline.trace import semconv as sc
from ragline.trace.tracer import AnySpan, AnyTracer


class GenerationRequest(TypedDict, total=False):
    """What a ``generation`` span records of the request (see :func:`start_generation`)."""

    model: Required[str]
    params: Any
    messages: Any
    overrides: Mapping[str, Any] | None


def provider_of(model: str) -> str:
    """``openai:gpt-4o`` -> ``openai``; embedded llama.cpp names -> ``llama.cpp``."""
    head = model.split(":", 1)[0]
    if head in ("embedded", "smollm2", "llamacpp"):
        return "llama.cpp"
    return head


def start_generation(
    span: AnySpan,
    model: str,
    params: Any = None,
    messages: Any = None,
    overrides: Mapping[str, Any] | None = None,
) -> None:
    """Request attributes of a generation span: operation, model, sampling, the prompt.

    ``overrides`` are per-call sampling keywords that win over ``params``.
    """
    if not span.recording:
        return
    overrides = overrides or {}
    attrs: dict[str, Any] = {
        sc.GEN_AI_OPERATION: "chat",
        sc.GEN_AI_REQUEST_MODEL: model,
        sc.GEN_AI_PROVIDER: provider_of(model),
    }
    if params is not None or overrides:
        for key, field in (
            (sc.GEN_AI_TEMPERATURE, "temperature"),
            (sc.GEN_AI_TOP_P, "top_p"),
            (sc.GEN_AI_MAX_TOKENS, "max_tokens"),
            (sc.GEN_AI_SEED, "seed"),
        ):
            value = overrides.get(field, getattr(params, field, None))
            if value is not None:
                attrs[key] = value
    if messages is not None:
        attrs[sc.INPUT] = messages if isinstance(messages, str) else [dict(m) for m in messages]
        if span.is_root:  # a gateway call of its own: list it by its question
            attrs[sc.QUERY] = messages_preview(messages)
    span.update(attrs)


def record_chat_result(span: AnySpan, result: Any, *, first_token_ns: int | None = None) -> None:
    """Response attributes from a ``ChatResult``: model, usage, cost, TTFT/TPOT, finish.

    ``first_token_ns`` is when the first token reached the caller (streams); otherwise the
    result's own ``ttft_s`` is used when the provider reported one.
    """
    if not span.recording:
        return
    usage = getattr(result, "usage", None)
    out_tokens = getattr(usage, "completion_tokens", None)
    attrs: dict[str, Any] = {
        sc.GEN_AI_RESPONSE_MODEL: getattr(result, "model", None),
        sc.GEN_AI_INPUT_TOKENS: getattr(usage, "prompt_tokens", None),
        sc.GEN_AI_OUTPUT_TOKENS: out_tokens,
        sc.GEN_AI_FINISH_REASONS: [getattr(result, "finish_reason", "stop")],
        sc.COST: getattr(result, "cost", None),
        sc.OUTPUT: getattr(result, "text", None),
        "usage_estimated": getattr(usage, "estimated", None),
    }
    attempts = getattr(result, "attempts", ()) or ()
    if len(attempts) > 1:
        attrs["attempts"] = [getattr(a, "to_dict", lambda a=a: str(a))() for a in attempts]
    if first_token_ns is None:
        ttft = getattr(result, "ttft_s", None)
        if ttft is not None and span.trace_id is not None:
            first_token_ns = span.start_ns + int(ttft * 1e9)  # type: ignore[union-attr]
    if first_token_ns is not None:
        attrs[sc.FIRST_TOKEN_NS] = first_token_ns
        attrs[sc.TTFT] = (first_token_ns - span.start_ns) / 1e9  # type: ignore[union-attr]
        if out_tokens and out_tokens > 1:
            attrs[sc.TPOT] = (span.now_ns() - first_token_ns) / 1e9 / (out_tokens - 1)
    span.update({k: v for k, v in attrs.items() if v is not None})


class _StreamTimer:
    """Times a stream as the caller consumes it, in a ``generation`` span of its own.

    ``with _StreamTimer.start(...) as timer:`` around the loop that relays the events: an
    exception records the error, leaving early (the caller stopped reading) the early stop.
    """

    def __init__(self, span: AnySpan) -> None:
        self.span = span
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.tokens = 0
        self.gaps: list[int] = []
        self.done = False

    def on_event(self, event: Any) -> Any:
        """Time one event on its way to the caller; returns it unchanged."""
        now = self.span.now_ns()
        if hasattr(event, "result"):  # StreamDone
            self.done = True
            record_chat_result(self.span, event.result, first_token_ns=self.first_ns or now)
            if self.gaps:
                self.span.set(itl_mean_s=sum(self.gaps) / len(self.gaps) / 1e9)
            return event
        if self.first_ns is None:
            self.first_ns = now
        elif self.last_ns is not None:
            self.gaps.append(now - self.last_ns)
        self.last_ns = now
        self.tokens += 1
        return event

    @classmethod
    def start(cls, tracer: AnyTracer, request: GenerationRequest) -> _StreamTimer:
        span = tracer.start(sc.GENERATION, kind="client")
        start_generation(span, **request)
        return cls(span)

    def __enter__(self) -> _StreamTimer:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, Exception):  # not GeneratorExit, not a cancelled task
            self.failed(exc)
        self.finish()

    def failed(self, exc: BaseException) -> None:
        self.done = True
        self.span.record_error(exc)

    def finish(self) -> None:
        """End the span; before the final event (and without an error) the caller stopped
        reading: record the early stop."""
        if not self.done and self.span.recording:
            self.span.set(stream_cancelled=True, tokens_emitted=self.tokens)
            if self.first_ns is not None:
                self.span.update({sc.FIRST_TOKEN_NS: self.first_ns})
            self.span.add_signal("early_stop", value=float(self.tokens))
        self.done = True
        self.span.end()


@contextlib.contextmanager
def _generation(tracer: AnyTracer, request: GenerationRequest) -> Iterator[AnySpan]:
    with tracer.trace(sc.GENERATION, kind="client") as span:
        start_generation(span, **request)
        yield span


def _record_generation(span: AnySpan, result: Any) -> Any:
    if hasattr(result, "usage"):
        record_chat_result(span, result)
    else:  # a structured value: its usage stays inside the structured result
        span.set(structured=True)
    return result


# The four tracers: each opens the span, does its I/O (call, await, for, async for) and
# hands what came back to the shared parts above.


def trace_generate(
    tracer: AnyTracer, call: Callable[[], Any], **request: Unpack[GenerationRequest]
) -> Any:
    """Run ``call`` (one generation) inside a ``generation`` span."""
    with _generation(tracer, request) as span:
        return _record_generation(span, call())


async def atrace_generate(
    tracer: AnyTracer, call: Callable[[], Awaitable[Any]], **request: Unpack[GenerationRequest]
) -> Any:
    """The async twin of :func:`trace_generate`."""
    with _generation(tracer, request) as span:
        return _record_generation(span, await call())


def trace_stream(
    tracer: AnyTracer, events: Iterable[Any], **request: Unpack[GenerationRequest]
) -> Iterator[Any]:
    """Yield ``events`` unchanged, timing them in a ``generation`` span."""
    with _StreamTimer.start(tracer, request) as timer:
        for event in events:
            yield timer.on_event(event)


async def atrace_stream(
    tracer: AnyTracer, events: AsyncIterable[Any], **request: Unpack[GenerationRequest]
) -> AsyncIterator[Any]:
    """The async twin of :func:`trace_stream`."""
    with _StreamTimer.start(tracer, request) as timer:
        async for event in events:
            yield timer.on_event(event)


# Decorators for a chat model's own methods; the instance needs ``tracer`` and ``name``
# (and may have ``defaults``: its default sampling parameters).


def _tracer_of(owner: Any) -> AnyTracer | None:
    tracer = getattr(owner, "tracer", None)
    return tracer if tracer is not None and tracer.enabled else None


def _span_args(
    owner: Any, messages: Any, params: Any, kwargs: Mapping[str, Any]
) -> GenerationRequest:
    """The request attributes of a decorated call: ``model=`` in the call wins over the
    instance's name, its own ``params`` over the instance's ``defaults``."""
    return {
        "model": str(kwargs.get("model") or owner.name),
        "params": params or getattr(owner, "defaults", None),
        "messages": messages,
        "overrides": kwargs,
    }


def traced_generate(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, messages: Any, params: Any = None, **kwargs: Any) -> Any:
        tracer = _tracer_of(self)
        if tracer is None:
            return method(self, messages, params, **kwargs)
        return trace_generate(
            tracer,
            lambda: method(self, messages, params, **kwargs),
            **_span_args(self, messages, params, kwargs),
        )

    return wrapper


def traced_agenerate(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def wrapper(self: Any, messages: Any, params: Any = None, **kwargs: Any) -> Any:
        tracer = _tracer_of(self)
        if tracer is None:
            return await method(self, messages, params, **kwargs)
        return await atrace_generate(
            tracer,
            lambda: method(self, messages, params, **kwargs),
            **_span_args(self, messages, params, kwargs),
        )

    return wrapper


def _traced_events(wrap: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator that hands a streaming method's events to ``wrap`` (sync or async)."""

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: Any, messages: Any, params: Any = None, **kwargs: Any) -> Any:
            tracer = _tracer_of(self)
            events = method(self, messages, params, **kwargs)
            if tracer is None:
                return events
            return wrap(
                tracer,
                events,
                **_span_args(self, messages, params, kwargs),
            )

        return wrapper

    return decorate


#: Decorators for ``stream`` / ``astream``: a ``generation`` span around the events.
traced_stream = _traced_events(trace_stream)
traced_astream = _traced_events(atrace_stream)


class TracedChatModel:
    """Any chat model, with a ``generation`` span per call."""

    def __init__(self, model: Any, tracer: AnyTracer) -> None:
        self.inner = model
        self.tracer = tracer

    @property
    def name(self) -> str:
        return str(self.inner.name)

    @property
    def defaults(self) -> Any:
        return getattr(self.inner, "defaults", None)

    def __getattr__(self, item: str) -> Any:  # close(), chain(), price() … pass through
        return getattr(self.inner, item)

    @traced_generate
    def generate(self, messages: Any, params: Any = None, **kwargs: Any) -> Any:
        return self.inner.generate(messages, params, **kwargs)

    @traced_agenerate
    async def agenerate(self, messages: Any, params: Any = None, **kwargs: Any) -> Any:
        return await self.inner.agenerate(messages, params, **kwargs)

    @traced_stream
    def stream(self, messages: Any, params: Any = None, **kwargs: Any) -> Iterator[Any]:
        return self.inner.stream(messages, params, **kwargs)

    @traced_astream
    def astream(self, messages: Any, params: Any = None, **kwargs: Any) -> AsyncIterator[Any]:
        return self.inner.astream(messages, params, **kwargs)


def messages_preview(messages: Sequence[Mapping[str, Any]] | str) -> str:
    """The last user message (what a trace list shows as the query of a gateway call)."""
    if isinstance(messages, str):
        return messages
    for m in reversed(list(messages)):
        if m.get("role") == "user":
            return str(m.get("content", ""))
    return ""


__all__ = [
    "GenerationRequest",
    "TracedChatModel",
    "atrace_generate",
    "atrace_stream",
    "messages_preview",
    "provider_of",
    "record_chat_result",
    "start_generation",
    "trace_generate",
    "trace_stream",
    "traced_agenerate",
    "traced_astream",
    "traced_generate",
    "traced_stream",
]
