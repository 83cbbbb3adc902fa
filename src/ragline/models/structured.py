"""Structured output: ask for a pydantic type, get a validated instance of it.

Three layers, cheapest first:

1. **Constrained decoding.** The type's JSON schema travels in
   :attr:`SamplingParams.json_schema`; llama.cpp turns it into a grammar, OpenAI-compatible
   servers receive it as ``response_format``. The schema is also stated in the prompt, for
   servers that ignore ``response_format``.
2. **Repair.** Near-JSON is fixed before validation: code fences, prose around the object,
   trailing commas, single-quoted strings, Python ``True/False/None``, a truncated tail.
3. **Re-ask.** If the reply still does not validate, the validation error is fed back and
   the model asked again, at most ``max_reasks`` times. Then :class:`StructuredOutputError`
   is raised, carrying every attempt (with the model's output) and the total usage.

The loop is written once, without I/O: :meth:`StructuredLoop.steps` yields each request and
is sent its reply; :func:`drive` runs it with blocking model calls, :func:`adrive` with
awaited ones (the gateway hands them its fallback chain).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError

from ragline.errors import StructuredOutputError
from ragline.models.chat import (
    Attempt,
    ChatResult,
    Messages,
    SamplingParams,
    Usage,
    normalize_messages,
    sum_usage,
)

T = TypeVar("T")

R = TypeVar("R")

GenerateFn = Callable[[list[dict[str, str]], SamplingParams], ChatResult]
AsyncGenerateFn = Callable[[list[dict[str, str]], SamplingParams], Awaitable[ChatResult]]
#: One model call a sans-I/O loop asks for: the messages and the sampling parameters.
Request = tuple[list[dict[str, str]], SamplingParams]
#: A sans-I/O loop: yields each :data:`Request`, is sent its reply, returns its outcome.
Steps = Generator[Request, ChatResult, R]

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}


@dataclass(frozen=True, slots=True)
class JsonSchema:
    """A plain JSON schema to ask for, where no Python type describes the value (tool
    definitions arrive as JSON). ``check(value)`` validates the parsed JSON further and
    returns what the loop hands back, or raises :class:`ValueError` with a model-readable
    reason (it is fed back in the re-ask)."""

    schema: Mapping[str, Any]
    name: str = "JSON value"
    check: Callable[[Any], Any] | None = None


def function_calls_schema(
    tools: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    required: bool = False,
    max_calls: int | None = None,
) -> dict[str, Any]:
    """The JSON schema of one function-calling reply: ``{"calls": [...]}``, each call
    ``{"name": <const>, "arguments": <that tool's parameters>}`` (an ``anyOf`` over the
    ``(name, parameters)`` pairs of ``tools``). An empty list means "no tool fits";
    ``required`` asks for at least one call, ``max_calls`` for at most that many.

    As a llama.cpp grammar it lets a model write only calls of tools that exist, with
    arguments of the right shape; each tool's arguments refuse properties its schema does
    not list (``additionalProperties: false`` unless the schema says otherwise). Each
    tool's ``$defs`` are gathered at the root, prefixed with the tool's name.
    """
    variants = []
    defs: dict[str, Any] = {}
    for name, params in tools:
        args = dict(params)
        args.setdefault("type", "object")
        args.setdefault("properties", {})
        args.setdefault("additionalProperties", False)
        own = args.pop("$defs", None) or {}
        if own:  # a $ref points at the root of the whole schema: rewrite it to this tool's
            args = _rebase_refs(args, name)
            defs.update({f"{name}__{k}": _rebase_refs(v, name) for k, v in own.items()})
        variants.append(
            {
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": args},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    calls: dict[str, Any] = {"type": "array", "items": {"anyOf": variants}}
    if not variants:
        calls = {"type": "array", "maxItems": 0}
    elif required:
        calls["minItems"] = 1
    if max_calls is not None and variants:
        calls["maxItems"] = max_calls
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"calls": calls},
        "required": ["calls"],
        "additionalProperties": False,
    }
    if defs:
        schema["$defs"] = defs
    return schema


def _rebase_refs(node: Any, prefix: str) -> Any:
    """``#/$defs/X`` → ``#/$defs/<prefix>__X`` (each tool's definitions, side by side)."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/"):
                out[k] = f"#/$defs/{prefix}__{v[len('#/$defs/') :]}"
            else:
                out[k] = _rebase_refs(v, prefix)
        return out
    if isinstance(node, list):
        return [_rebase_refs(v, prefix) for v in node]
    return node


@dataclass(frozen=True, slots=True)
class StructuredResult(Generic[T]):
    """A validated value plus what it took: the last call, total usage and cost, attempts."""

    value: T
    result: ChatResult
    usage: Usage
    cost: float | None
    attempts: tuple[Attempt, ...]
    repaired: bool = False


# --------------------------------------------------------------------------- repair


def _extract(text: str) -> str:
    """The first JSON object/array in ``text`` (fences and surrounding prose dropped)."""
    fenced = _FENCE.search(text)
    if fenced and any(c in fenced.group(1) for c in "{["):
        text = fenced.group(1)
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return text.strip()
    start = min(starts)
    depth, quote, escaped = 0, "", False
    for i in range(start, len(text)):
        c = text[i]
        if quote:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return text[start:]  # unbalanced: repaired below


def repair_json(text: str) -> str:
    """Best-effort conversion of near-JSON into JSON text (it may still not parse)."""
    src = _extract(text)
    out: list[str] = []
    stack: list[str] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in "\"'":  # a string: re-emit double-quoted
            quote, i = c, i + 1
            buf: list[str] = []
            while i < n and src[i] != quote:
                if src[i] == "\\" and i + 1 < n:
                    nxt = src[i + 1]
                    buf.append("'" if nxt == "'" else "\\" + nxt)
                    i += 2
                    continue
                if src[i] == '"':
                    buf.append('\\"')
                elif src[i] == "\n":
                    buf.append("\\n")
                else:
                    buf.append(src[i])
                i += 1
            out.append('"' + "".join(buf) + '"')
            i += 1
            continue
        if c in "{[":
            stack.append("}" if c == "{" else "]")
        elif c in "}]":
            # drop a trailing comma before a closer
            j = len(out) - 1
            while j >= 0 and out[j].isspace():
                j -= 1
            if j >= 0 and out[j] == ",":
                del out[j]
            if stack:
                stack.pop()
        elif c.isalpha():
            j = i
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            word = src[i:j]
            out.append(_PY_LITERALS.get(word, word))
            i = j
            continue
        out.append(c)
        i += 1
    # truncated output: drop a dangling comma/colon and close what is open
    text_out = "".join(out).rstrip()
    if stack:
        text_out = text_out.rstrip(",:").rstrip()
        text_out += "".join(reversed(stack))
    return text_out


def _errors_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:6]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_structured(text: str, adapter: TypeAdapter[T]) -> tuple[T, bool]:
    """Validate ``text`` against ``adapter``; repair near-JSON if needed.

    Returns ``(value, repaired)``; raises :class:`ValueError` with a short, model-readable
    explanation when neither the text nor its repair validates.
    """
    try:
        return adapter.validate_json(text), False
    except ValidationError:
        repaired = repair_json(text)
        try:
            return adapter.validate_json(repaired), True
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                reason = "the reply is not valid JSON"
            else:
                reason = _errors_text(exc)
            raise ValueError(reason) from exc


# --------------------------------------------------------------------------- loop


def schema_instruction(schema_json: dict[str, Any]) -> str:
    return (
        "Reply with only a JSON value (no prose, no code fences) that matches this JSON "
        "schema:\n" + json.dumps(schema_json, separators=(",", ":"))
    )


class StructuredLoop(Generic[T]):
    """The ask -> validate -> re-ask loop, sans I/O: :meth:`steps` yields each request and
    is sent its reply; :func:`drive` and :func:`adrive` make the model calls."""

    def __init__(
        self,
        messages: Messages,
        schema: type[T] | Any,
        params: SamplingParams,
        *,
        max_reasks: int = 2,
        instruct: bool = True,
    ) -> None:
        self.check: Callable[[Any], Any] | None = None
        if isinstance(schema, JsonSchema):
            self.adapter = TypeAdapter(Any)
            self.schema_json = dict(schema.schema)
            self.type_name = schema.name
            self.check = schema.check
        else:
            self.adapter = TypeAdapter(schema)
            self.schema_json = self.adapter.json_schema()
            self.type_name = getattr(schema, "__name__", str(schema))
        msgs = normalize_messages(messages)
        if instruct:
            note = schema_instruction(self.schema_json)
            if msgs[0]["role"] == "system":
                msgs[0] = {"role": "system", "content": msgs[0]["content"] + "\n\n" + note}
            else:
                msgs.insert(0, {"role": "system", "content": note})
        self.messages = msgs
        self.params = params.with_(json_schema=self.schema_json)
        self.max_reasks = max_reasks
        self.results: list[ChatResult] = []
        self.attempts: list[Attempt] = []
        self.started = time.perf_counter()

    @property
    def exhausted(self) -> bool:
        return len(self.results) > self.max_reasks

    def steps(self) -> Steps[StructuredResult[T]]:
        """Ask, validate, re-ask: yields ``(messages, params)`` for each model call and is
        sent its reply; returns the validated result, or raises
        :class:`StructuredOutputError` once ``max_reasks`` re-asks failed too."""
        while not self.exhausted:
            done = self.feed((yield self.messages, self.params))
            if done is not None:
                return done
        raise self.failure()

    def feed(self, result: ChatResult) -> StructuredResult[T] | None:
        """Digest one reply: a :class:`StructuredResult` if it validated, else None."""
        self.results.append(result)
        self.attempts.extend(result.attempts[:-1])  # transport failures before this reply
        try:
            value, repaired = parse_structured(result.text, self.adapter)
            if self.check is not None:
                value = self.check(value)
        except ValueError as exc:
            self.attempts.append(
                Attempt(
                    model=result.model,
                    duration_s=result.duration_s,
                    error=str(exc),
                    error_type="ValidationError",
                    output=result.text,
                )
            )
            self.messages = [
                *self.messages,
                {"role": "assistant", "content": result.text},
                {
                    "role": "user",
                    "content": f"That reply is not a valid {self.type_name}: {exc}. "
                    "Reply again with only the corrected JSON.",
                },
            ]
            return None
        self.attempts.append(Attempt(model=result.model, duration_s=result.duration_s))
        return StructuredResult(
            value=value,
            result=result,
            usage=self.usage,
            cost=self.cost,
            attempts=tuple(self.attempts),
            repaired=repaired,
        )

    @property
    def usage(self) -> Usage:
        return sum_usage(r.usage for r in self.results)

    @property
    def cost(self) -> float | None:
        costs = [r.cost for r in self.results]
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)

    def failure(self) -> StructuredOutputError:
        last = self.attempts[-1].error if self.attempts else "no reply"
        return StructuredOutputError(
            f"no valid {self.type_name} after {len(self.results)} replies: {last}",
            hint="use a stronger model, simplify the schema, or raise structured_max_reasks",
            attempts=list(self.attempts),
            usage=self.usage,
        )


def drive(steps: Steps[R], generate: GenerateFn) -> R:
    """Run a sans-I/O loop (such as :meth:`StructuredLoop.steps`) with blocking calls."""
    request = next(steps)
    while True:
        reply = generate(*request)
        try:
            request = steps.send(reply)
        except StopIteration as stop:
            return stop.value


async def adrive(steps: Steps[R], agenerate: AsyncGenerateFn) -> R:
    """Run a sans-I/O loop with awaited calls (the loop itself is the same)."""
    request = next(steps)
    while True:
        reply = await agenerate(*request)
        try:
            request = steps.send(reply)
        except StopIteration as stop:
            return stop.value


def generate_structured(
    generate: GenerateFn,
    messages: Messages,
    schema: type[T],
    params: SamplingParams | None = None,
    *,
    max_reasks: int = 2,
    instruct: bool = True,
) -> StructuredResult[T]:
    """Ask ``generate`` for a ``schema`` instance until one validates (see module docs).

    ``generate(messages, params)`` is one model call: a ``ChatModel.generate`` or
    ``functools.partial(gateway.generate, model=...)``.
    """
    loop = StructuredLoop(
        messages, schema, params or SamplingParams(), max_reasks=max_reasks, instruct=instruct
    )
    return drive(loop.steps(), generate)


async def agenerate_structured(
    agenerate: AsyncGenerateFn,
    messages: Messages,
    schema: type[T],
    params: SamplingParams | None = None,
    *,
    max_reasks: int = 2,
    instruct: bool = True,
) -> StructuredResult[T]:
    """The async twin of :func:`generate_structured`."""
    loop = StructuredLoop(
        messages, schema, params or SamplingParams(), max_reasks=max_reasks, instruct=instruct
    )
    return await adrive(loop.steps(), agenerate)


__all__ = [
    "JsonSchema",
    "Request",
    "Steps",
    "StructuredLoop",
    "StructuredResult",
    "adrive",
    "agenerate_structured",
    "drive",
    "function_calls_schema",
    "generate_structured",
    "parse_structured",
    "repair_json",
    "schema_instruction",
]
