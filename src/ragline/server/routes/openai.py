"""The OpenAI-compatible API: ``/v1/models``, ``/v1/chat/completions``, ``/v1/embeddings``.

* ``model: "ragline:<collection>"`` answers the last user message from that collection, with
  the conversation before it as history and the request's ``max_tokens`` /
  ``max_completion_tokens``, ``temperature``, ``top_p``, ``stop`` and ``seed``; the passages
  come back in ``citations`` (a member OpenAI clients keep as an extra field:
  ``completion.citations``). A question a guard refuses is answered, not failed: the message
  is the refusal (``content``, and ``refusal`` as OpenAI sets it), ``finish_reason`` is
  ``content_filter`` and the extra member ``guard`` names the guard and why
  (docs/guardrails.md). The message is the checked answer; when streaming, the deltas
  are the unchecked draft and the last chunk carries the checked text in ``answer``.
  Both kinds of model stream the one answer vocabulary (``ragline.answer.events``);
  :class:`ChunkEncoder` turns its events into OpenAI chunks (kinds it does not know are
  skipped) and writes them with the server's one SSE encoder.
* Any other model name goes through the gateway as is (``embedded``, ``openai:gpt-4o-mini``,
  an endpoint of ``gateway.endpoints`` …), with its retries and fallbacks.
* ``tools`` / ``tool_choice`` / ``parallel_tool_calls`` with a gateway model: one step of
  function calling (:func:`ragline.agent.calling.function_calls`: a grammar built from the
  tools on a local model, the server's own tools API on an OpenAI-compatible one). Calls come
  back in ``message.tool_calls`` with ``finish_reason: "tool_calls"`` (streamed: one delta
  with the calls); when no tool fits, the model answers in text. Assistant messages with
  ``tool_calls`` and ``tool`` results in the conversation reach the model as text.
* Embeddings come from the collection embedder (all-MiniLM-L6-v2), as floats or base64.

Keys work as everywhere else (``Authorization: Bearer rl_…``), with the same per-key policy
as ``/api`` (``ragline.server.policy``: models, tokens and spend; embeddings count tokens);
errors carry OpenAI's ``{"error": {...}}`` beside the problem members.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ragline.agent.calling import allowed_tools, function_calls, tool_definitions
from ragline.answer.events import AnswerDone, GuardChecked, Started, StreamDone, TokenDelta
from ragline.answer.guarding import AnswerGuards
from ragline.errors import InvalidQueryError
from ragline.guard.base import Action, GuardContext
from ragline.models.chat import Usage
from ragline.server.answering import (
    CACHE_HEADER,
    AnswerRequest,
    answer_events,
    collect,
    with_cache_lookup,
)
from ragline.server.auth import Principal, need
from ragline.server.context import ServerContext, get_context
from ragline.server.generation import Generation, admit
from ragline.server.policy import admit_generation, take_tokens
from ragline.server.problems import ResourceNotFoundError, problem_for
from ragline.server.routes.ask import check_collection, check_model, grounded_admission
from ragline.server.schemas import BODY_ERRORS, problems
from ragline.server.streaming import SSE_DONE, EventStreamResponse, sse
from ragline.types import ToolCall

router = APIRouter(
    prefix="/v1", tags=["openai"], responses=problems(*BODY_ERRORS, 404, 429, 502, 503, 504)
)
RAGLINE_PREFIX = "ragline:"
_FINISH = {"length": "length"}  # everything else (stop, cancelled, declined) reads as "stop"
_REFUSED = ("blocked", "handoff")  # a guard's refusal: finish_reason "content_filter"
StopSequence = Annotated[str, Field(min_length=1, max_length=200)]
NonEmptyText = Annotated[str, Field(min_length=1)]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[ContentPart] | None = None
    # an assistant's function calls, and a tool result's call id (OpenAI's format)
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class FunctionIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=64)
    description: str | None = Field(None, max_length=8000)
    parameters: dict[str, Any] | None = None


class ToolIn(BaseModel):
    """One entry of ``tools``: an OpenAI function definition."""

    model_config = ConfigDict(extra="allow")
    type: Literal["function"] = "function"
    function: FunctionIn


class NamedFunction(BaseModel):
    name: str = Field(min_length=1, max_length=64)


class NamedToolChoice(BaseModel):
    """``tool_choice`` naming one function: ``{"type": "function", "function": {"name"}}``."""

    type: Literal["function"] = "function"
    function: NamedFunction


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # OpenAI clients send fields we do not use
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(
        min_length=1,
        max_length=200,
        # tool results alone are nothing to answer: at least one other message
        json_schema_extra={"contains": {"properties": {"role": {"not": {"const": "tool"}}}}},
    )
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: StopSequence | list[StopSequence] | None = None
    seed: int | None = None
    n: int = Field(1, ge=1, le=1, description="one choice per request")
    stream_options: StreamOptions | None = None
    # ragline's own (an OpenAI client sends it in extra_body): how a ``ragline:`` answer is
    # written; None: answer.style.
    style: Literal["extractive", "generative", "auto"] | None = None
    # function calling (gateway models only)
    tools: list[ToolIn] | None = Field(None, max_length=128)
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None

    def tool_definitions(self) -> list[dict[str, Any]]:
        return [t.model_dump(exclude_none=True) for t in self.tools or ()]

    def wants_tools(self) -> bool:
        return bool(self.tools) and self.tool_choice != "none"


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    input: NonEmptyText | Annotated[list[NonEmptyText], Field(min_length=1, max_length=2048)] = (
        Field(description="a text or up to 2048 texts")
    )
    model: str = Field(min_length=1, max_length=200)
    encoding_format: Literal["float", "base64"] = "float"


def _messages(body: ChatCompletionRequest) -> list[dict[str, str]]:
    """The conversation as text messages: an assistant's ``tool_calls`` are written after its
    text as ``{"calls": [...]}`` (the form a local model calls in), and a ``tool`` result is
    a user message that names the function it answers."""
    out = []
    names: dict[str, str] = {}
    for m in body.messages:
        role = "system" if m.role == "developer" else m.role
        text = m.text()
        if role == "tool":
            name = names.get(m.tool_call_id or "") or m.name or "the function"
            out.append({"role": "user", "content": f"Result of {name}: {text}"})
            continue
        if role == "assistant" and m.tool_calls:
            calls = []
            for call in m.tool_calls:
                fn = call.get("function") or {}
                name = str(fn.get("name") or "")
                names[str(call.get("id") or "")] = name
                args = fn.get("arguments")
                with contextlib.suppress(TypeError, ValueError):
                    args = json.loads(args) if isinstance(args, str) else args
                calls.append({"name": name, "arguments": args if args is not None else {}})
            text = "\n".join(t for t in (text, json.dumps({"calls": calls})) if t)
        out.append({"role": role, "content": text})
    return out


def _params(body: ChatCompletionRequest) -> dict[str, Any]:
    """The sampling the request sets, for the gateway or the grounded answer alike."""
    params: dict[str, Any] = {}
    max_tokens = body.max_completion_tokens or body.max_tokens
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    for name in ("temperature", "top_p", "seed"):
        value = getattr(body, name)
        if value is not None:
            params[name] = value
    if body.stop:
        params["stop"] = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop)
    return params


@dataclass(frozen=True, slots=True)
class ToolCallsMade:
    """The function calls of a ``tools`` request (the last event of its stream)."""

    kind: ClassVar[str] = "tool_calls"
    calls: tuple[ToolCall, ...]
    usage: Usage

    def to_dict(self) -> dict[str, Any]:
        return {"calls": [c.to_dict() for c in self.calls], "usage": self.usage.to_dict()}

    def openai(self) -> list[dict[str, Any]]:
        """``message.tool_calls`` (each call with an id; ``index`` for stream deltas)."""
        out = []
        for i, call in enumerate(self.calls):
            entry = call.to_openai(i)
            if call.id is None:
                entry["id"] = f"call_{uuid.uuid4().hex[:24]}"
            out.append({"index": i, **entry})
        return out


def _guarded_input(
    ctx: ServerContext, messages: list[dict[str, str]]
) -> Iterator[GuardChecked | AnswerDone]:
    """The input guards on the last user message, as a grounded question gets them: yields
    the verdict when a guard acted and, for a refusal, the refusal's AnswerDone (the caller
    stops there); a redacted message is replaced in ``messages``."""
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    rag = ctx.rag
    if rag.guard.active("input") and users:
        guards = AnswerGuards(rag.guard, ctx.settings, rag.tracer, rag.handoff)
        last = users[-1]
        started = time.perf_counter()
        verdict = guards.check_input(messages[last]["content"], GuardContext(), None)
        if verdict.action is not Action.ALLOW:
            yield verdict
        if verdict.refused:
            yield AnswerDone(guards.refusal(verdict.decision.text, verdict, started))
            return
        messages[last] = {**messages[last], "content": verdict.decision.text}


def _passthrough(
    ctx: ServerContext, body: ChatCompletionRequest
) -> Iterator[Started | GuardChecked | TokenDelta | StreamDone | AnswerDone | ToolCallsMade]:
    """A gateway model's stream in the answer vocabulary: Started, TokenDelta…, StreamDone.

    The last user message goes through the input guards first, as a grounded question
    does: a refused one ends with the refusal's AnswerDone, a redacted one is sent
    redacted. (Output guards need passages and a prompt: they guard grounded answers.)
    With ``tools``, one step of function calling comes first: its calls end the stream
    (:class:`ToolCallsMade`); when there are none, the model answers in text."""
    yield Started(body.model)
    messages = _messages(body)
    for event in _guarded_input(ctx, messages):
        yield event
        if isinstance(event, AnswerDone):
            return
    if body.wants_tools():
        made = function_calls(
            body.model,
            messages,
            body.tool_definitions(),
            settings=ctx.settings,
            tool_choice=_tool_choice(body),
            parallel=body.parallel_tool_calls is not False,
            tracer=ctx.rag.tracer,
            gateway=ctx.gateway,
        )
        if made.calls:
            yield ToolCallsMade(tuple(made.calls), made.usage)
            return
        if made.via == "tools_api" and made.result is not None:  # the server answered
            yield TokenDelta(made.result.text)
            yield StreamDone(made.result)
            return
    stream = ctx.gateway.stream(messages, model=body.model, **_params(body))
    with contextlib.closing(stream):
        yield from stream


def _tool_choice(body: ChatCompletionRequest) -> Any:
    choice = body.tool_choice
    return choice.model_dump() if isinstance(choice, NamedToolChoice) else choice or "auto"


def _check_tools(body: ChatCompletionRequest) -> None:
    """Refuse bad tool definitions or a tool_choice naming no tool with a 400, up front."""
    if body.tools:
        allowed_tools(_tool_choice(body), tool_definitions(body.tool_definitions()))


def _answer_request(body: ChatCompletionRequest, collection: str) -> AnswerRequest:
    messages = _messages(body)
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    if not users or not messages[users[-1]]["content"].strip():
        raise InvalidQueryError(
            "no user message to answer", hint="end the messages with a non-empty user message"
        )
    last = users[-1]
    return AnswerRequest(
        question=messages[last]["content"],
        collection=collection,
        history=messages[:last],
        sampling=_params(body),
        style=body.style,
    )


def _usage(usage: Usage | None) -> dict[str, int]:
    p, c = (usage.prompt_tokens, usage.completion_tokens) if usage is not None else (0, 0)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _finish_reason(done: AnswerDone | StreamDone | None) -> str:
    """OpenAI's finish_reason: "length" when max_tokens cut the model (a declined answer
    included: the limit may be why nothing supported was left), else "stop"."""
    if done is None:  # the client left before the end
        return "stop"
    if isinstance(done, AnswerDone) and done.decline_reason in _REFUSED:
        return "content_filter"  # a guard refused: OpenAI's reason for filtered content
    return _FINISH.get(done.model_finish_reason or done.finish_reason, "stop")


def _grounding(done: AnswerDone) -> dict[str, Any]:
    """The fields a ``ragline:`` answer adds to OpenAI's response."""
    return {
        "citations": done.citations(),
        "trace_id": done.trace_id,
        "declined": done.answer.declined,
        "decline_reason": done.decline_reason,
        "decline_detail": done.answer.decline_detail or None,
        "answerability": done.answer.answerability,
        "guard": done.answer.guard,
        "cached": done.answer.cached,
    }


def _refusal(done: AnswerDone | StreamDone | None) -> str | None:
    """OpenAI's ``message.refusal``: the refusal text when a guard refused (also in
    ``content``, for clients that read only that), else None."""
    if isinstance(done, AnswerDone) and done.decline_reason in _REFUSED:
        return done.text
    return None


@dataclass(slots=True)
class ChunkEncoder:
    """Answer events as OpenAI ``chat.completion.chunk`` server-sent events.

    ``Started`` opens the assistant message, each ``TokenDelta`` is a content delta, the last
    event (``AnswerDone`` or a gateway model's ``StreamDone``) the chunk with the finish
    reason: for a grounded answer it also carries ``citations``, ``trace_id``, ``declined``,
    ``decline_reason`` and the checked text in ``answer`` (the deltas were the draft); then,
    with ``include_usage``, a usage chunk. ``ToolCallsMade`` is one delta with every call,
    then ``finish_reason: "tool_calls"``. Other kinds of event are skipped."""

    model: str
    include_usage: bool = False
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex[:24]}")
    created: int = field(default_factory=lambda: int(time.time()))

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        base = {"id": self.id, "object": "chat.completion.chunk", "created": self.created}
        return sse({**base, "model": self.model, "choices": choices, **extra})

    def _delta(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return self._chunk([{"index": 0, "delta": delta, "finish_reason": finish}], **extra)

    def encode(self, event: object) -> bytes:
        if isinstance(event, Started):
            return self._delta({"role": "assistant", "content": ""})
        if isinstance(event, ToolCallsMade):
            out = self._delta({"tool_calls": event.openai()})
            out += self._delta({}, "tool_calls")
            if self.include_usage:
                out += self._chunk([], usage=_usage(event.usage))
            return out
        if isinstance(event, TokenDelta):
            return self._delta({"content": event.text})
        if isinstance(event, AnswerDone | StreamDone):
            extra: dict[str, Any] = {}
            out = b""
            if isinstance(event, AnswerDone):
                extra = {**_grounding(event), "answer": event.text}
                if (refusal := _refusal(event)) is not None:  # a client reads the content
                    out = self._delta({"content": refusal})
            out += self._delta({}, _finish_reason(event), **extra)
            if self.include_usage:
                out += self._chunk([], usage=_usage(event.usage))
            return out
        return b""

    def done(self) -> bytes:
        return SSE_DONE


async def _chunks(
    gen: Generation, factory: Any, body: ChatCompletionRequest, path: str
) -> AsyncIterator[bytes]:
    options = body.stream_options
    encoder = ChunkEncoder(body.model, options is not None and options.include_usage)
    async with contextlib.aclosing(gen.events(factory)) as events:
        try:
            async for event in events:
                if chunk := encoder.encode(event):
                    yield chunk
        except Exception as exc:
            yield sse(problem_for(exc, path)[1])
    yield encoder.done()


@router.get("/models")
async def list_models(
    principal: Principal = Depends(need("read")), ctx: ServerContext = Depends(get_context)
) -> dict[str, Any]:
    """``ragline:<collection>`` for each collection the key may use, then gateway models,
    then the chat adapters (``<base>+NAME``, :mod:`ragline.models.adapters`)."""
    from ragline.models.adapters import list_adapters

    infos = await run_in_threadpool(ctx.rag.collections)
    adapters = await run_in_threadpool(list_adapters, ctx.settings)
    created = int(ctx.started_at)
    names = [RAGLINE_PREFIX + n for n in principal.visible(i.name for i in infos)]
    gateway_models = dict.fromkeys(
        [
            ctx.default_model,
            *ctx.settings.gateway.fallback,
            *ctx.settings.gateway.endpoints,
            *(f"{a.info.base}+{a.info.name}" for a in adapters),
        ]
    )
    data = [
        {"id": n, "object": "model", "created": created, "owned_by": "ragline"}
        for n in [*names, *gateway_models]
    ]
    return {"object": "list", "data": data}


@router.post("/chat/completions")
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    principal: Principal = Depends(need("read")),
    ctx: ServerContext = Depends(get_context),
) -> Any:
    """Chat completions, streamed or not: grounded for ``ragline:<collection>``, else the
    gateway model of that name (with ``tools``: function calls, or a text answer)."""
    made: list[ToolCallsMade] = []
    if body.model.startswith(RAGLINE_PREFIX):
        collection = body.model[len(RAGLINE_PREFIX) :]
        principal.check_collection(collection)
        await check_collection(ctx, collection)
        key = principal.key
        req = dataclasses.replace(
            _answer_request(body, collection),
            owner=key.id if key is not None else None,
            readable=key.may_use if key is not None else None,
            # whose memory: the key's, never the request's OpenAI ``user`` field
            user=principal.memory_user(ctx.settings.memory.default_user),
        )
        req, cached = await run_in_threadpool(
            with_cache_lookup,
            ctx.rag,
            req,
            key.name if key is not None else None,
            key.id if key is not None else None,
        )

        def factory() -> Iterator[Any]:
            return answer_events(ctx.rag, req)

        model = None
        metered = await run_in_threadpool(grounded_admission, ctx, principal, req, None)
    else:
        if not _messages(body):
            raise InvalidQueryError("no messages to send", hint="send a user message")
        check_model(ctx, body.model)
        _check_tools(body)

        def factory() -> Iterator[Any]:
            for event in _passthrough(ctx, body):
                if isinstance(event, ToolCallsMade):
                    made.append(event)
                yield event

        model, cached = body.model, "off"
        metered = await run_in_threadpool(
            admit_generation,
            ctx,
            principal,
            model=model,
            prompt_chars=sum(len(m["content"]) for m in _messages(body)),
            max_tokens=int(_params(body).get("max_tokens") or ctx.settings.gateway.max_tokens),
        )
    gen = await admit(ctx, model, metered)
    if body.stream:
        return EventStreamResponse(
            _chunks(gen, factory, body, request.url.path),
            on_close=lambda _: gen.close(),
            headers={CACHE_HEADER: cached},
        )
    try:
        async with contextlib.aclosing(gen.events(factory)) as events:
            got = await collect(events, request.is_disconnected)
    finally:
        gen.close()
    done = got.done
    if made:
        return JSONResponse(_tool_calls_response(body, made[0]), headers={CACHE_HEADER: cached})
    out: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": got.text,
                    "refusal": _refusal(done),
                },
                "finish_reason": _finish_reason(done),
            }
        ],
        "usage": _usage(done.usage if done is not None else None),
    }
    if body.model.startswith(RAGLINE_PREFIX):
        if isinstance(done, AnswerDone):
            out.update(_grounding(done))
        else:  # the client left before the end
            out.update(
                citations=[], trace_id=None, declined=False, decline_reason=None, cached=None
            )
    elif isinstance(done, AnswerDone):  # a gateway model's question a guard refused
        out["guard"] = done.answer.guard
    return JSONResponse(out, headers={CACHE_HEADER: cached})


def _tool_calls_response(body: ChatCompletionRequest, made: ToolCallsMade) -> dict[str, Any]:
    calls = [{k: v for k, v in c.items() if k != "index"} for c in made.openai()]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "tool_calls": calls,
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": _usage(made.usage),
    }


@router.post("/embeddings")
async def embeddings(
    body: EmbeddingRequest,
    principal: Principal = Depends(need("read")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Embeddings of the collection embedder (unit-length float32 vectors)."""
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    if not texts or len(texts) > 2048 or any(not t for t in texts):
        raise InvalidQueryError(
            "input must be a non-empty text or a list of 1 to 2048 non-empty texts",
            hint="token arrays are not supported: send text",
        )
    embedder = ctx.rag.embedder
    known = {embedder.name, "all-MiniLM-L6-v2", "ragline"}
    if body.model not in known:
        raise ResourceNotFoundError(
            f"no embedding model {body.model!r}", hint=f"use one of {sorted(known)}"
        )

    def run() -> tuple[np.ndarray, int]:
        tokens = sum(embedder.count_tokens(t) for t in texts)
        take_tokens(ctx, principal, tokens)  # the key's tokens per minute, before the work
        return embedder.embed(texts), tokens

    vectors, tokens = await run_in_threadpool(run)
    data = []
    for i, vec in enumerate(vectors):
        vec32 = np.asarray(vec, dtype="<f4")
        value: Any = (
            base64.b64encode(vec32.tobytes()).decode()
            if body.encoding_format == "base64"
            else vec32.tolist()
        )
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": body.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
