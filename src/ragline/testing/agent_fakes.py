"""Fakes for fault injection in the agent loop: a scripted chat model and faulty tools.

:class:`ScriptedModel` stands in for the gateway (``generate(messages, params, model=)``,
``prices``, ``chain``): each call replies with the next text of a script (a function of the
call may write it), counting usage as a real provider does (prompt tokens: characters / 4)
and honouring the two limits every real provider honours, ``max_tokens`` (the reply is cut)
and ``timeout_s`` (a slow reply fails with :class:`ModelTimeoutError`). The run-away models
of the tests and of ``benchmarks/bench_agent_plans.py`` are scripts that never stop.

:func:`fault_tools` is a registry with the tools that misbehave (raise, hang, return
something that is not JSON), one with side effects, and plain ``add``/``echo``/``sleep``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ragline.agent.tools import Tool, ToolRegistry
from ragline.errors import ModelTimeoutError
from ragline.models.chat import SamplingParams, normalize_messages
from ragline.models.pricing import Price, PriceTable
from ragline.types import ChatResult, Usage

Script = Callable[[list[dict[str, str]], SamplingParams], str]


def plan(*steps: dict[str, Any], answer: str = "") -> str:
    """A reply of the loop's turn schema."""
    return json.dumps({"actions": list(steps), "answer": answer})


def step(sid: str, tool: str, depends_on: Iterable[str] = (), **arguments: Any) -> dict[str, Any]:
    return {"id": sid, "tool": tool, "arguments": arguments, "depends_on": list(depends_on)}


class ScriptedModel:
    """A gateway stand-in that replies from a script (see the module docstring)."""

    def __init__(
        self,
        script: Iterable[str] | Script,
        *,
        name: str = "scripted",
        price: Price | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self._fn: Script | None = script if callable(script) else None
        self._items: Iterator[str] | None = None if callable(script) else iter(script)
        self.name = name
        self.prices = PriceTable({name: price} if price is not None else {})
        self.delay_s = delay_s
        self.calls: list[list[dict[str, str]]] = []
        self.params: list[SamplingParams] = []
        self._lock = threading.Lock()

    def chain(self, model: str | None = None) -> list[str]:
        return [model or self.name]

    def generate(
        self, messages: Any, params: SamplingParams | None = None, *, model: str | None = None
    ) -> ChatResult:
        msgs = normalize_messages(messages)
        p = params or SamplingParams()
        with self._lock:
            self.calls.append(msgs)
            self.params.append(p)
            if self._fn is not None:
                text = self._fn(msgs, p)
            else:
                assert self._items is not None
                text = next(self._items, '{"actions": [], "answer": "(the script ended)"}')
        if self.delay_s:
            if p.timeout_s is not None and self.delay_s > p.timeout_s:
                time.sleep(p.timeout_s)
                raise ModelTimeoutError(f"{self.name} did not answer in {p.timeout_s:g} s")
            time.sleep(self.delay_s)
        completion = max(1, len(text) // 4)
        finish = "stop"
        if completion > p.max_tokens:
            text, completion, finish = text[: p.max_tokens * 4], p.max_tokens, "length"
        prompt = sum(len(m["content"]) for m in msgs) // 4 + 4 * len(msgs)
        usage = Usage(prompt_tokens=prompt, completion_tokens=completion)
        name = model or self.name
        return ChatResult(
            text=text,
            usage=usage,
            model=name,
            finish_reason=finish,
            cost=self.prices.cost(name, usage),
        )


def runaway(kind: str = "steps") -> Script:
    """A model that never finishes: ``steps`` plans one more step every turn, ``invalid``
    writes a plan that never passes its check, ``long`` writes prose without end."""
    counter = itertools.count(1)

    def write(messages: list[dict[str, str]], params: SamplingParams) -> str:
        n = next(counter)
        if kind == "invalid":
            return plan(step(f"s{n}", "no_such_tool", x=n))
        if kind == "long":
            return "and then " * 10_000  # prose without end: never a plan
        return plan(step(f"s{n}", "echo", text=f"again {n}"))

    return write


def fault_tools(calls: dict[str, int] | None = None) -> ToolRegistry:
    """A registry of plain and faulty tools; ``calls`` counts each tool's runs."""
    seen = calls if calls is not None else {}

    def count(name: str) -> None:
        seen[name] = seen.get(name, 0) + 1

    def add(a: float, b: float) -> dict[str, float]:
        """Add two numbers.

        Args:
            a: the first number
            b: the second number
        """
        count("add")
        return {"sum": a + b}

    def echo(text: str) -> dict[str, str]:
        """Say the text back, with a source.

        Args:
            text: what to say
        """
        count("echo")
        return {"text": text, "source": f"echo://{text[:20]}"}

    def sleep(seconds: float) -> dict[str, float]:
        """Wait, then say how long.

        Args:
            seconds: how long to wait
        """
        count("sleep")
        time.sleep(seconds)
        return {"slept": seconds}

    def boom(text: str) -> str:
        """Always fails.

        Args:
            text: anything
        """
        count("boom")
        raise RuntimeError("the disk is on fire")

    def hang(text: str) -> str:
        """Never returns (in time).

        Args:
            text: anything
        """
        count("hang")
        time.sleep(30)
        return "late"

    def opaque(text: str) -> Any:
        """Returns something that is not JSON.

        Args:
            text: anything
        """
        count("opaque")
        return threading.Lock()

    def send_email(to: str, body: str) -> dict[str, str]:
        """Send an email (a side effect: needs approval).

        Args:
            to: the address
            body: the message
        """
        count("send_email")
        return {"sent_to": to}

    reg = ToolRegistry()
    for fn in (add, echo, sleep, boom, opaque):
        reg.register(fn)
    reg.register(Tool.from_function(hang, timeout_s=0.3))
    reg.register(Tool.from_function(send_email, side_effects=True))
    return reg


__all__ = ["ScriptedModel", "fault_tools", "plan", "runaway", "step"]
