"""The per-key policy of a generation (``ragline.server.policy``), on the real gateway with
fake priced models: reserve the worst case, settle to the real cost at the last event, keep
the reservation when the stream is cut, give it back when the generation never ran."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from ragline.config import load_settings
from ragline.errors import PermissionDeniedError
from ragline.models.chat import StreamDone, Usage
from ragline.models.gateway import Gateway
from ragline.models.pricing import Price, PriceTable
from ragline.server.auth import Principal
from ragline.server.context import ServerContext
from ragline.server.policy import TEMPLATE_TOKENS, admit_generation
from ragline.store.keys_base import ApiKey, KeyPolicy
from ragline.store.limits_base import SPEND_USD, TOKENS, MemoryLimitStore
from ragline.testing.chat_conformance import FakeChatModel

PRICE = Price(input_per_million=1000.0, output_per_million=2000.0)


def _ctx(tmp_path: Path, **gateway: object) -> ServerContext:
    settings = load_settings(home=tmp_path, gateway=gateway)
    models = {
        "paid": FakeChatModel(["a b c d e f g h"], name="paid"),
        "backup": FakeChatModel(["x"], name="backup"),
    }
    gw = Gateway(settings, models=models, price_table=PriceTable({"paid": PRICE}))
    return ServerContext(settings=settings, rag=None, gateway=gw, keys=None)  # type: ignore[arg-type]


def _key(**policy: object) -> Principal:
    return Principal(ApiKey("k1", "t", "read", ("*",), "now", policy=KeyPolicy(**policy)))  # type: ignore[arg-type]


def _stream(ctx: ServerContext, max_tokens: int):
    return lambda: ctx.gateway.stream(
        [{"role": "user", "content": "hi"}], model="paid", max_tokens=max_tokens
    )


def test_the_reservation_becomes_the_real_cost_at_the_last_event(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    who = _key(budget_usd=1.0, tpm=10_000)
    metered = admit_generation(ctx, who, model="paid", prompt_chars=2, max_tokens=50)
    worst = Usage(prompt_tokens=1 + TEMPLATE_TOKENS, completion_tokens=50)  # ceil(2 chars / 3)
    assert ctx.limits.used("k1", SPEND_USD, window_s=None) == pytest.approx(PRICE.cost(worst))
    assert ctx.limits.used("k1", TOKENS, window_s=60) == worst.total_tokens
    events = list(metered.wrap(_stream(ctx, 50))())
    done = events[-1]
    assert isinstance(done, StreamDone) and done.result.cost is not None
    assert ctx.limits.used("k1", SPEND_USD, window_s=None) == pytest.approx(done.result.cost)
    used = done.result.usage.prompt_tokens + done.result.usage.completion_tokens
    assert ctx.limits.used("k1", TOKENS, window_s=60) == used


def test_a_cut_stream_keeps_its_reservation_and_a_cancel_gives_it_back(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    who = _key(budget_usd=1.0)
    metered = admit_generation(ctx, who, model="paid", prompt_chars=2, max_tokens=50)
    reserved = ctx.limits.used("k1", SPEND_USD, window_s=None)
    events = metered.wrap(_stream(ctx, 50))()
    next(events)  # the client leaves after the first token
    with contextlib.closing(events):
        pass
    assert ctx.limits.used("k1", SPEND_USD, window_s=None) == pytest.approx(reserved)
    other = admit_generation(ctx, who, model="paid", prompt_chars=2, max_tokens=50)
    other.cancel()  # refused by the queue: it never ran
    assert ctx.limits.used("k1", SPEND_USD, window_s=None) == pytest.approx(reserved)


def test_every_model_of_the_fallback_chain_must_be_allowed_and_priced(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, fallback=["backup"])
    with pytest.raises(PermissionDeniedError, match="'backup' \\(a fallback of this call\\)"):
        admit_generation(ctx, _key(models=("paid",)), model="paid", prompt_chars=2, max_tokens=5)
    with pytest.raises(PermissionDeniedError, match="'backup' has no price"):
        admit_generation(ctx, _key(budget_usd=1.0), model="paid", prompt_chars=2, max_tokens=5)
    assert ctx.limits.used("k1", SPEND_USD, window_s=None) == 0
    assert isinstance(ctx.limits, MemoryLimitStore)  # the context's default: in-process
