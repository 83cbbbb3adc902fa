"""One step of function calling: a request and a set of tool definitions in, the calls out.

>>> call_functions("embedded", "What is 17 * 23?", [calculator_definition])  # doctest: +SKIP
[ToolCall(name='calculator', arguments={'expression': '17 * 23'})]

``tools`` are OpenAI-format function definitions (``{"type": "function", "function":
{name, description, parameters}}``, the inner object alone, an MCP ``inputSchema`` one, or
:class:`~ragline.agent.tools.Tool` objects). Two ways to get the calls, picked by the model:

* **Local models** (llama.cpp, and any provider without a tools API): the prompt
  ``function_call@v1`` lists the definitions, and the reply is constrained by a grammar
  built from them (:func:`ragline.models.structured.function_calls_schema`): a JSON object
  ``{"calls": [{"name", "arguments"}]}`` whose names can only be those of the tools and whose
  arguments have their shape. ``{"calls": []}`` means that no tool fits. Even the 135M
  model can only write calls that exist.
* **OpenAI-compatible servers**: the request carries ``tools`` / ``tool_choice``, and the
  calls come back in the message's ``tool_calls``.

Either way, every call is validated against its tool's JSON schema before it is returned; a
reply that does not validate is sent back with the problems (``tools.call_max_reasks``
times), then :class:`~ragline.errors.StructuredOutputError` is raised.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ragline.agent.grounding import ungrounded_calls
from ragline.agent.tools import Tool, normalize_parameters
from ragline.errors import ConfigError, StructuredOutputError, ToolArgumentsError
from ragline.models.chat import (
    Attempt,
    ChatModel,
    ChatResult,
    Messages,
    SamplingParams,
    Usage,
    normalize_messages,
    sum_usage,
)
from ragline.models.structured import JsonSchema, StructuredLoop, drive, function_calls_schema
from ragline.trace.tracer import NOOP_TRACER, AnyTracer
from ragline.types import ToolCall  # re-exported: a call is a value the model layer returns

if TYPE_CHECKING:
    from ragline.config import Settings
    from ragline.models.gateway import Gateway
    from ragline.prompts import Prompt

#: ``"auto"`` (call what fits, possibly nothing), ``"none"``, ``"required"`` (at least one
#: call), or one function: ``{"type": "function", "function": {"name": ...}}`` / its name.
ToolChoice = str | Mapping[str, Any]
ToolDefinition = Mapping[str, Any] | Tool
#: OpenAI's function names: no dots (BFCL has ``math.factorial``): sent with ``_`` instead.
_OPENAI_NAME = re.compile(r"[^a-zA-Z0-9_-]")


@dataclass(frozen=True, slots=True)
class FunctionCalls:
    """The calls of one step and what they took: ``via`` says how they were obtained
    (``grammar``, ``tools_api``, ``none`` when ``tool_choice`` was ``"none"``, ``gate``
    when the relevance gate found no offered tool fits: :mod:`ragline.agent.relevance`, or
    ``grounding`` when every call the model wrote had a required value the conversation does
    not contain: :mod:`ragline.agent.grounding`)."""

    calls: list[ToolCall]
    via: Literal["grammar", "tools_api", "none", "gate", "grounding"]
    result: ChatResult | None = None
    usage: Usage = field(default_factory=lambda: Usage(0, 0))
    attempts: tuple[Attempt, ...] = ()
    #: The relevance gate's probability that an offered tool fits (None: not gated).
    relevance: float | None = None
    #: Calls withheld because the conversation does not contain a value they need: each
    #: with the required parameters whose value the model made up (``tools.grounded_calls``).
    withheld: tuple[tuple[ToolCall, tuple[str, ...]], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": [c.to_dict() for c in self.calls],
            "via": self.via,
            "usage": self.usage.to_dict(),
            "model": None if self.result is None else self.result.model,
            "relevance": None if self.relevance is None else round(self.relevance, 4),
            "withheld": [{**c.to_dict(), "ungrounded": list(p)} for c, p in self.withheld],
        }


def _refuse(**kwargs: Any) -> Any:
    raise ConfigError("a tool built from a definition alone cannot run", hint="pass a function")


def tool_definitions(tools: Sequence[ToolDefinition]) -> list[Tool]:
    """The tools of ``tools`` (definitions or :class:`Tool` objects), each checked: a name, an
    object schema that is valid JSON Schema, and no name twice."""
    out: list[Tool] = []
    for i, item in enumerate(tools):
        if isinstance(item, Tool):
            out.append(item)
            continue
        if not isinstance(item, Mapping):
            raise ConfigError(
                f"tool definition {i} is a {type(item).__name__}, not a JSON object",
                hint='use {"type": "function", "function": {"name", "description", "parameters"}}',
            )
        d = dict(item)
        if d.get("type") == "function" and isinstance(d.get("function"), Mapping):
            d = dict(d["function"])
        params = d.get("parameters", d.get("inputSchema"))
        if params is not None:
            d["parameters"] = normalize_parameters(params)
            d.pop("inputSchema", None)
        out.append(Tool.from_schema(d, _refuse))
    seen: set[str] = set()
    for t in out:
        if t.name in seen:
            raise ConfigError(
                f"two tools are named {t.name!r}", hint="give every tool its own name"
            )
        seen.add(t.name)
    return out


def allowed_tools(tool_choice: ToolChoice | None, tools: list[Tool]) -> tuple[list[Tool], bool]:
    """The tools the model may call and whether it must call one."""
    if tool_choice is None or tool_choice == "auto":
        return tools, False
    if tool_choice == "none":
        return [], False
    if tool_choice in ("required", "any"):
        return tools, True
    if isinstance(tool_choice, Mapping):
        fn = tool_choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else tool_choice.get("name")
    else:
        name = tool_choice
    picked = [t for t in tools if t.name == name]
    if not picked:
        raise ConfigError(
            f"tool_choice names {name!r}, which is not one of the tools "
            f"({', '.join(t.name for t in tools) or 'none'})",
            hint='use "auto", "none", "required" or {"type": "function", "function": '
            '{"name": <one of the tools>}}',
        )
    return picked, True


def _messages(prompt: Prompt, tools: str, request: Messages) -> list[dict[str, str]]:
    """The prompt rendered with the last user message; earlier turns go before it, and the
    request's own system text is joined to the prompt's."""
    msgs = normalize_messages(request)
    own = [m["content"] for m in msgs if m["role"] == "system"]
    convo = [m for m in msgs if m["role"] != "system"]
    if not convo or convo[-1]["role"] != "user":
        raise ConfigError(
            "the request must end with a user message", hint="pass the user's text last"
        )
    rendered = prompt.render(tools=tools, request=convo[-1]["content"])
    system = [m for m in rendered if m["role"] == "system"]
    rest = [m for m in rendered if m["role"] != "system"]
    if own and system:
        system = [{"role": "system", "content": "\n\n".join([system[0]["content"], *own])}]
    return [*system, *convo[:-1], *rest]


def check_calls(value: Any, tools: Mapping[str, Tool]) -> list[ToolCall]:
    """The calls of a parsed reply, each validated against its tool's schema (a repeated
    identical call is kept once); raises :class:`ValueError` with a model-readable reason."""
    if not isinstance(value, Mapping) or not isinstance(value.get("calls"), list):
        raise ValueError('the reply must be {"calls": [...]}')
    problems: list[str] = []
    calls: list[ToolCall] = []
    for i, item in enumerate(value["calls"]):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            problems.append(f'call {i}: must be {{"name": ..., "arguments": {{...}}}}')
            continue
        name = item["name"]
        args = item.get("arguments", {})
        problem = _check_one(name, args, tools)
        if problem:
            problems.append(f"call {i} ({name}): {problem}")
        else:
            call = ToolCall(name=name, arguments=dict(args))
            if call not in calls:  # the same call twice would do the same thing twice
                calls.append(call)
    if problems:
        raise ValueError("; ".join(problems))
    return calls


def _check_one(name: str, args: Any, tools: Mapping[str, Tool]) -> str | None:
    t = tools.get(name)
    if t is None:
        return f"no such function; call one of {', '.join(sorted(tools)) or 'none'}"
    if not isinstance(args, Mapping):
        return "arguments must be a JSON object"
    try:
        t.validate(dict(args))
    except ToolArgumentsError as exc:
        return "; ".join(exc.problems) or exc.message
    return None


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True)
class _Target:
    generate: Callable[[list[dict[str, str]], SamplingParams], ChatResult]
    defaults: SamplingParams
    tools_api: bool


def _target(
    model: ChatModel | str, settings: Settings, gateway: Gateway | None
) -> tuple[_Target, Gateway | None]:
    """How to call ``model``, and whether it takes a tools API (an OpenAI-compatible
    server) or gets a grammar (llama.cpp and the rest). A name goes through ``gateway``, or
    one opened here (returned, for the caller to close)."""
    from ragline.models.gateway import Gateway
    from ragline.models.openai_compat import OpenAICompatChatModel

    opened = None
    name: str | None = None
    if isinstance(model, str):
        if gateway is None:
            gateway = opened = Gateway(settings)
        name = model
    elif isinstance(model, Gateway):
        gateway = model
    else:
        gateway = None
    if gateway is not None:
        first = gateway.resolve(gateway.chain(name)[0])
        generate = functools.partial(gateway.generate, model=name)
        return _Target(generate, gateway.defaults, isinstance(first, OpenAICompatChatModel)), opened
    defaults = getattr(model, "defaults", None)
    return (
        _Target(
            model.generate,  # type: ignore[union-attr]
            defaults if isinstance(defaults, SamplingParams) else SamplingParams(),
            isinstance(model, OpenAICompatChatModel),
        ),
        None,
    )


def function_calls(
    model: ChatModel | str,
    request: Messages,
    tools: Sequence[ToolDefinition],
    *,
    settings: Settings | None = None,
    tool_choice: ToolChoice | None = "auto",
    parallel: bool = True,
    tracer: AnyTracer | None = None,
    gateway: Gateway | None = None,
) -> FunctionCalls:
    """The calls for ``request`` with their usage and attempts (see :func:`call_functions`)."""
    from ragline.config import load_settings

    settings = settings if settings is not None else load_settings()
    defined = tool_definitions(tools)
    allowed, required = allowed_tools(tool_choice, defined)
    if not allowed:
        return FunctionCalls(calls=[], via="none")
    tr = tracer or NOOP_TRACER
    target, opened = _target(model, settings, gateway)
    # The gate is for local models (the grammar path): a server's model with a tools API
    # decides for itself.
    relevance = None
    if tool_choice in (None, "auto") and not target.tools_api:
        relevance = _relevance(request, allowed, settings)
    if relevance is not None and relevance[0] < relevance[1]:
        if opened is not None:
            opened.close()
        with tr.trace(
            "function_call",
            tools=[t.name for t in allowed],
            tool_choice=json.dumps(tool_choice) if tool_choice is not None else None,
        ) as span:
            span.set(calls=0, via="gate", relevance=round(relevance[0], 4))
        return FunctionCalls(calls=[], via="gate", relevance=relevance[0])
    try:
        with tr.trace(
            "function_call",
            tools=[t.name for t in allowed],
            tool_choice=json.dumps(tool_choice) if tool_choice is not None else None,
        ) as span:
            if relevance is not None:
                span.set(relevance=round(relevance[0], 4))
            if target.tools_api:
                out = _via_tools_api(target, request, allowed, required, parallel, settings)
            else:
                out = _via_grammar(target, request, allowed, required, parallel, settings)
            if relevance is not None:
                out = dataclasses.replace(out, relevance=relevance[0])
            if tool_choice in (None, "auto") and not target.tools_api:
                out = withhold_ungrounded(out, request, allowed, settings)
            span.set(calls=len(out.calls), via=out.via)
            if out.withheld:
                span.set(withheld=json.dumps([w[0].name for w in out.withheld]))
            if span.recording:
                span.set(output=json.dumps([c.to_dict() for c in out.calls], ensure_ascii=False))
            return out
    finally:
        if opened is not None:
            opened.close()


def withhold_ungrounded(
    made: FunctionCalls, request: Messages, tools: Sequence[Tool], settings: Settings
) -> FunctionCalls:
    """``made`` without the calls whose required values the conversation does not contain
    (:mod:`ragline.agent.grounding`; ``tools.grounded_calls``): a local model makes such
    values up rather than call nothing. When every call is withheld, ``via`` is
    ``grounding`` and there is no call."""
    if not settings.tools.grounded_calls or not made.calls:
        return made
    # Every turn's text: a value may come from an earlier tool result or reply.
    text = "\n".join(str(m.get("content") or "") for m in normalize_messages(request))
    missing = ungrounded_calls(
        [(c.name, c.arguments) for c in made.calls], {t.name: t.parameters for t in tools}, text
    )
    kept = [c for c, m in zip(made.calls, missing, strict=True) if not m]
    withheld = [(c, tuple(m)) for c, m in zip(made.calls, missing, strict=True) if m]
    if not withheld:
        return made
    return dataclasses.replace(
        made, calls=kept, via=made.via if kept else "grounding", withheld=tuple(withheld)
    )


def _relevance(
    request: Messages, tools: Sequence[Tool], settings: Settings
) -> tuple[float, float] | None:
    """(probability that a tool fits, threshold) from the relevance gate, or None when the
    gate is off or does not apply (another embedder; no user text)."""
    from ragline.agent.relevance import gate_for

    gate = gate_for(settings)
    if gate is None:
        return None
    text = " ".join(
        str(m.get("content") or "") for m in normalize_messages(request) if m.get("role") == "user"
    ).strip()
    if not text:
        return None
    threshold = settings.tools.relevance_threshold
    if threshold is None:
        threshold = gate.model.threshold
    return gate.probability(text, tools), threshold


def call_functions(
    model: ChatModel | str,
    request: Messages,
    tools: Sequence[ToolDefinition],
    *,
    settings: Settings | None = None,
    tool_choice: ToolChoice | None = "auto",
    parallel: bool = True,
    tracer: AnyTracer | None = None,
    gateway: Gateway | None = None,
) -> list[ToolCall]:
    """The function calls that carry out ``request`` (a user text or chat messages) with
    ``tools``, each validated against its schema; ``[]`` when no tool fits.

    ``model``: a chat model, the gateway, or a model name (``embedded``, ``qwen2.5-1.5b``,
    ``<endpoint>:<model>``). ``tool_choice``: ``"auto"``, ``"none"``, ``"required"`` or one
    tool; ``parallel=False``: at most one call. ``settings`` None: loaded (``tools.*``:
    prompt, temperature, tokens and re-asks). ``gateway``: the one a model name goes through
    (None: one is opened for the call).
    """
    return function_calls(
        model,
        request,
        tools,
        settings=settings,
        tool_choice=tool_choice,
        parallel=parallel,
        tracer=tracer,
        gateway=gateway,
    ).calls


def complete_calls(text: str) -> str:
    """A ``{"calls": [...]}`` reply cut short by ``max_tokens``, closed after its last whole
    call (a call cut in the middle is dropped; a reply with none left is ``{"calls": []}``)."""
    depth, quote, escaped = 0, False, False
    start = text.find('"calls"')
    if start < 0:
        return text
    last_end: int | None = None
    opened: int | None = None
    for i in range(start, len(text)):
        c = text[i]
        if quote:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                quote = False
        elif c == '"':
            quote = True
        elif c == "[" and opened is None:
            opened, depth = i, 1
        elif opened is not None and c in "[{":
            depth += 1
        elif opened is not None and c in "]}":
            depth -= 1
            if depth == 1 and c == "}":
                last_end = i
            if depth == 0:
                return text  # the list is closed: nothing was cut in it
    if opened is None:
        return text
    head = text[: opened + 1]
    if last_end is None:
        return head + "]}"
    return text[: last_end + 1] + "]}"


_REASON = (
    '\n\nBefore the calls, write a "reason": one short sentence saying what the user asks and '
    'which function does it, or that none does: {"reason": "...", "calls": [...]}'
)


def render_tools(tools: Sequence[Tool]) -> str:
    """One JSON definition per line, as the prompt lists them."""
    return "\n".join(json.dumps(t.to_openai(), ensure_ascii=False) for t in tools)


def _params(target: _Target, settings: Settings, **changes: Any) -> SamplingParams:
    cfg = settings.tools
    return target.defaults.with_(
        temperature=cfg.call_temperature, max_tokens=cfg.call_max_tokens, **changes
    )


def _via_grammar(
    target: _Target,
    request: Messages,
    tools: list[Tool],
    required: bool,
    parallel: bool,
    settings: Settings,
) -> FunctionCalls:
    from ragline.prompts import PromptRegistry

    prompt = PromptRegistry.from_settings(settings).get(settings.tools.call_prompt)
    messages = _messages(prompt, render_tools(tools), request)
    if settings.tools.call_reason_chars > 0:
        messages[0] = {**messages[0], "content": messages[0]["content"] + _REASON}
    schema = function_calls_schema(
        [(t.name, t.parameters) for t in tools],
        required=required,
        max_calls=settings.tools.call_max_calls if parallel else 1,
        reason_chars=settings.tools.call_reason_chars,
    )
    by_name = {t.name: t for t in tools}
    loop: StructuredLoop[list[ToolCall]] = StructuredLoop(
        messages,
        JsonSchema(schema, "function calls", lambda v: check_calls(v, by_name)),
        _params(target, settings),
        max_reasks=settings.tools.call_max_reasks,
        instruct=False,
    )

    def generate(messages: list[dict[str, str]], params: SamplingParams) -> ChatResult:
        result = target.generate(messages, params)
        if result.finish_reason == "length":  # max_tokens cut it: keep the complete calls
            return result.replace(text=complete_calls(result.text))
        return result

    done = drive(loop.steps(), generate)
    return FunctionCalls(
        calls=done.value,
        via="grammar",
        result=done.result,
        usage=done.usage,
        attempts=done.attempts,
    )


def _via_tools_api(
    target: _Target,
    request: Messages,
    tools: list[Tool],
    required: bool,
    parallel: bool,
    settings: Settings,
) -> FunctionCalls:
    """The server's own tools API; names it would refuse travel with ``_`` for ``.``."""
    wire = {_OPENAI_NAME.sub("_", t.name)[:64]: t for t in tools}
    if len(wire) < len(tools):
        raise ConfigError("two tool names are the same once made OpenAI-safe (. -> _)")
    definitions = []
    for safe, t in wire.items():
        d = t.to_openai()
        d["function"]["name"] = safe
        definitions.append(d)
    if required and len(tools) == 1:
        choice: Any = {"type": "function", "function": {"name": next(iter(wire))}}
    else:
        choice = "required" if required else "auto"
    params = _params(
        target,
        settings,
        tools=tuple(definitions),
        tool_choice=choice,
        parallel_tool_calls=None if parallel else False,
    )
    messages = normalize_messages(request)
    by_name = {t.name: t for t in tools}
    results: list[ChatResult] = []
    attempts: list[Attempt] = []
    for _ in range(settings.tools.call_max_reasks + 1):
        result = target.generate(messages, params)
        results.append(result)
        attempts.extend(result.attempts[:-1])
        raw = [
            {
                "name": wire[c.name].name if c.name in wire else c.name,
                "arguments": c.arguments if c.raw_arguments is None else c.raw_arguments,
            }
            for c in result.tool_calls
        ]
        raw = raw[: settings.tools.call_max_calls if parallel else 1]
        try:
            calls = check_calls({"calls": raw}, by_name)
            if required and not calls:
                raise ValueError("call at least one of the functions")
        except ValueError as exc:
            attempts.append(
                Attempt(
                    model=result.model,
                    duration_s=result.duration_s,
                    error=str(exc),
                    error_type="ValidationError",
                    output=json.dumps(raw, ensure_ascii=False),
                )
            )
            messages = [
                *messages,
                {"role": "assistant", "content": json.dumps({"calls": raw}, ensure_ascii=False)},
                {"role": "user", "content": f"Those calls are not valid: {exc}. Call again."},
            ]
            continue
        attempts.append(Attempt(model=result.model, duration_s=result.duration_s))
        ids = [c.id for c in result.tool_calls]
        calls = [
            ToolCall(name=c.name, arguments=c.arguments, id=ids[i] if i < len(ids) else None)
            for i, c in enumerate(calls)
        ]
        return FunctionCalls(
            calls=calls,
            via="tools_api",
            result=result,
            usage=sum_usage(r.usage for r in results),
            attempts=tuple(attempts),
        )
    last = attempts[-1].error if attempts else "no reply"
    raise StructuredOutputError(
        f"no valid function calls after {len(results)} replies: {last}",
        hint="use a stronger model, simplify the tools' schemas, or raise tools.call_max_reasks",
        attempts=attempts,
        usage=sum_usage(r.usage for r in results),
    )


__all__ = [
    "FunctionCalls",
    "ToolCall",
    "ToolChoice",
    "ToolDefinition",
    "allowed_tools",
    "call_functions",
    "check_calls",
    "complete_calls",
    "function_calls",
    "render_tools",
    "tool_definitions",
]
