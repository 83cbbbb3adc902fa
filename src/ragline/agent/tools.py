"""Tools an agent can call: a Python function (or an MCP-style JSON schema) with a schema.

A :class:`Tool` is a name, a description, the JSON schema of its arguments (an OpenAI-style
object schema) and the function that runs it. Build one from a function with type hints and
a docstring (the schema comes from a pydantic model of the signature, each parameter's
description from the docstring's ``Args:`` section)::

    @tool()
    def convert(amount: float, to: Literal["EUR", "USD"] = "EUR") -> dict:
        \"\"\"Convert an amount of money.

        Args:
            amount: how much, in the source currency
            to: the currency to convert to
        \"\"\"

or from a JSON schema definition with :meth:`Tool.from_schema` (its arguments are then
checked by a JSON-schema validator, ``jsonschema_rs``). A tool that changes something is
marked ``side_effects=True``: the agent loop asks a person before it runs.

:class:`ToolRegistry` holds the tools of a run. :meth:`ToolRegistry.call` validates the
arguments before every call, runs the tool with a timeout, turns a tool that raises, hangs or
returns something that is not JSON into a failed :class:`ToolResult` (never an exception the
caller must catch), and records each call as a ``tool`` span. :meth:`ToolRegistry.default`
holds the built-ins (``search``, ``read_document``, ``calculator``, ``now``) and the user's
tools registered under the ``ragline.tools`` entry-point group.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
import re
import threading
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field, ValidationError, create_model
from pydantic_core import to_jsonable_python

from ragline.agent.builtin_tools import calculator, document_tools, now
from ragline.errors import (
    ConfigError,
    RaglineError,
    ToolArgumentsError,
    ToolError,
    ToolExecutionError,
    ToolNotFoundError,
    ToolTimeoutError,
)
from ragline.trace.tracer import NOOP_TRACER, AnyTracer

if TYPE_CHECKING:
    from ragline.config import Settings, ToolSettings
    from ragline.retrieve.retriever import Retriever
    from ragline.store.base import Store

log = logging.getLogger(__name__)

#: What a tool name may be: OpenAI's characters, plus dots (``math.factorial`` in BFCL).
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: Docstring sections that end the description (Google, NumPy and Sphinx styles).
_SECTION = re.compile(
    r"^\s*(Args|Arguments|Parameters|Params|Returns?|Yields?|Raises|Examples?|Notes?)\s*:?\s*$"
)
_ARGS_HEADERS = {"args", "arguments", "parameters", "params"}
_GOOGLE_ARG = re.compile(r"^\s*\*{0,2}(\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_SPHINX_ARG = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")
#: Arguments a model sends: a JSON object (or its text, as OpenAI's ``tool_calls`` carry it).
Arguments = Mapping[str, Any] | str | None

# --------------------------------------------------------------------------- docstrings


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """``(description, {parameter: description})`` from a Google-, NumPy- or Sphinx-style
    docstring. The description is the first paragraph before any section."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    numpy = False
    current: str | None = None
    current_indent = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        sphinx = _SPHINX_ARG.match(line)
        head = _SECTION.match(line)
        if sphinx:
            section, current = "sphinx", sphinx.group(1)
            params[current] = sphinx.group(2).strip()
        elif head:
            section, current = head.group(1).lower(), None
            numpy = i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}
            i += 1 if numpy else 0  # skip the NumPy underline
        elif section is None:
            description.append(line)
        elif section in _ARGS_HEADERS and numpy:
            if indent == 0 and stripped:  # "name : type"
                current = stripped.split(":")[0].strip()
                params[current] = ""
            elif current is not None and stripped:
                params[current] = (params[current] + " " + stripped).strip()
        elif section in _ARGS_HEADERS or section == "sphinx":
            google = _GOOGLE_ARG.match(line) if section != "sphinx" else None
            if google and (current is None or indent <= current_indent):
                current, current_indent = google.group(1), indent
                params[current] = google.group(3).strip()
            elif current is not None and stripped:
                params[current] = (params[current] + " " + stripped).strip()
        i += 1
    text = "\n".join(description).strip()
    first = text.split("\n\n")[0] if text else ""
    return re.sub(r"\s*\n\s*", " ", first).strip(), params


def _clean_schema(schema: Any) -> Any:
    """Drop pydantic's ``title`` keys (noise in a small model's prompt and grammar)."""
    if isinstance(schema, dict):
        return {
            k: _clean_schema(v)
            for k, v in schema.items()
            if not (k == "title" and isinstance(v, str))
        }
    if isinstance(schema, list):
        return [_clean_schema(v) for v in schema]
    return schema


def _drop_optional_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``x: T | None = None`` is an optional ``T``: its schema says ``T`` (a small model and a
    grammar do better without the ``anyOf`` over ``null``; the validator still takes null)."""
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        branches = prop.get("anyOf")
        if name in required or prop.get("default", 0) is not None or not branches:
            continue
        rest = [b for b in branches if b != {"type": "null"}]
        if len(rest) == 1 and len(rest) < len(branches):
            extra = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
            schema["properties"][name] = {**rest[0], **extra}
    return schema


def _problems_of_pydantic(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors()[:8]:
        loc = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        out.append(f"{loc}: {err['msg']}")
    return out


def _json_validator(name: str, schema: Mapping[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A JSON-schema check of ``schema`` (``jsonschema_rs``, Draft 2020-12 unless stated)."""
    import jsonschema_rs

    try:
        validator = jsonschema_rs.validator_for(dict(schema))
    except (jsonschema_rs.ValidationError, ValueError) as exc:
        raise ConfigError(
            f"tool {name!r}: its parameters are not a valid JSON schema: "
            f"{str(exc).splitlines()[0]}",
            hint="fix the tool definition's 'parameters' (an object schema)",
        ) from exc

    def check(arguments: dict[str, Any]) -> None:
        problems = []
        for err in validator.iter_errors(arguments):
            path = ".".join(str(p) for p in err.instance_path) or "(arguments)"
            problems.append(f"{path}: {err.message}")
            if len(problems) >= 8:
                break
        if problems:
            raise ToolArgumentsError(
                f"arguments of tool {name!r} do not validate: " + "; ".join(problems),
                tool=name,
                problems=problems,
                hint="send arguments that match the tool's JSON schema",
            )

    return check


def _arguments_dict(name: str, arguments: Arguments) -> dict[str, Any]:
    if arguments is None:
        return {}
    if isinstance(arguments, str):
        text = arguments.strip() or "{}"
        try:
            arguments = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ToolArgumentsError(
                f"arguments of tool {name!r} are not valid JSON: {exc.msg} at {exc.pos}",
                tool=name,
                problems=[f"(arguments): not JSON: {exc.msg}"],
                hint="send the arguments as one JSON object",
            ) from exc
    if not isinstance(arguments, Mapping):
        raise ToolArgumentsError(
            f"arguments of tool {name!r} must be a JSON object, not {type(arguments).__name__}",
            tool=name,
            problems=[f"(arguments): expected an object, got {type(arguments).__name__}"],
            hint='send {"parameter": value, ...}',
        )
    return dict(arguments)


# --------------------------------------------------------------------------- Tool


@dataclass(frozen=True, slots=True)
class Tool:
    """A callable tool: its name, description, argument schema and function.

    ``parameters`` is an OpenAI-style object schema. ``timeout_s`` None: the registry's
    (``tools.timeout_s``). Build one with :meth:`from_function`, :meth:`from_schema` or the
    :func:`tool` decorator; constructed directly, its arguments are checked against
    ``parameters`` by a JSON-schema validator.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any] = field(repr=False, compare=False)
    side_effects: bool = False
    timeout_s: float | None = None
    #: ``arguments -> keyword arguments of fn``; raises :class:`ToolArgumentsError`.
    validator: Callable[[dict[str, Any]], dict[str, Any]] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not _NAME.match(self.name or ""):
            raise ConfigError(
                f"invalid tool name {self.name!r}",
                hint="use 1-64 letters, digits, '_', '-' or '.'",
            )
        if not isinstance(self.parameters, Mapping) or self.parameters.get("type") != "object":
            raise ConfigError(
                f"tool {self.name!r}: parameters must be a JSON object schema "
                f'({{"type": "object", "properties": {{...}}}})',
                hint="wrap the arguments in an object schema, as OpenAI's tools API does",
            )
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ConfigError(f"tool {self.name!r}: timeout_s must be > 0")
        if self.validator is None:
            check = _json_validator(self.name, self.parameters)

            def validate(arguments: dict[str, Any]) -> dict[str, Any]:
                check(arguments)
                return arguments

            object.__setattr__(self, "validator", validate)

    # builders ----------------------------------------------------------------------------
    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        side_effects: bool = False,
        timeout_s: float | None = None,
    ) -> Tool:
        """A tool from a function's signature (type hints) and docstring.

        Every parameter needs a type hint; its description comes from the docstring's
        ``Args:`` section (or ``:param x:``, or NumPy ``Parameters``). Arguments are
        validated (and coerced) by a pydantic model of the signature; extra ones are refused.
        """
        if isinstance(fn, Tool):
            return fn
        tool_name = name or getattr(fn, "__name__", "")
        summary, arg_docs = parse_docstring(inspect.getdoc(fn))
        text = description if description is not None else summary
        if not text:
            raise ConfigError(
                f"tool {tool_name!r} has no description",
                hint="give the function a docstring (its first paragraph describes the tool)",
            )
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception as exc:  # a forward reference that does not resolve
            raise ConfigError(
                f"tool {tool_name!r}: its type hints cannot be resolved: {exc}",
                hint="import the types the signature names at module level",
            ) from exc
        fields: dict[str, Any] = {}
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise ConfigError(
                    f"tool {tool_name!r}: *{p.name} / **{p.name} cannot be described by a "
                    "JSON schema",
                    hint="name every parameter",
                )
            if p.name not in hints:
                raise ConfigError(
                    f"tool {tool_name!r}: parameter {p.name!r} has no type hint",
                    hint=f"annotate it, e.g. `{p.name}: str`",
                )
            default = ... if p.default is inspect.Parameter.empty else p.default
            fields[p.name] = (hints[p.name], Field(default, description=arg_docs.get(p.name)))
        try:
            model = create_model(  # type: ignore[call-overload]
                re.sub(r"\W", "_", tool_name) + "_arguments",
                __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=False),
                **fields,
            )
            schema = _drop_optional_null(_clean_schema(model.model_json_schema()))
        except Exception as exc:  # a type pydantic cannot turn into a schema
            raise ConfigError(
                f"tool {tool_name!r}: its signature has no JSON schema: {exc}",
                hint="use JSON types (str, int, float, bool, list, dict, Literal, "
                "pydantic models, Enum)",
            ) from exc
        schema.setdefault("properties", {})

        def validate(arguments: dict[str, Any]) -> dict[str, Any]:
            try:
                obj = model.model_validate(arguments)
            except ValidationError as exc:
                problems = _problems_of_pydantic(exc)
                raise ToolArgumentsError(
                    f"arguments of tool {tool_name!r} do not validate: " + "; ".join(problems),
                    tool=tool_name,
                    problems=problems,
                    hint="send arguments that match the tool's JSON schema",
                ) from None
            return {k: getattr(obj, k) for k in fields}

        return cls(
            name=tool_name,
            description=text,
            parameters=schema,
            fn=fn,
            side_effects=side_effects,
            timeout_s=timeout_s,
            validator=validate,
        )

    @classmethod
    def from_schema(
        cls,
        definition: Mapping[str, Any],
        fn: Callable[..., Any],
        *,
        side_effects: bool = False,
        timeout_s: float | None = None,
    ) -> Tool:
        """A tool from a JSON-schema definition: OpenAI's ``{"type": "function", "function":
        {name, description, parameters}}``, its inner object, or MCP's ``{name, description,
        inputSchema}``. ``fn`` is called with the validated arguments as keywords."""
        d = dict(definition)
        if d.get("type") == "function" and isinstance(d.get("function"), Mapping):
            d = dict(d["function"])
        name = d.get("name")
        if not isinstance(name, str):
            raise ConfigError(
                f"a tool definition has no name: {json.dumps(definition)[:200]}",
                hint='use {"name": ..., "description": ..., "parameters": {...}}',
            )
        params = d.get("parameters", d.get("inputSchema"))
        if params is None:
            params = {"type": "object", "properties": {}}
        params = normalize_parameters(params)
        return cls(
            name=name,
            description=str(d.get("description") or ""),
            parameters=params,
            fn=fn,
            side_effects=side_effects,
            timeout_s=timeout_s,
        )

    # use ---------------------------------------------------------------------------------
    def validate(self, arguments: Arguments) -> dict[str, Any]:
        """The keyword arguments of :attr:`fn` for ``arguments`` (a JSON object or its text);
        raises :class:`ToolArgumentsError` naming each problem."""
        assert self.validator is not None
        return self.validator(_arguments_dict(self.name, arguments))

    def to_openai(self) -> dict[str, Any]:
        """OpenAI's ``{"type": "function", "function": {name, description, parameters}}``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def normalize_parameters(params: Any) -> dict[str, Any]:
    """An OpenAI-style object schema from what tool definitions carry in practice: BFCL's
    ``"type": "dict"`` and Python type names (``float``, ``tuple``, ``any``) become JSON
    Schema's, so a validator and a llama.cpp grammar accept them."""
    if not isinstance(params, Mapping):
        raise ConfigError(
            f"tool parameters must be a JSON object schema, not {type(params).__name__}",
            hint='use {"type": "object", "properties": {...}}',
        )
    return _normalize_node(dict(params))  # type: ignore[return-value]


_PY_TYPES = {
    "dict": "object",
    "float": "number",
    "int": "integer",
    "str": "string",
    "bool": "boolean",
    "list": "array",
    "tuple": "array",
    "set": "array",
    "long": "integer",
    "double": "number",
    "byte": "integer",
    "short": "integer",
    "char": "string",
    "String": "string",
    "Boolean": "boolean",
    "Integer": "integer",
    "Array": "array",
    "ArrayList": "array",
    "HashMap": "object",
    "Hashtable": "object",
    "Queue": "array",
    "Stack": "array",
    "Any": None,
    "any": None,
}


def _normalize_node(node: Any) -> Any:
    if isinstance(node, list):
        return [_normalize_node(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k == "type" and isinstance(v, str) and v in _PY_TYPES:
            mapped = _PY_TYPES[v]
            if mapped is not None:
                out[k] = mapped
        elif k == "type" and isinstance(v, list):
            out[k] = [_PY_TYPES.get(t, t) for t in v if _PY_TYPES.get(t, t) is not None]
        elif k in ("properties", "$defs", "definitions") and isinstance(v, dict):
            out[k] = {name: _normalize_node(sub) for name, sub in v.items()}
        elif k in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "not"):
            out[k] = _normalize_node(v)
        else:
            out[k] = v
    if out.get("type") == "object":
        out.setdefault("properties", {})
    return out


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    side_effects: bool = False,
    timeout_s: float | None = None,
) -> Any:
    """Decorator: ``@tool()`` / ``@tool`` / ``@tool(side_effects=True, name="send")`` turn a
    typed, documented function into a :class:`Tool` (see :meth:`Tool.from_function`)."""

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool.from_function(f, name=name, side_effects=side_effects, timeout_s=timeout_s)

    return wrap(fn) if fn is not None else wrap


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What one call gave: the output (JSON-ready) or the error, and how long it took.

    ``error_type`` names the :class:`~ragline.errors.ToolError` subclass of a failure
    (``ToolNotFoundError``, ``ToolArgumentsError``, ``ToolTimeoutError``,
    ``ToolExecutionError``) so a caller can tell them apart without parsing text.
    """

    name: str
    arguments: dict[str, Any]
    ok: bool
    output: Any = None
    error: str | None = None
    latency_ms: float = 0.0
    error_type: str | None = None
    trace_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arguments": self.arguments,
            "ok": self.ok,
            "output": self.output,
            "error": self.error,
            "error_type": self.error_type,
            "latency_ms": round(self.latency_ms, 3),
        }

    def as_message(self) -> str:
        """The result as the text a model reads next (JSON of the output, or the error)."""
        if self.ok:
            return json.dumps(self.output, ensure_ascii=False)
        return json.dumps({"error": self.error}, ensure_ascii=False)


def jsonable(value: Any, *, tool: str = "tool") -> Any:
    """``value`` as plain JSON data (dataclasses, pydantic models, dates, sets and tuples are
    converted); raises :class:`ToolExecutionError` for what has no JSON form (an open file,
    a NaN)."""
    try:
        data = to_jsonable_python(value)
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ToolExecutionError(
            f"tool {tool!r} returned a {type(value).__name__}, which is not JSON: {exc}",
            tool=tool,
            hint="return str, numbers, bools, None, lists and dicts of them (or a "
            "dataclass / pydantic model)",
        ) from None
    return data


class _Outcome:
    __slots__ = ("error", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None


def _invoke(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    result = fn(**kwargs)
    if inspect.isawaitable(result):
        return asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _run_with_timeout(
    fn: Callable[..., Any], kwargs: dict[str, Any], timeout_s: float | None, name: str
) -> Any:
    """Run ``fn`` on a daemon thread and wait at most ``timeout_s`` (a thread cannot be
    killed: a hung tool's thread is abandoned, and the call fails now)."""
    if timeout_s is None:
        return _invoke(fn, kwargs)
    outcome = _Outcome()
    ctx = contextvars.copy_context()  # the tool's own spans nest under its span

    def target() -> None:
        try:
            outcome.value = ctx.run(_invoke, fn, kwargs)
        except BaseException as exc:  # handed back to the caller's thread
            outcome.error = exc

    thread = threading.Thread(target=target, name=f"ragline-tool-{name}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise ToolTimeoutError(
            f"tool {name!r} did not return within {timeout_s:g} s",
            tool=name,
            hint="raise the tool's timeout_s (or tools.timeout_s), or make the tool faster",
        )
    if outcome.error is not None:
        raise outcome.error
    return outcome.value


# --------------------------------------------------------------------------- registry


class ToolRegistry:
    """The tools of an agent or a request, by name.

    ``settings`` (``Settings.tools``) gives the default timeout; without it a tool with no
    ``timeout_s`` of its own runs unbounded. :meth:`default` builds the usual registry.
    """

    def __init__(
        self,
        tools: Iterable[Tool] = (),
        *,
        settings: ToolSettings | None = None,
        tracer: AnyTracer | None = None,
    ) -> None:
        self.settings = settings
        self.tracer: AnyTracer = tracer or NOOP_TRACER
        self._tools: dict[str, Tool] = {}
        #: Plugins of ``ragline.tools`` that failed to load: name -> error text.
        self.broken: dict[str, str] = {}
        for t in tools:
            self.register(t)

    # contents ----------------------------------------------------------------------------
    def register(self, item: Tool | Callable[..., Any], *, replace: bool = False) -> Tool:
        """Add a tool (a :class:`Tool`, or a typed, documented function); returns it."""
        t = item if isinstance(item, Tool) else Tool.from_function(item)
        if t.name in self._tools and not replace:
            raise ConfigError(
                f"a tool named {t.name!r} is already registered",
                hint="rename one of them, or register with replace=True",
            )
        self._tools[t.name] = t
        return t

    def get(self, name: str) -> Tool:
        """The tool called ``name``; :class:`ToolNotFoundError` lists the registered ones."""
        t = self._tools.get(name)
        if t is None:
            known = ", ".join(self.names()) or "none"
            raise ToolNotFoundError(
                f"no tool named {name!r} (registered: {known})",
                tool=name,
                hint="call one of the registered tools",
            )
        return t

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._tools)

    def subset(self, names: Iterable[str]) -> ToolRegistry:
        """A registry of only ``names`` (each must exist), sharing settings and tracer."""
        out = ToolRegistry(settings=self.settings, tracer=self.tracer)
        for n in names:
            out.register(self.get(n))
        return out

    def openai_tools(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The tools (all, or ``names``) in OpenAI's ``tools`` format."""
        picked = self.names() if names is None else list(names)
        return [self.get(n).to_openai() for n in picked]

    # calls -------------------------------------------------------------------------------
    def validate(self, name: str, arguments: Arguments) -> dict[str, Any]:
        """The validated keyword arguments of a call; raises :class:`ToolNotFoundError` or
        :class:`ToolArgumentsError`."""
        return self.get(name).validate(arguments)

    def timeout_of(self, t: Tool) -> float | None:
        if t.timeout_s is not None:
            return t.timeout_s
        return None if self.settings is None else self.settings.timeout_s

    def call(
        self, name: str, arguments: Arguments, *, tracer: AnyTracer | None = None
    ) -> ToolResult:
        """Validate, run (with the timeout), and check the output of one call.

        Never raises for the tool's own failures: an unknown tool, bad arguments, a tool that
        raises or hangs, or an output that is not JSON each give a :class:`ToolResult` with
        ``ok=False``, a clear ``error`` and its ``error_type``; the ``tool`` span records it.
        """
        tr = tracer or self.tracer
        started = time.perf_counter()
        try:
            raw = _arguments_dict(name, arguments)
        except ToolArgumentsError:
            raw = {"_raw": arguments if isinstance(arguments, str) else repr(arguments)}
        with tr.trace(
            "tool",
            **{
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": name,
                "input": json.dumps(raw, ensure_ascii=False, default=repr),
            },
        ) as span:
            try:
                t = self.get(name)
                kwargs = t.validate(arguments)
                span.set(side_effects=t.side_effects)
                output = jsonable(
                    _run_with_timeout(t.fn, kwargs, self.timeout_of(t), name), tool=name
                )
            except ToolError as exc:
                span.record_error(exc)
                span.set(error_type=type(exc).__name__)
                return self._failed(name, raw, exc, started, span.trace_id)
            except Exception as exc:  # the tool's own bug: reported, traced, not raised
                err = ToolExecutionError(
                    f"tool {name!r} raised {type(exc).__name__}: {exc}",
                    tool=name,
                    hint="check the arguments, or fix the tool",
                )
                span.record_error(err)
                span.set(error_type=type(err).__name__)
                return self._failed(name, raw, err, started, span.trace_id)
            latency = (time.perf_counter() - started) * 1000
            if span.recording:
                span.set(output=json.dumps(output, ensure_ascii=False), latency_ms=latency)
            return ToolResult(
                name=name,
                arguments=jsonable(kwargs, tool=name) if _plain(kwargs) else raw,
                ok=True,
                output=output,
                latency_ms=latency,
                trace_id=span.trace_id,
            )

    @staticmethod
    def _failed(
        name: str, raw: dict[str, Any], exc: RaglineError, started: float, trace_id: str | None
    ) -> ToolResult:
        return ToolResult(
            name=name,
            arguments=raw,
            ok=False,
            error=exc.message,
            error_type=type(exc).__name__,
            latency_ms=(time.perf_counter() - started) * 1000,
            trace_id=trace_id,
        )

    # the default registry -----------------------------------------------------------------
    @classmethod
    def default(
        cls,
        settings: Settings,
        *,
        collection: str | None = None,
        store: Store | None = None,
        retriever: Retriever | None = None,
        tracer: AnyTracer | None = None,
        plugins: bool | None = None,
    ) -> ToolRegistry:
        """The built-ins and the user's tools.

        ``calculator`` and ``now`` always; ``search`` and ``read_document`` over
        ``collection`` (default ``settings.default_collection``) when a ``retriever`` (or a
        ``store``, for which one is built) is given; then every tool of the ``ragline.tools``
        entry-point group (``plugins`` None: ``tools.plugins``). A plugin that fails to load
        is left out, logged and listed in :attr:`broken`.
        """
        reg = cls(settings=settings.tools, tracer=tracer)
        reg.register(calculator)
        reg.register(now)
        if retriever is None and store is not None:
            from ragline.retrieve.retriever import Retriever

            retriever = Retriever(store, settings, tracer=tracer)
        if retriever is not None:
            coll = collection or settings.default_collection
            for t in document_tools(retriever, coll, settings.tools):
                reg.register(t)
        if settings.tools.plugins if plugins is None else plugins:
            load_plugin_tools(reg)
        return reg


def _plain(kwargs: dict[str, Any]) -> bool:
    try:
        json.dumps(to_jsonable_python(kwargs), allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def plugin_tool(name: str, obj: Any) -> Tool:
    """The :class:`Tool` an entry point of ``ragline.tools`` names: a Tool, or a typed,
    documented function (registered under the entry point's name)."""
    if isinstance(obj, Tool):
        return obj
    if callable(obj):
        return Tool.from_function(obj, name=name)
    raise ConfigError(
        f"the ragline.tools entry point {name!r} names a {type(obj).__name__}, not a tool",
        hint="point it at a ragline.agent.tools.Tool or at a typed function with a docstring",
    )


def load_plugin_tools(reg: ToolRegistry) -> None:
    """Add every tool of the ``ragline.tools`` entry-point group to ``reg``; a plugin that
    fails to load, or that would shadow a tool already there, is skipped and recorded."""
    from ragline import plugins

    for name in plugins.names("tools"):
        try:
            t = plugin_tool(name, plugins.load("tools", name))
            if t.name in reg:
                raise ConfigError(
                    f"the plugin tool {t.name!r} would shadow a tool of the same name",
                    hint="rename the plugin's entry point",
                )
            reg.register(t)
        except RaglineError as exc:
            log.warning("tool plugin %r left out: %s", name, exc)
            reg.broken[name] = str(exc)


__all__ = [
    "Arguments",
    "Tool",
    "ToolRegistry",
    "ToolResult",
    "jsonable",
    "load_plugin_tools",
    "normalize_parameters",
    "parse_docstring",
    "plugin_tool",
    "tool",
]
