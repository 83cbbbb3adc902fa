"""Budgets of an agent run: steps, wall time, tokens and spend, checked before they are used.

:class:`BudgetMeter` is sans I/O: the loop asks it before every model call
(:meth:`~BudgetMeter.before_call`) and every step (:meth:`~BudgetMeter.before_step`), and
tells it what a call used (:meth:`~BudgetMeter.after_call`). A check that fails returns a
:class:`BudgetStop` naming the budget, its limit, what was used and why; the run then stops
with what it has. A check that passes bounds the call so that it cannot overrun:

* **tokens**: the call's ``max_tokens`` is cut to what is left after a conservative
  estimate of the prompt (characters / :attr:`BudgetMeter.chars_per_token`, which starts at
  2 and follows 0.8 × the smallest ratio the model's own usage reports showed);
* **spend**: the same estimate priced at the dearest model of the fallback chain; the
  call's ``max_tokens`` is cut so its worst case fits (calls of a model with no price
  count as free, and :attr:`BudgetMeter.unpriced_calls` says how many there were);
* **time**: the call's timeout is what is left of ``max_seconds`` (the loop also stops
  waiting at that deadline); a step's timeout is its tool's, cut the same way;
* **steps**: a step starts only while fewer than ``max_steps`` have started.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ragline.config import AgentSettings
from ragline.errors import ConfigError
from ragline.models.pricing import Price
from ragline.types import ChatResult

BudgetName = Literal["max_steps", "max_seconds", "max_tokens", "max_spend"]
BUDGET_NAMES: tuple[BudgetName, ...] = ("max_steps", "max_seconds", "max_tokens", "max_spend")
#: A model call with room for fewer completion tokens than this is not worth making.
MIN_REPLY_TOKENS = 16
#: A model call or a step with less time than this left is not started.
MIN_SECONDS = 0.05
#: Tokens a chat template adds around each message (role markers), counted on top.
PER_MESSAGE_TOKENS = 8


@dataclass(frozen=True, slots=True)
class Budgets:
    """The limits of one run (``max_spend`` None: no spend limit)."""

    max_steps: int
    max_seconds: float
    max_tokens: int
    max_spend: float | None = None

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.max_seconds <= 0 or self.max_tokens < 1:
            raise ConfigError(
                f"budgets must be positive: {self.to_dict()}",
                hint="e.g. --max-steps 8 (agent.max_steps, max_seconds, max_tokens)",
            )
        if self.max_spend is not None and self.max_spend < 0:
            raise ConfigError(f"max_spend must be 0 or more, got {self.max_spend}")

    @classmethod
    def of(cls, settings: AgentSettings, **overrides: Any) -> Budgets:
        """The settings' budgets with the ``overrides`` that are not None."""
        values = {
            "max_steps": settings.max_steps,
            "max_seconds": settings.max_seconds,
            "max_tokens": settings.max_tokens,
            "max_spend": settings.max_spend,
        }
        unknown = set(overrides) - set(values)
        if unknown:
            raise ConfigError(
                f"unknown budget(s): {', '.join(sorted(unknown))}",
                hint=f"budgets: {', '.join(BUDGET_NAMES)}",
            )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_steps": self.max_steps,
            "max_seconds": self.max_seconds,
            "max_tokens": self.max_tokens,
            "max_spend": self.max_spend,
        }


@dataclass(frozen=True, slots=True)
class BudgetStop:
    """Why a run stopped on a budget: which one, its limit, what was used, in words."""

    budget: BudgetName
    limit: float
    used: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "limit": self.limit,
            "used": self.used,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class CallAllowance:
    """What a model call may use: its completion tokens and its timeout."""

    max_tokens: int
    timeout_s: float


@dataclass(slots=True)
class BudgetMeter:
    """What a run used of its :class:`Budgets`, and the checks before each call and step.

    ``used`` carries the counts of a checkpoint (a resumed run goes on counting); the wall
    clock counts only while this meter runs (a wait for approval is not counted)."""

    budgets: Budgets
    clock: Callable[[], float] = time.monotonic
    steps: int = 0
    tokens: int = 0
    spend: float = 0.0
    calls: int = 0
    unpriced_calls: int = 0
    seconds_before: float = 0.0
    chars_per_token: float = 2.0
    #: The smallest characters-per-prompt-token the model's usage reports showed.
    seen_ratio: float | None = None
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @classmethod
    def resume(
        cls, budgets: Budgets, used: Mapping[str, Any], clock: Callable[[], float] = time.monotonic
    ) -> BudgetMeter:
        meter = cls(budgets, clock)
        meter.steps = int(used.get("steps", 0))
        meter.tokens = int(used.get("tokens", 0))
        meter.spend = float(used.get("spend", 0.0))
        meter.calls = int(used.get("calls", 0))
        meter.unpriced_calls = int(used.get("unpriced_calls", 0))
        meter.seconds_before = float(used.get("seconds", 0.0))
        meter.chars_per_token = float(used.get("chars_per_token", 2.0))
        seen = used.get("seen_ratio")
        meter.seen_ratio = None if seen is None else float(seen)
        return meter

    @property
    def seconds(self) -> float:
        return self.seconds_before + (self.clock() - self.started)

    @property
    def seconds_left(self) -> float:
        return self.budgets.max_seconds - self.seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "tokens": self.tokens,
            "spend": round(self.spend, 8),
            "calls": self.calls,
            "unpriced_calls": self.unpriced_calls,
            "seconds": round(self.seconds, 4),
            "chars_per_token": round(self.chars_per_token, 4),
            "seen_ratio": self.seen_ratio,
        }

    # checks -------------------------------------------------------------------------------

    def _time_stop(self, doing: str) -> BudgetStop | None:
        if self.seconds_left < MIN_SECONDS:
            return BudgetStop(
                "max_seconds",
                self.budgets.max_seconds,
                round(self.seconds, 3),
                f"the run's time budget ({self.budgets.max_seconds:g} s) ran out before {doing}",
            )
        return None

    def before_step(self, step: str = "the next step") -> BudgetStop | None:
        """None if a step may start now; else the budget that forbids it."""
        if self.steps >= self.budgets.max_steps:
            return BudgetStop(
                "max_steps",
                self.budgets.max_steps,
                self.steps,
                f"the run's step budget ({self.budgets.max_steps}) was used up before {step}",
            )
        return self._time_stop(step)

    def start_step(self) -> None:
        self.steps += 1

    def step_timeout(self, tool_timeout_s: float | None) -> float:
        left = max(self.seconds_left, 0.0)
        return left if tool_timeout_s is None else min(float(tool_timeout_s), left)

    def prompt_estimate(self, messages: list[dict[str, str]]) -> int:
        chars = sum(len(m["content"]) for m in messages)
        return math.ceil(chars / self.chars_per_token) + PER_MESSAGE_TOKENS * len(messages)

    def before_call(
        self,
        messages: list[dict[str, str]],
        want_tokens: int,
        price: Price | None,
        doing: str = "the next model call",
    ) -> CallAllowance | BudgetStop:
        """The tokens and time a model call may use, or the budget that forbids it."""
        stop = self._time_stop(doing)
        if stop is not None:
            return stop
        prompt = self.prompt_estimate(messages)
        room = self.budgets.max_tokens - self.tokens - prompt
        if room < MIN_REPLY_TOKENS:
            return BudgetStop(
                "max_tokens",
                self.budgets.max_tokens,
                self.tokens,
                f"the run's token budget ({self.budgets.max_tokens}) has no room for "
                f"{doing} (about {prompt} prompt tokens + {MIN_REPLY_TOKENS}; "
                f"{self.budgets.max_tokens - self.tokens} left)",
            )
        tokens = min(want_tokens, room)
        if self.budgets.max_spend is not None and price is not None:
            left = self.budgets.max_spend - self.spend
            prompt_cost = prompt * price.input_per_million / 1e6
            per_token = price.output_per_million / 1e6
            if per_token > 0:
                tokens = min(tokens, math.floor((left - prompt_cost) / per_token))
            elif prompt_cost > left:
                tokens = 0
            if tokens < MIN_REPLY_TOKENS:
                return BudgetStop(
                    "max_spend",
                    self.budgets.max_spend,
                    round(self.spend, 8),
                    f"the run's spend budget (${self.budgets.max_spend:g}) has no room for "
                    f"{doing} (${left:.6f} left)",
                )
        return CallAllowance(max_tokens=int(tokens), timeout_s=max(self.seconds_left, MIN_SECONDS))

    def after_call(
        self, messages: list[dict[str, str]], result: ChatResult, price: Price | None
    ) -> None:
        """Count what a call used (its cost from the price table when it carries none)."""
        self.calls += 1
        usage = result.usage
        self.tokens += usage.total_tokens
        cost = result.cost
        if cost is None and price is not None:
            cost = price.cost(usage)
        if cost is None:
            self.unpriced_calls += 1
        else:
            self.spend += cost
        if usage.prompt_tokens > 0 and not usage.estimated:
            chars = sum(len(m["content"]) for m in messages)
            seen = chars / usage.prompt_tokens
            self.seen_ratio = seen if self.seen_ratio is None else min(self.seen_ratio, seen)
            self.chars_per_token = max(0.5, 0.8 * self.seen_ratio)

    def overruns(self) -> list[str]:
        """The budgets the counts exceed (a correct loop leaves this empty)."""
        out = []
        if self.steps > self.budgets.max_steps:
            out.append("max_steps")
        if self.tokens > self.budgets.max_tokens:
            out.append("max_tokens")
        if self.budgets.max_spend is not None and self.spend > self.budgets.max_spend + 1e-12:
            out.append("max_spend")
        return out


__all__ = [
    "BUDGET_NAMES",
    "BudgetMeter",
    "BudgetName",
    "BudgetStop",
    "Budgets",
    "CallAllowance",
]
