"""A key's policy on the routes that generate: models it may name, tokens and spend.

Requests per minute are counted for every request, in :func:`ragline.server.auth.authenticate`.
The generation routes (``/api/collections/{name}/ask``, ``/v1/chat/completions``) also call
:func:`admit_generation` before they take a queue slot:

* **models**: every model the call may run (the one asked for, or the default, then the
  gateway's fallbacks) must be in the key's ``models``, else 403 naming the model.
* **tokens per minute** and **spend** are reserved up front for the worst case — the prompt
  (estimated from its characters, plus the passages of a grounded answer) and ``max_tokens``
  of output, priced from the gateway's price table — through the server's
  :class:`~ragline.store.limits_base.LimitStore`, atomically: two concurrent requests cannot
  both take the last unit. When the model's final event arrives, its real token count and
  cost replace the reservation (:meth:`Metered.settle`). A stream cut before its end keeps
  the reservation: a client cannot spend by disconnecting.
* **unknown prices**: a key with a budget may only run models the price table prices (the
  whole fallback chain); anything else is 403 naming the fix (add the model to the price
  table, or use a key without a budget). A price is never taken as zero because it is missing.

A refused rate (requests or tokens per minute) is 429 with ``Retry-After``. A spent budget,
a model outside the key's list and a request larger than a limit can hold are 403: waiting
would not help, so OpenAI clients should not retry them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ragline.answer.events import AnswerDone, StreamDone
from ragline.errors import PermissionDeniedError, ServerBusyError
from ragline.models.chat import ChatResult, Usage
from ragline.server.auth import Principal
from ragline.server.context import ServerContext
from ragline.store.keys_base import ApiKey
from ragline.store.limits_base import SPEND_USD, TOKENS, Grant

T = TypeVar("T")
MINUTE_S = 60.0
#: Characters per token when estimating a prompt before it is tokenized (English text is
#: about four; three over-estimates, which is the safe side for a reservation).
CHARS_PER_TOKEN = 3
#: Tokens a prompt template adds around the question and passages (the shipped answer
#: prompts are under 150).
TEMPLATE_TOKENS = 200


def models_of_call(ctx: ServerContext, model: str | None) -> list[str]:
    """The models a call may run: ``model`` (None: the default), then the fallbacks."""
    chain = getattr(ctx.gateway, "chain", None)
    if callable(chain):
        return list(chain(model))
    return [model or ctx.default_model]


def check_models(key: ApiKey, models: Sequence[str]) -> None:
    """403 when the key's model list leaves out any model the call may run."""
    for name in models:
        if not key.may_call(name):
            first = "" if name == models[0] else " (a fallback of this call)"
            raise PermissionDeniedError(
                f"key {key.id} may not use model {name!r}{first}",
                hint=f"it may use: {', '.join(key.policy.models)} "
                "(create a key with `ragline keys create --models ...`)",
            )


def _price_table(ctx: ServerContext) -> Any:
    return getattr(ctx.gateway, "prices", None)


def worst_cost(ctx: ServerContext, key: ApiKey, models: Sequence[str], usage: Usage) -> float:
    """The most the call may cost: the dearest model of its chain at ``usage``; 403 when a
    model has no known price (unknown is not free)."""
    table = _price_table(ctx)
    costs = []
    for name in models:
        price = table.price_of(name) if table is not None else None
        if price is None:
            raise PermissionDeniedError(
                f"key {key.id} has a budget, and model {name!r} has no price in the price "
                "table: its cost would be unknown",
                hint="add the model to the price table (gateway.price_table, see "
                "models/prices.json), or use a key without --budget-usd",
            )
        costs.append(price.cost(usage))
    return max(costs)


@dataclass
class Metered:
    """What one generation reserved; :meth:`settle` replaces it with what it used."""

    ctx: ServerContext
    grants: list[Grant] = field(default_factory=list)
    models: tuple[str, ...] = ()
    settled: bool = False

    def settle(self, result: ChatResult | None) -> None:
        """The real figures (``result`` None: nothing was generated). Once only."""
        if self.settled:
            return
        self.settled = True
        for grant in self.grants:
            self.ctx.limits.settle(grant, self._actual(grant, result))

    def _actual(self, grant: Grant, result: ChatResult | None) -> float:
        if result is None:
            return 0.0
        if grant.kind == TOKENS:
            return float(result.usage.prompt_tokens + result.usage.completion_tokens)
        if result.cost is not None:
            return result.cost
        table = _price_table(self.ctx)  # the gateway priced nothing: price the name asked for
        prices = [table.price_of(m) for m in self.models] if table is not None else []
        known = [p.cost(result.usage) for p in prices if p is not None]
        return max(known) if known else grant.amount

    def cancel(self) -> None:
        """The generation never ran (refused by the queue, say): give everything back."""
        self.settle(None)

    def wrap(self, factory: Callable[[], Iterator[T]]) -> Callable[[], Iterator[T]]:
        """``factory`` whose events settle this reservation at the final one (a stream that
        stops before it keeps the reservation)."""
        if not self.grants:
            return factory

        def metered() -> Iterator[T]:
            for event in factory():
                if isinstance(event, AnswerDone):
                    self.settle(event.answer.result)
                elif isinstance(event, StreamDone):
                    self.settle(event.result)
                yield event

        return metered


def admit_generation(
    ctx: ServerContext,
    principal: Principal,
    *,
    model: str | None,
    prompt_chars: int,
    max_tokens: int,
    passages_tokens: int = 0,
) -> Metered:
    """Check the key's models and reserve its tokens and spend for one generation
    (blocking: the spend lives in the store). Raises 403 / 429 as the module says."""
    key = principal.key
    metered = Metered(ctx)
    if key is None:
        return metered
    policy = key.policy
    models = models_of_call(ctx, model)
    metered.models = tuple(models)
    check_models(key, models)
    prompt = math.ceil(prompt_chars / CHARS_PER_TOKEN) + TEMPLATE_TOKENS + passages_tokens
    worst = Usage(prompt_tokens=prompt, completion_tokens=max_tokens)
    try:
        if policy.tpm is not None:
            _take(metered, key, TOKENS, prompt + max_tokens, policy.tpm, MINUTE_S)
        if policy.budget_usd is not None:
            cost = worst_cost(ctx, key, models, worst)
            _take(metered, key, SPEND_USD, cost, policy.budget_usd, None)
    except BaseException:
        metered.cancel()
        raise
    return metered


def take_tokens(ctx: ServerContext, principal: Principal, tokens: int) -> None:
    """Count ``tokens`` known before the work (embeddings) against the key's tokens per
    minute (429 / 403 when they do not fit)."""
    key = principal.key
    if key is None or key.policy.tpm is None:
        return
    _take(Metered(ctx), key, TOKENS, tokens, key.policy.tpm, MINUTE_S)


def _take(
    metered: Metered, key: ApiKey, kind: str, amount: float, limit: float, window: float | None
) -> None:
    grant = metered.ctx.limits.consume(key.id, kind, amount, limit=limit, window_s=window)
    if grant.allowed:
        metered.grants.append(grant)
        return
    raise refusal(key, grant)


def refusal(key: ApiKey, grant: Grant) -> PermissionDeniedError | ServerBusyError:
    """The error for a refused grant: 429 with Retry-After while waiting helps, else 403."""
    if grant.kind == SPEND_USD:
        return PermissionDeniedError(
            f"key {key.id} has spent ${grant.used:.6f} of its ${grant.limit:.6f} budget; "
            f"this request may cost up to ${grant.amount:.6f}",
            hint="ask for fewer max_tokens, or use a key with a larger --budget-usd",
        )
    what = {TOKENS: "tokens", "requests": "requests"}.get(grant.kind, grant.kind)
    if grant.retry_after_s is None:
        return PermissionDeniedError(
            f"this request needs {grant.amount:.0f} {what}, more than key {key.id}'s limit "
            f"of {grant.limit:.0f} {what} per minute",
            hint="ask for fewer max_tokens or a shorter prompt, or use a key with a larger "
            "limit (`ragline keys create --tpm ...`)",
        )
    return ServerBusyError(
        f"key {key.id} is over its limit of {grant.limit:.0f} {what} per minute",
        status=429,
        retry_after_s=grant.retry_after_s,
    )


__all__ = [
    "Metered",
    "admit_generation",
    "check_models",
    "models_of_call",
    "refusal",
    "take_tokens",
    "worst_cost",
]
