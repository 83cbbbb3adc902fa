"""The OpenAI-compatible API: ``/v1/models``, ``/v1/chat/completions``, ``/v1/embeddings``.

* ``model: "ragline:<collection>"`` answers the last user message from that collection, with
  the conversation before it as history and the request's ``max_tokens`` /
  ``max_completion_tokens``, ``temperature``, ``top_p``, ``stop`` and ``seed``; the passages
  come back in ``citations`` (a member OpenAI clients keep as an extra field:
  ``completion.citations``). The message is the checked answer; when streaming, the deltas
  are the unchecked draft and the last chunk carries the checked text in ``answer``.
* Any other model name goes through the gateway as is (``embedded``, ``openai:gpt-4o-mini``,
  an endpoint of ``gateway.endpoints`` …), with its retries and fallbacks.
* Embeddings come from the collection embedder (all-MiniLM-L6-v2), as floats or base64.

Keys work as everywhere else (``Authorization: Bearer rl_…``); errors carry OpenAI's
``{"error": {...}}`` beside the problem members.
"""

from __future__ import annotations

import base64
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from ragline.errors import InvalidQueryError
from ragline.models.chat import StreamDone, TokenDelta
from ragline.server.answering import (
    AnswerRequest,
    Citations,
    Final,
    Finished,
    Started,
    Token,
    answer_events,
    collect,
)
from ragline.server.auth import Principal, need
from ragline.server.context import ServerContext, get_context
from ragline.server.generation import Generation, admit
from ragline.server.problems import ResourceNotFoundError, problem_for
from ragline.server.routes.ask import check_collection, check_model
from ragline.server.streaming import EventStreamResponse, sse_data

router = APIRouter(prefix="/v1", tags=["openai"])
RAGLINE_PREFIX = "ragline:"
_FINISH = {"length": "length"}  # everything else (stop, cancelled, declined) reads as "stop"
StopSequence = Annotated[str, Field(min_length=1, max_length=200)]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # OpenAI clients send fields we do not use
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: StopSequence | list[StopSequence] | None = None
    seed: int | None = None
    n: int = Field(1, ge=1, le=1, description="one choice per request")
    stream_options: StreamOptions | None = None


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    input: str | list[str] = Field(description="a text or up to 2048 texts")
    model: str = Field(min_length=1, max_length=200)
    encoding_format: Literal["float", "base64"] = "float"


def _messages(body: ChatCompletionRequest) -> list[dict[str, str]]:
    out = []
    for m in body.messages:
        role = "system" if m.role == "developer" else m.role
        if role == "tool":
            continue
        out.append({"role": role, "content": m.text()})
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


def _passthrough(ctx: ServerContext, body: ChatCompletionRequest) -> Iterator[Any]:
    """Gateway events as answer events: Started, Token…, Finished."""
    yield Started(None, body.model)
    result = None
    stream = ctx.gateway.stream(_messages(body), model=body.model, **_params(body))
    with contextlib.closing(stream):
        for event in stream:
            if isinstance(event, TokenDelta):
                yield Token(event.text)
            elif isinstance(event, StreamDone):
                result = event.result
    usage = result.usage.to_dict() if result is not None else {}
    yield Finished(result.finish_reason if result else "stop", usage, None, body.model)


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
    )


def _usage(usage: dict[str, Any]) -> dict[str, int]:
    p, c = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _finish_reason(event: Finished) -> str:
    """OpenAI's finish_reason: "length" when max_tokens cut the model (a declined answer
    included: the limit may be why nothing supported was left), else "stop"."""
    return _FINISH.get(event.model_finish_reason or event.finish_reason, "stop")


def _grounding(event: Finished) -> dict[str, Any]:
    """The fields a ``ragline:`` answer adds to OpenAI's response."""
    return {
        "trace_id": event.trace_id,
        "declined": event.finish_reason == "declined",
        "decline_reason": event.decline_reason,
    }


async def _chunks(
    gen: Generation, factory: Any, body: ChatCompletionRequest, path: str
) -> AsyncIterator[bytes]:
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        base = {"id": cid, "object": "chat.completion.chunk", "created": created}
        return sse_data({**base, "model": body.model, "choices": [choice], **extra})

    citations: list[dict[str, Any]] = []
    final: str | None = None
    async with contextlib.aclosing(gen.events(factory)) as events:
        try:
            async for event in events:
                if isinstance(event, Started):
                    yield chunk({"role": "assistant", "content": ""})
                elif isinstance(event, Token):
                    yield chunk({"content": event.text})
                elif isinstance(event, Final):
                    final = event.text
                elif isinstance(event, Citations):
                    citations = event.items
                elif isinstance(event, Finished):
                    extra: dict[str, Any] = {}
                    if body.model.startswith(RAGLINE_PREFIX):
                        extra = {"citations": citations, **_grounding(event)}
                        if final is not None:  # the checked text; the deltas were the draft
                            extra["answer"] = final
                    yield chunk({}, _finish_reason(event), **extra)
                    if body.stream_options is not None and body.stream_options.include_usage:
                        yield sse_data(
                            {
                                "id": cid,
                                "object": "chat.completion.chunk",
                                "created": created,
                                "model": body.model,
                                "choices": [],
                                "usage": _usage(event.usage),
                            }
                        )
        except Exception as exc:
            yield sse_data(problem_for(exc, path)[1])
    yield sse_data("[DONE]")


@router.get("/models")
async def list_models(
    principal: Principal = Depends(need("read")), ctx: ServerContext = Depends(get_context)
) -> dict[str, Any]:
    """``ragline:<collection>`` for each collection the key may use, then gateway models."""
    infos = await run_in_threadpool(ctx.rag.collections)
    created = int(ctx.started_at)
    names = [RAGLINE_PREFIX + n for n in principal.visible(i.name for i in infos)]
    gateway_models = dict.fromkeys(
        [ctx.default_model, *ctx.settings.gateway.fallback, *ctx.settings.gateway.endpoints]
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
    gateway model of that name."""
    if body.model.startswith(RAGLINE_PREFIX):
        collection = body.model[len(RAGLINE_PREFIX) :]
        principal.check_collection(collection)
        await check_collection(ctx, collection)
        req = _answer_request(body, collection)

        def factory() -> Iterator[Any]:
            return answer_events(ctx.rag, req)

        model = None
    else:
        if not _messages(body):
            raise InvalidQueryError("no messages to send", hint="send a user message")
        check_model(ctx, body.model)

        def factory() -> Iterator[Any]:
            return _passthrough(ctx, body)

        model = body.model
    gen = await admit(ctx, model)
    if body.stream:
        return EventStreamResponse(
            _chunks(gen, factory, body, request.url.path), on_close=lambda _: gen.close()
        )
    try:
        async with contextlib.aclosing(gen.events(factory)) as events:
            got = await collect(events, request.is_disconnected)
    finally:
        gen.close()
    finished = got.finished or Finished("stop")
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
                },
                "finish_reason": _finish_reason(finished),
            }
        ],
        "usage": _usage(finished.usage),
    }
    if body.model.startswith(RAGLINE_PREFIX):
        out["citations"] = got.citations
        out.update(_grounding(finished))
    return out


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
        vectors = embedder.embed(texts)
        return vectors, sum(embedder.count_tokens(t) for t in texts)

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
