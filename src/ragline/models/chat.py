"""The chat-model contract shared by every provider: typed requests, results and errors.

A :class:`ChatModel` answers a list of chat messages four ways: ``generate`` / ``agenerate``
return one :class:`ChatResult`; ``stream`` / ``astream`` yield :class:`TokenDelta` events and
end with exactly one :class:`StreamDone` that carries the full result (usage included).

Providers (``ragline.models.llamacpp``, ``ragline.models.openai_compat``) raise only
:class:`ragline.errors.ModelError` subclasses. The transient ones (worth a retry) are
:class:`ModelUnavailableError` and :class:`ModelTimeoutError` and their subclasses here;
:func:`is_transient` and :func:`retry_after_of` are what the gateway's retry loop asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol, TypeAlias, TypeVar, runtime_checkable

from ragline.errors import (  # re-exported: the provider errors belong to the one error tree
    ConfigError,
    ContextLengthError,
    MalformedResponseError,
    ModelTimeoutError,
    ModelUnavailableError,
    ProviderServerError,
    RequestRejectedError,
    StreamInterruptedError,
)
from ragline.types import Attempt, ChatResult, Usage, sum_usage  # re-exported

#: A prompt: a plain user message, or OpenAI-style ``{"role": ..., "content": ...}`` dicts.
Messages: TypeAlias = str | Sequence[Mapping[str, Any]]

ROLES = frozenset({"system", "user", "assistant", "tool"})


def normalize_messages(messages: Messages) -> list[dict[str, str]]:
    """Return ``messages`` as a fresh list of ``{"role", "content"}`` dicts, validated."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out: list[dict[str, str]] = []
    for i, m in enumerate(messages):
        role, content = m.get("role"), m.get("content")
        if role not in ROLES or not isinstance(content, str):
            raise ConfigError(
                f"message {i} is not a chat message: {dict(m)!r}",
                hint=f"use {{'role': one of {sorted(ROLES)}, 'content': str}}",
            )
        out.append({"role": str(role), "content": content})
    if not out:
        raise ConfigError("no messages to send", hint="pass a prompt string or a message list")
    return out


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How to decode. ``None`` in ``top_k`` / ``min_p`` / ``seed`` means the provider default.

    ``json_schema`` asks for constrained decoding (a llama.cpp grammar, or ``response_format``
    on an OpenAI-compatible server); ``logprobs`` asks for token log-probabilities, which
    fill :attr:`ChatResult.logprob_mean`; ``timeout_s`` bounds the whole call.
    """

    temperature: float = 0.2
    top_p: float = 0.95
    top_k: int | None = None
    min_p: float | None = None
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: bool = False
    json_schema: Mapping[str, Any] | None = None
    timeout_s: float | None = None
    #: OpenAI-format function definitions (``{"type": "function", "function": {...}}``) for
    #: a provider's own tools API; the reply's calls come back in ``ChatResult.tool_calls``.
    #: Local models get function calling from ``ragline.agent.calling`` (grammar) instead.
    tools: tuple[Mapping[str, Any], ...] | None = None
    #: ``"auto"``, ``"none"``, ``"required"`` or ``{"type": "function", "function":
    #: {"name": ...}}``; None: the provider's default.
    tool_choice: str | Mapping[str, Any] | None = None
    #: Several calls in one reply (None: the provider's default).
    parallel_tool_calls: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):  # a lone string is one stop sequence, not its chars
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))
        if self.tools is not None:
            object.__setattr__(self, "tools", tuple(self.tools))
        problems = []
        if not 0.0 <= self.temperature <= 5.0:
            problems.append("temperature must be in [0, 5]")
        if not 0.0 < self.top_p <= 1.0:
            problems.append("top_p must be in (0, 1]")
        if self.top_k is not None and self.top_k < 0:
            problems.append("top_k must be >= 0")
        if self.min_p is not None and not 0.0 <= self.min_p <= 1.0:
            problems.append("min_p must be in [0, 1]")
        if self.max_tokens < 1:
            problems.append("max_tokens must be >= 1")
        if any(not s for s in self.stop):
            problems.append("stop sequences must be non-empty")
        if self.timeout_s is not None and self.timeout_s <= 0:
            problems.append("timeout_s must be > 0")
        if problems:
            raise ConfigError("invalid sampling parameters: " + "; ".join(problems))

    def with_(self, **changes: Any) -> SamplingParams:
        """A copy with ``changes`` applied (unknown names raise :class:`ConfigError`)."""
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ConfigError(
                f"unknown sampling parameter(s): {', '.join(sorted(unknown))}",
                hint=f"known: {', '.join(self.__dataclass_fields__)}",
            )
        return replace(self, **changes)


def resolve_params(params: SamplingParams | None, overrides: Mapping[str, Any]) -> SamplingParams:
    """``params`` (or the defaults) with keyword ``overrides`` applied."""
    base = params if params is not None else SamplingParams()
    return base.with_(**overrides) if overrides else base


# --------------------------------------------------------------------------- results


# The stream events. :class:`TokenDelta` is *the* text delta of the whole package: a model's
# stream yields it, and the answer flow passes the same objects on as its draft (the answer
# vocabulary, ``ragline.answer.events``, re-exports it; this layer cannot import that one).
# Each event declares ``kind`` (its server-sent event name) and ``to_dict()`` (its payload).


@dataclass(frozen=True, slots=True)
class TokenDelta:
    """A piece of generated text, in order (usually one token): raw, unchecked."""

    kind: ClassVar[str] = "token"
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text}


@dataclass(frozen=True, slots=True)
class StreamDone:
    """The last event of every model stream: the whole result, with usage and timings."""

    kind: ClassVar[str] = "model_done"
    result: ChatResult

    @property
    def finish_reason(self) -> str:
        """Why the model stopped ("stop", "length")."""
        return self.result.finish_reason

    @property
    def model_finish_reason(self) -> str:
        return self.result.finish_reason

    @property
    def usage(self) -> Usage:
        return self.result.usage

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {"finish_reason": r.finish_reason, "usage": r.usage.to_dict(), "model": r.model}


StreamEvent: TypeAlias = TokenDelta | StreamDone


# --------------------------------------------------------------------------- protocol


@runtime_checkable
class ChatModel(Protocol):
    """What every chat provider (and the :class:`~ragline.models.gateway.Gateway`) offers.

    ``overrides`` are :class:`SamplingParams` fields applied on top of ``params``.
    """

    @property
    def name(self) -> str: ...

    def generate(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> ChatResult: ...

    async def agenerate(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> ChatResult: ...

    def stream(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> Iterator[StreamEvent]: ...

    def astream(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> AsyncIterator[StreamEvent]: ...


# --------------------------------------------------------------------------- errors


def is_transient(exc: BaseException) -> bool:
    """Whether a retry of the same model may succeed."""
    return isinstance(exc, ModelUnavailableError | ModelTimeoutError)


def retry_after_of(exc: BaseException) -> float | None:
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None


# --------------------------------------------------------------------------- helpers


class StopMatcher:
    """Cuts generated text at the first stop sequence, holding back a possible partial match.

    Feed text pieces with :meth:`push`; it returns what may be emitted now. When a stop
    sequence completes, :attr:`stopped` turns True and nothing after it is ever returned.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [s for s in stops if s]
        self._pending = ""
        self.stopped = False

    def push(self, piece: str) -> str:
        if self.stopped:
            return ""
        if not self._stops:
            return piece
        buf = self._pending + piece
        cut = min((i for i in (buf.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._pending = ""
            return buf[:cut]
        hold = 0
        for s in self._stops:
            for n in range(min(len(s) - 1, len(buf)), 0, -1):
                if buf.endswith(s[:n]):
                    hold = max(hold, n)
                    break
        self._pending = buf[len(buf) - hold :] if hold else ""
        return buf[: len(buf) - hold] if hold else buf

    def flush(self) -> str:
        """At the end of generation: the held-back text that never became a stop sequence."""
        out, self._pending = ("" if self.stopped else self._pending), ""
        return out


def mean_or_none(values: Sequence[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def collect_stream(events: Iterable[StreamEvent]) -> ChatResult:
    """Drain a stream and return its final result."""
    for event in events:
        if isinstance(event, StreamDone):
            return event.result
    raise StreamInterruptedError("the stream ended without a final result")


async def acollect_stream(events: AsyncIterator[StreamEvent]) -> ChatResult:
    async for event in events:
        if isinstance(event, StreamDone):
            return event.result
    raise StreamInterruptedError("the stream ended without a final result")


_T = TypeVar("_T")

#: Items a worker may produce ahead of its consumer before it waits (backpressure).
MAX_PENDING = 64


async def iterate_in_thread(
    factory: Callable[[threading.Event], Iterator[_T]],
    *,
    on_stop: Callable[[bool], None] | None = None,
    max_pending: int = MAX_PENDING,
    thread_name: str = "ragline-stream",
) -> AsyncIterator[_T]:
    """The items of a blocking iterator, produced in a worker thread, as an async iterator.

    The one bridge from blocking generators (a model's token stream, an answer's events) to
    the event loop, for the providers' ``astream`` and the server alike:

    * ``factory(cancel)`` is called in the worker thread; ``cancel`` (a
      :class:`threading.Event`) is set as soon as the consumer stops early (break,
      ``aclose``, cancellation), so a long step can check it and stop mid-way.
    * When the consumer stops, the worker pulls no further item and *closes* the iterator
      (its ``finally`` blocks run: llama.cpp gives back its lock, an HTTP stream closes).
      ``on_stop(cancelled)`` then runs in the worker. Closing this async iterator returns
      only once the worker is done, so the model is idle when it returns (the wait is
      shielded from cancellation).
    * An exception raised by the iterator (or by ``factory`` or ``on_stop``) is raised here.
    * At most ``max_pending`` items wait unread; then the worker waits for the consumer.
    """
    import anyio  # the shield holds under anyio's cancel scopes too (Starlette's, httpx's)

    loop = asyncio.get_running_loop()
    items: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    credits = threading.Semaphore(max(1, max_pending))
    cancel = threading.Event()
    stopped = loop.create_future()

    def post(kind: str, value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody listens
            loop.call_soon_threadsafe(items.put_nowait, (kind, value))

    def finished() -> None:
        if not stopped.done():
            stopped.set_result(None)

    def work() -> None:
        try:
            source: Iterator[_T] | None = None
            cancelled = False
            try:
                source = factory(cancel)
                for item in source:
                    credits.acquire()  # backpressure: wait while max_pending items are unread
                    if cancel.is_set():
                        cancelled = True
                        break
                    post("item", item)
                else:
                    cancelled = cancel.is_set()
            finally:
                close = getattr(source, "close", None)
                if callable(close):
                    with contextlib.suppress(Exception):  # never hide the real outcome
                        close()
                if on_stop is not None:
                    on_stop(cancelled)
        except BaseException as exc:  # handed to the consumer, raised there
            post("error", exc)
        finally:
            post("end", None)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(finished)

    threading.Thread(target=work, name=thread_name, daemon=True).start()
    try:
        while True:
            kind, value = await items.get()
            if kind == "item":
                credits.release()
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        cancel.set()
        credits.release()  # wakes a worker waiting for room, which then sees ``cancel``
        with anyio.CancelScope(shield=True):
            await stopped


__all__ = [
    "MAX_PENDING",
    "Attempt",
    "ChatModel",
    "ChatResult",
    "ContextLengthError",
    "MalformedResponseError",
    "Messages",
    "ProviderServerError",
    "RequestRejectedError",
    "SamplingParams",
    "StopMatcher",
    "StreamDone",
    "StreamEvent",
    "StreamInterruptedError",
    "TokenDelta",
    "Usage",
    "acollect_stream",
    "collect_stream",
    "is_transient",
    "iterate_in_thread",
    "mean_or_none",
    "normalize_messages",
    "resolve_params",
    "retry_after_of",
    "sum_usage",
]
