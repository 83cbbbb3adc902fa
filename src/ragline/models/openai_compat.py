"""Chat over HTTP with any OpenAI-compatible server: vLLM, llama.cpp server, Ollama, OpenAI.

:class:`OpenAICompatChatModel` speaks ``POST {base_url}/chat/completions`` through httpx,
streaming (server-sent events) or not. The transport is injectable (``httpx.MockTransport``
in unit tests). One instance makes one attempt per call: retries, backoff and fallback are
the gateway's job, driven by the typed errors raised here:

* HTTP 408/429/5xx -> :class:`ProviderServerError` (with ``retry_after`` from the header)
* connection failures -> :class:`ModelUnavailableError`; timeouts -> :class:`ModelTimeoutError`
* a body that is not a chat completion -> :class:`MalformedResponseError`
* a stream cut before its end -> :class:`StreamInterruptedError`
* other 4xx -> :class:`RequestRejectedError` (not retried)

The API key is held as a :class:`pydantic.SecretStr`; it is sent only in the
``Authorization`` header and never appears in ``repr``, error messages or logs.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from ragline.errors import ModelError, ModelTimeoutError, ModelUnavailableError
from ragline.models.chat import (
    ChatResult,
    MalformedResponseError,
    Messages,
    ProviderServerError,
    RequestRejectedError,
    SamplingParams,
    StreamDone,
    StreamEvent,
    StreamInterruptedError,
    TokenDelta,
    Usage,
    mean_or_none,
    normalize_messages,
    resolve_params,
)
from ragline.types import ToolCall

log = logging.getLogger(__name__)

StructuredMode = Literal["json_schema", "json_object", "none"]
_TRANSIENT_STATUS = frozenset({408, 425, 429})


def estimate_tokens(text: str) -> int:
    """Rough token count (~4 characters a token) for servers that report no usage."""
    return max(1, (len(text) + 3) // 4) if text else 0


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


def _error_detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        text = response.text.strip()
        return text[:300]
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data))
        if isinstance(err, dict) and "message" in err:
            return str(err["message"])[:300]
        return json.dumps(err)[:300]
    return str(data)[:300]


def error_for_status(response: httpx.Response, model: str) -> ModelError:
    """The typed error for a non-2xx response (its body must already be read)."""
    status = response.status_code
    detail = _error_detail(response)
    message = f"{model}: HTTP {status} {response.reason_phrase}" + (f": {detail}" if detail else "")
    if status >= 500 or status in _TRANSIENT_STATUS:
        return ProviderServerError(
            message,
            status_code=status,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    if status in (401, 403):
        return RequestRejectedError(
            message, status_code=status, hint="check the endpoint's api_key or api_key_env"
        )
    if status == 404:
        return RequestRejectedError(
            message, status_code=status, hint="check the endpoint's base_url and model name"
        )
    return RequestRejectedError(message, status_code=status)


class _Accumulator:
    """Builds one :class:`ChatResult` from a JSON completion or from stream chunks."""

    def __init__(
        self, model: str, messages: list[dict[str, str]], started: float, limit_s: float
    ) -> None:
        self.model = model
        self.messages = messages
        self.started = started
        self.limit_s = limit_s
        self.parts: list[str] = []
        self.logprobs: list[float] = []
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.ttft: float | None = None
        self.chunks = 0
        self.done = False
        #: Function calls by index: ``[id, name, arguments text]`` (streamed in pieces).
        self.calls: dict[int, list[str]] = {}

    def _logprobs(self, choice: Mapping[str, Any]) -> None:
        lp = choice.get("logprobs")
        if isinstance(lp, Mapping):
            for item in lp.get("content") or ():
                if isinstance(item, Mapping) and isinstance(item.get("logprob"), int | float):
                    self.logprobs.append(float(item["logprob"]))

    def _usage(self, data: Mapping[str, Any]) -> None:
        u = data.get("usage")
        if isinstance(u, Mapping) and isinstance(u.get("completion_tokens"), int):
            self.usage = Usage(int(u.get("prompt_tokens") or 0), int(u["completion_tokens"]))

    def _choice(self, data: Any) -> Mapping[str, Any] | None:
        if not isinstance(data, Mapping):
            raise MalformedResponseError(f"{self.model}: response is not a JSON object")
        if "error" in data and not data.get("choices"):
            raise ProviderServerError(f"{self.model}: server error: {str(data['error'])[:300]}")
        choices = data.get("choices")
        if not isinstance(choices, list):
            raise MalformedResponseError(f"{self.model}: response has no 'choices' list")
        if not choices:
            return None  # a usage-only chunk
        if not isinstance(choices[0], Mapping):
            raise MalformedResponseError(f"{self.model}: malformed choice in response")
        return choices[0]

    def completion(self, data: Any) -> None:
        choice = self._choice(data)
        message = choice.get("message") if choice else None
        content = message.get("content") if isinstance(message, Mapping) else None
        if content is not None and not isinstance(content, str):
            raise MalformedResponseError(f"{self.model}: message content is not text")
        if choice is None or not isinstance(message, Mapping):
            raise MalformedResponseError(f"{self.model}: response has no message")
        self.parts.append(content or "")
        self._tool_calls(message.get("tool_calls"))
        self.finish_reason = choice.get("finish_reason") or "stop"
        self._logprobs(choice)
        self._usage(data)
        self.done = True

    def chunk(self, data: Any) -> str:
        """Digest one streamed chunk; return its text delta ('' when none)."""
        choice = self._choice(data)
        self._usage(data)
        if choice is None:
            return ""
        delta = choice.get("delta") or {}
        text = delta.get("content") if isinstance(delta, Mapping) else None
        if text is not None and not isinstance(text, str):
            raise MalformedResponseError(f"{self.model}: stream delta content is not text")
        self._logprobs(choice)
        if isinstance(delta, Mapping):
            self._tool_calls(delta.get("tool_calls"))
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        if text:
            if self.ttft is None:
                self.ttft = time.perf_counter() - self.started
            self.parts.append(text)
            self.chunks += 1
        return text or ""

    def _tool_calls(self, calls: Any) -> None:
        """Collect ``tool_calls`` of a message, or the pieces of a stream delta's (each
        piece names its ``index``; the arguments text arrives in parts)."""
        if calls is None:
            return
        if not isinstance(calls, list):
            raise MalformedResponseError(f"{self.model}: tool_calls is not a list")
        for pos, call in enumerate(calls):
            if not isinstance(call, Mapping):
                raise MalformedResponseError(f"{self.model}: malformed tool call")
            index = call.get("index", pos)
            slot = self.calls.setdefault(int(index), ["", "", ""])
            fn = call.get("function") or {}
            if call.get("id"):
                slot[0] = str(call["id"])
            if isinstance(fn, Mapping):
                slot[1] += str(fn.get("name") or "")
                args = fn.get("arguments")
                slot[2] += args if isinstance(args, str) else json.dumps(args or {})

    def tool_calls(self) -> tuple[ToolCall, ...]:
        out = []
        for _, (call_id, name, text) in sorted(self.calls.items()):
            try:
                args = json.loads(text or "{}")
            except json.JSONDecodeError:
                args = None
            if isinstance(args, dict):
                out.append(ToolCall(name=name, arguments=args, id=call_id or None))
            else:
                out.append(ToolCall(name=name, id=call_id or None, raw_arguments=text))
        return tuple(out)

    def line(self, raw: str) -> TokenDelta | None:
        """Digest one SSE line: the event to relay (a text delta), or None (no text; after
        ``[DONE]``, :meth:`more` says the stream is over)."""
        raw = raw.strip()
        if not raw or raw.startswith(":") or not raw.startswith("data:"):
            return None
        payload = raw[5:].strip()
        if payload == "[DONE]":
            self.done = True
            return None
        try:
            data = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise MalformedResponseError(f"{self.model}: malformed JSON in stream: {exc}") from exc
        text = self.chunk(data)
        return TokenDelta(text) if text else None

    def more(self) -> bool:
        """After a line: read on? False once ``[DONE]`` came; past the call's deadline
        (the caller's time included), :class:`ModelTimeoutError`."""
        if self.done:
            return False
        if time.perf_counter() - self.started > self.limit_s:
            raise ModelTimeoutError(f"{self.model}: no complete answer within {self.limit_s:g} s")
        return True

    def result(self) -> ChatResult:
        text = "".join(self.parts)
        if not self.done and self.finish_reason is None:
            raise StreamInterruptedError(
                f"{self.model}: the stream ended before the response was complete "
                f"({len(text)} characters received)"
            )
        usage = self.usage
        if usage is None:  # servers that do not honour stream_options.include_usage
            prompt = sum(estimate_tokens(m["content"]) + 4 for m in self.messages)
            usage = Usage(prompt, self.chunks or estimate_tokens(text), estimated=True)
        return ChatResult(
            text=text,
            usage=usage,
            model=self.model,
            finish_reason=self.finish_reason or "stop",
            logprob_mean=mean_or_none(self.logprobs),
            ttft_s=self.ttft,
            duration_s=time.perf_counter() - self.started,
            tool_calls=self.tool_calls(),
        )


class OpenAICompatChatModel:
    """One model on one OpenAI-compatible endpoint. Implements :class:`ChatModel`."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | SecretStr | None = None,
        name: str | None = None,
        structured_output: StructuredMode = "json_schema",
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 60.0,
        defaults: SamplingParams | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._name = name or f"openai:{model}"
        self._api_key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self.structured_output: StructuredMode = structured_output
        self._headers = dict(headers or {})
        self.timeout_s = timeout_s
        self.defaults = defaults or SamplingParams()
        self._transport = transport
        # httpx.MockTransport serves both worlds: reuse a sync transport that is also async.
        if async_transport is None and isinstance(transport, httpx.AsyncBaseTransport):
            async_transport = transport
        self._async_transport = async_transport
        self._client: httpx.Client | None = None

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        key = "'**********'" if self._api_key is not None else "None"
        return (
            f"OpenAICompatChatModel(name={self._name!r}, base_url={self.base_url!r}, "
            f"model={self.model!r}, api_key={key})"
        )

    # ------------------------------------------------------------------ plumbing

    def _request_headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", **self._headers}
        if self._api_key is not None and self._api_key.get_secret_value():
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        return headers

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.base_url + "/", transport=self._transport, follow_redirects=False
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> OpenAICompatChatModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build_body(
        self, messages: list[dict[str, str]], params: SamplingParams, *, stream: bool
    ) -> dict[str, Any]:
        """The JSON request body (public so tests can check what is sent)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
        }
        # Non-standard sampling knobs: sent only when asked for (OpenAI rejects them).
        if params.top_k is not None:
            body["top_k"] = params.top_k
        if params.min_p is not None:
            body["min_p"] = params.min_p
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if params.logprobs:
            body["logprobs"] = True
        if params.json_schema is not None and self.structured_output != "none":
            schema = dict(params.json_schema)
            if self.structured_output == "json_schema":
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": str(schema.get("title") or "response")[:64],
                        "schema": schema,
                    },
                }
            else:
                body["response_format"] = {"type": "json_object", "schema": schema}
        if params.tools:
            body["tools"] = [dict(t) for t in params.tools]
            if params.tool_choice is not None:
                body["tool_choice"] = params.tool_choice
            if params.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = params.parallel_tool_calls
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def _prepare(
        self, messages: Messages, params: SamplingParams | None, overrides: Mapping[str, Any]
    ) -> tuple[list[dict[str, str]], SamplingParams]:
        return normalize_messages(messages), resolve_params(params or self.defaults, overrides)

    @contextlib.contextmanager
    def _translating(self, *, streaming: bool = False) -> Iterator[None]:
        """httpx's errors raised inside become ragline's typed errors (sync and async)."""
        try:
            yield
        except httpx.HTTPError as exc:
            raise self._translate(exc, streaming=streaming) from exc

    def _translate(self, exc: httpx.HTTPError, *, streaming: bool = False) -> ModelError:
        if isinstance(exc, httpx.TimeoutException):
            return ModelTimeoutError(
                f"{self._name}: timed out ({type(exc).__name__})",
                hint="raise gateway.timeout_s or the call's timeout_s",
            )
        if isinstance(exc, httpx.ConnectError):
            return ModelUnavailableError(
                f"{self._name}: cannot reach {self.base_url}: {exc}",
                hint="is the server running and the base_url right?",
            )
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            kind = StreamInterruptedError if streaming else ModelUnavailableError
            return kind(f"{self._name}: the connection broke mid-response: {exc}")
        return ModelUnavailableError(f"{self._name}: HTTP failure: {type(exc).__name__}: {exc}")

    def _request(
        self,
        messages: Messages,
        params: SamplingParams | None,
        overrides: Mapping[str, Any],
        *,
        stream: bool,
    ) -> tuple[_Accumulator, dict[str, Any]]:
        """One call's result builder (its clock started) and the arguments of its
        ``POST chat/completions`` (body, headers, timeout) for the sync or the async client."""
        msgs, p = self._prepare(messages, params, overrides)
        limit = p.timeout_s or self.timeout_s
        acc = _Accumulator(self._name, msgs, time.perf_counter(), limit)
        request = {
            "json": self.build_body(msgs, p, stream=stream),
            "headers": self._request_headers(),
            "timeout": httpx.Timeout(limit, connect=min(limit, 10.0)),
        }
        return acc, request

    def _completion(self, acc: _Accumulator, response: httpx.Response) -> ChatResult:
        """The result of a (read) non-streamed response, or its typed error."""
        log.debug(
            "%s: HTTP %s in %.3f s",
            self._name,
            response.status_code,
            time.perf_counter() - acc.started,
        )
        if response.status_code >= 400:
            raise error_for_status(response, self._name)
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedResponseError(f"{self._name}: response is not JSON: {exc}") from exc
        acc.completion(data)
        return acc.result()

    # ------------------------------------------------------------------ sync

    def generate(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> ChatResult:
        acc, request = self._request(messages, params, overrides, stream=False)
        with self._translating():
            response = self.client.post("chat/completions", **request)
        return self._completion(acc, response)

    def stream(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> Iterator[StreamEvent]:
        acc, request = self._request(messages, params, overrides, stream=True)
        with (
            self._translating(streaming=True),
            self.client.stream("POST", "chat/completions", **request) as response,
        ):
            if response.status_code >= 400:
                response.read()
                raise error_for_status(response, self._name)
            for raw in response.iter_lines():
                if event := acc.line(raw):
                    yield event
                if not acc.more():
                    break
        yield StreamDone(acc.result())

    # ------------------------------------------------------------------ async

    def _async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url + "/", transport=self._async_transport, follow_redirects=False
        )

    async def agenerate(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> ChatResult:
        acc, request = self._request(messages, params, overrides, stream=False)
        with self._translating():
            async with self._async_client() as client:
                response = await client.post("chat/completions", **request)
        return self._completion(acc, response)

    async def astream(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> AsyncIterator[StreamEvent]:
        acc, request = self._request(messages, params, overrides, stream=True)
        with self._translating(streaming=True):
            async with (
                self._async_client() as client,
                client.stream("POST", "chat/completions", **request) as response,
            ):
                if response.status_code >= 400:
                    await response.aread()
                    raise error_for_status(response, self._name)
                async for raw in response.aiter_lines():
                    if event := acc.line(raw):
                        yield event
                    if not acc.more():
                        break
        yield StreamDone(acc.result())


__all__ = [
    "OpenAICompatChatModel",
    "error_for_status",
    "estimate_tokens",
    "parse_retry_after",
]
