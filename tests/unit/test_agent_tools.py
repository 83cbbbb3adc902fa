"""Tools: schemas from signatures and docstrings, validation before every call, and the
registry's outcomes for a tool that raises, hangs, returns non-JSON or does not exist."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Literal

import pytest

from ragline import plugins
from ragline.agent import builtin_tools
from ragline.agent.builtin_tools import evaluate_arithmetic
from ragline.agent.tools import (
    Tool,
    ToolRegistry,
    ToolResult,
    load_plugin_tools,
    normalize_parameters,
    parse_docstring,
    tool,
)
from ragline.config import ToolSettings, TraceSettings
from ragline.errors import (
    ConfigError,
    ToolArgumentsError,
    ToolNotFoundError,
)
from ragline.testing.trace_conformance import ListSink
from ragline.trace import Tracer

calculator = Tool.from_function(builtin_tools.calculator)
now = Tool.from_function(builtin_tools.now)


class Unit(Enum):
    C = "celsius"
    F = "fahrenheit"


def get_weather(city: str, unit: Unit = Unit.C, days: int = 1) -> dict:
    """Get the weather forecast of a city.

    Longer notes that are not part of the description's first paragraph.

    Args:
        city: the city's name, e.g. "Lyon"
        unit: the temperature unit
        days: how many days
            ahead (1-7)

    Returns:
        the forecast
    """
    return {"city": city, "unit": unit.value, "days": days}


def test_schema_from_signature_and_docstring():
    t = Tool.from_function(get_weather)
    assert t.name == "get_weather" and t.description == "Get the weather forecast of a city."
    p = t.parameters
    assert p["type"] == "object" and p["required"] == ["city"]
    assert p["additionalProperties"] is False
    assert p["properties"]["city"] == {
        "type": "string",
        "description": 'the city\'s name, e.g. "Lyon"',
    }
    assert p["properties"]["days"]["description"] == "how many days ahead (1-7)"
    assert p["properties"]["days"]["type"] == "integer"
    assert "title" not in str(p)  # pydantic's titles are noise for a small model
    # the enum is a $ref into $defs, resolvable by a validator and a grammar
    assert p["$defs"]["Unit"]["enum"] == ["celsius", "fahrenheit"]
    assert t.to_openai() == {
        "type": "function",
        "function": {"name": "get_weather", "description": t.description, "parameters": p},
    }


def test_optional_parameter_is_an_optional_type_not_an_anyof_with_null():
    assert now.parameters["properties"]["timezone"]["type"] == "string"
    assert "required" not in now.parameters
    assert now.validate({"timezone": None}) == {"timezone": None}


def test_docstring_styles():
    sphinx = """Add two numbers.

    :param a: the first
    :param int b: the second
    """
    assert parse_docstring(sphinx) == ("Add two numbers.", {"a": "the first", "b": "the second"})
    numpy = """Add two numbers.

    Parameters
    ----------
    a : int
        the first
    b : int
        the second
    """
    assert parse_docstring(numpy) == ("Add two numbers.", {"a": "the first", "b": "the second"})
    google = """Add.

    Args:
        a (int): the first
        b: the second
    """
    assert parse_docstring(google)[1] == {"a": "the first", "b": "the second"}


def test_decorator_and_its_options():
    @tool(side_effects=True, name="send_mail", timeout_s=2)
    def send(to: str, body: str) -> str:
        """Send an e-mail."""
        return "sent"

    assert isinstance(send, Tool) and send.name == "send_mail" and send.side_effects
    assert send.timeout_s == 2

    @tool
    def plain(x: Literal["a", "b"]) -> str:
        """Echo."""
        return x

    assert plain.parameters["properties"]["x"]["enum"] == ["a", "b"]


def test_bad_functions_get_clear_errors():
    def undocumented(x: int) -> int:
        return x

    def untyped(x):
        """Doc."""

    def star(*args: int) -> None:
        """Doc."""

    with pytest.raises(ConfigError, match="no description") as e:
        Tool.from_function(undocumented)
    assert "docstring" in (e.value.hint or "")
    with pytest.raises(ConfigError, match="'x' has no type hint"):
        Tool.from_function(untyped)
    with pytest.raises(ConfigError, match=r"\*args"):
        Tool.from_function(star)
    with pytest.raises(ConfigError, match="invalid tool name"):
        Tool.from_function(get_weather, name="has space")


def test_arguments_are_validated_and_coerced_by_the_signature():
    t = Tool.from_function(get_weather)
    assert t.validate({"city": "Lyon", "unit": "fahrenheit", "days": "3"}) == {
        "city": "Lyon",
        "unit": Unit.F,
        "days": 3,
    }
    assert t.validate('{"city": "Oslo"}')["city"] == "Oslo"  # OpenAI sends JSON text
    with pytest.raises(ToolArgumentsError) as e:
        t.validate({"unit": "kelvin", "extra": 1})
    problems = " | ".join(e.value.problems)
    assert "city: Field required" in problems and "unit:" in problems and "extra:" in problems
    with pytest.raises(ToolArgumentsError, match="not valid JSON"):
        t.validate("{city: Lyon")
    with pytest.raises(ToolArgumentsError, match="must be a JSON object"):
        t.validate(["Lyon"])  # type: ignore[arg-type]


OPENAI_DEF = {
    "type": "function",
    "function": {
        "name": "book_table",
        "description": "Book a restaurant table.",
        "parameters": {
            "type": "object",
            "properties": {
                "people": {"type": "integer", "minimum": 1, "maximum": 12},
                "time": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
            },
            "required": ["people", "time"],
        },
    },
}


def test_from_schema_validates_with_a_json_schema_validator():
    booked = []
    t = Tool.from_schema(OPENAI_DEF, lambda people, time: booked.append((people, time)) or "ok")
    assert t.name == "book_table" and t.parameters["required"] == ["people", "time"]
    reg = ToolRegistry([t])
    assert reg.call("book_table", {"people": 2, "time": "19:30"}).output == "ok"
    assert booked == [(2, "19:30")]
    bad = reg.call("book_table", {"people": 20, "time": "7pm"})
    assert not bad.ok and bad.error_type == "ToolArgumentsError"
    assert "people: 20 is greater than the maximum of 12" in bad.error
    assert "time:" in bad.error and booked == [(2, "19:30")]  # never called
    # MCP's inputSchema, and BFCL's Python type names
    mcp = Tool.from_schema(
        {
            "name": "area",
            "description": "Area.",
            "inputSchema": {
                "type": "dict",
                "properties": {
                    "r": {"type": "float"},
                    "dims": {"type": "tuple", "items": {"type": "integer"}},
                },
            },
        },
        lambda **kw: kw,
    )
    assert mcp.parameters["type"] == "object"
    assert mcp.parameters["properties"]["r"]["type"] == "number"
    assert mcp.parameters["properties"]["dims"]["type"] == "array"
    with pytest.raises(ConfigError, match="not a valid JSON schema"):
        Tool.from_schema({"name": "x", "parameters": {"type": "object", "properties": 3}}, print)
    assert normalize_parameters({"type": "dict"}) == {"type": "object", "properties": {}}


def test_registry_contents():
    reg = ToolRegistry([calculator])
    reg.register(get_weather)
    assert reg.names() == ["calculator", "get_weather"] and "calculator" in reg
    assert "nope" not in reg and len(reg) == 2
    with pytest.raises(ConfigError, match="already registered"):
        reg.register(calculator)
    with pytest.raises(ToolNotFoundError, match=r"registered: calculator, get_weather"):
        reg.get("nope")
    assert [d["function"]["name"] for d in reg.openai_tools(["get_weather"])] == ["get_weather"]
    assert reg.subset(["calculator"]).names() == ["calculator"]


@dataclass
class Point:
    x: float
    y: float


def _faulty_registry(release: threading.Event) -> ToolRegistry:
    @tool()
    def boom(n: int) -> int:
        """Raise."""
        raise RuntimeError(f"disk on fire ({n})")

    @tool(timeout_s=0.2)
    def hang() -> str:
        """Hang until released."""
        release.wait(10)
        return "late"

    @tool()
    def opaque() -> object:
        """Return a lock."""
        return threading.Lock()

    @tool()
    def nan() -> float:
        """Return NaN."""
        return math.nan

    @tool()
    def point() -> Point:
        """Return a dataclass."""
        return Point(1.5, 2)

    @tool()
    async def later(x: int) -> int:
        """An async tool."""
        await asyncio.sleep(0)
        return x + 1

    return ToolRegistry([boom, hang, opaque, nan, point, later], settings=ToolSettings())


@pytest.fixture
def traced():
    sink = ListSink()
    tracer = Tracer(TraceSettings(flush_interval_s=0.05), [sink])
    yield tracer, sink
    tracer.close()


def test_every_failure_is_a_result_and_a_traced_span(traced):
    tracer, sink = traced
    release = threading.Event()
    reg = _faulty_registry(release)
    try:
        results: dict[str, ToolResult] = {
            "boom": reg.call("boom", {"n": 3}, tracer=tracer),
            "hang": reg.call("hang", {}, tracer=tracer),
            "opaque": reg.call("opaque", {}, tracer=tracer),
            "nan": reg.call("nan", {}, tracer=tracer),
            "missing": reg.call("missing", {"a": 1}, tracer=tracer),
            "args": reg.call("boom", {"n": "three"}, tracer=tracer),
        }
    finally:
        release.set()
    expected = {
        "boom": ("ToolExecutionError", "raised RuntimeError: disk on fire (3)"),
        "hang": ("ToolTimeoutError", "did not return within 0.2 s"),
        "opaque": ("ToolExecutionError", "which is not JSON"),
        "nan": ("ToolExecutionError", "which is not JSON"),
        "missing": ("ToolNotFoundError", "no tool named 'missing'"),
        "args": ("ToolArgumentsError", "n: Input should be a valid integer"),
    }
    for key, (error_type, text) in expected.items():
        r = results[key]
        assert not r.ok and r.output is None, key
        assert r.error_type == error_type and text in (r.error or ""), (key, r.error)
        assert r.to_dict()["error_type"] == error_type
        assert '"error"' in r.as_message()
    assert results["hang"].latency_ms < 2000
    assert tracer.flush()
    spans = [s for t in sink.traces for s in t.spans if s.name == "tool"]
    assert len(spans) == len(expected)
    assert all(s.status == "error" for s in spans)
    assert {s.attributes["gen_ai.tool.name"] for s in spans} == {
        "boom",
        "hang",
        "opaque",
        "nan",
        "missing",
    }


def test_outputs_are_made_json_and_successes_are_traced(traced):
    tracer, sink = traced
    reg = _faulty_registry(threading.Event())
    p = reg.call("point", {}, tracer=tracer)
    assert p.ok and p.output == {"x": 1.5, "y": 2}
    assert reg.call("later", {"x": 1}).output == 2
    assert tracer.flush()
    (span,) = [s for t in sink.traces for s in t.spans if s.name == "tool"]
    assert span.status == "ok" and span.attributes["output"] == '{"x": 1.5, "y": 2}'
    assert span.attributes["gen_ai.operation.name"] == "execute_tool"


def test_a_hung_tool_does_not_hold_the_caller_past_the_timeout():
    release = threading.Event()
    reg = _faulty_registry(release)
    t0 = time.perf_counter()
    try:
        r = reg.call("hang", {})
    finally:
        release.set()
    assert r.error_type == "ToolTimeoutError" and time.perf_counter() - t0 < 1.5


def test_calculator_walks_the_tree_and_refuses_the_rest():
    assert evaluate_arithmetic("(17.5 * 3) / 4") == 13.125
    assert evaluate_arithmetic("2^10 + sqrt(16) - -1") == 1029
    assert evaluate_arithmetic("round(pi, 2) + factorial(5) % 7") == 3.14 + 1
    assert calculator.fn(expression="10/4")["result"] == 2.5
    assert calculator.fn(expression="4/2")["result"] == 2
    for bad, why in [
        ("__import__('os').system('id')", "not allowed"),
        ("(1).__class__", "not allowed"),
        ("9**9**9", "too large"),
        ("1/0", "division by zero"),
        ("x + 1", "not allowed"),
        ("2 +", "not an arithmetic expression"),
        ("factorial(10**6)", "too large"),
    ]:
        with pytest.raises(ValueError, match=why):
            evaluate_arithmetic(bad)


def test_now_in_a_time_zone():
    reg = ToolRegistry([now])
    r = reg.call("now", {"timezone": "Asia/Tokyo"})
    assert r.ok and r.output["datetime"].endswith("+09:00") and r.output["timezone"] == "Asia/Tokyo"
    assert reg.call("now", {}).output["timezone"] == "UTC"
    bad = reg.call("now", {"timezone": "Mars/Olympus"})
    assert bad.error_type == "ToolExecutionError" and "IANA" in bad.error


def test_plugin_tools_join_and_a_broken_one_is_left_out(monkeypatch):
    def shout(text: str) -> str:
        """Upper-case a text.

        Args:
            text: what to shout
        """
        return text.upper()

    def broken_load(group: str, name: str):
        assert group == "tools"
        if name == "broken":
            raise ConfigError("the tools plugin 'broken' failed to load")
        return {"shout": shout, "calc": calculator, "bad": 3}[name]

    monkeypatch.setattr(plugins, "names", lambda group: ["bad", "broken", "calc", "shout"])
    monkeypatch.setattr(plugins, "load", broken_load)
    reg = ToolRegistry([calculator])
    load_plugin_tools(reg)
    assert reg.names() == ["calculator", "shout"]
    assert reg.call("shout", {"text": "hi"}).output == "HI"
    assert reg.get("shout").parameters["properties"]["text"]["description"] == "what to shout"
    assert set(reg.broken) == {"bad", "broken", "calc"}
    assert "would shadow" in reg.broken["calc"] and "not a tool" in reg.broken["bad"]
