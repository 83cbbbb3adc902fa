"""Retries, fallback and typed errors against the fault-injecting loopback server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragline.config import GatewaySettings, Settings
from ragline.errors import GenerationError, ModelTimeoutError, ModelUnavailableError
from ragline.models.chat import (
    MalformedResponseError,
    ProviderServerError,
    RequestRejectedError,
    StreamDone,
    StreamInterruptedError,
    TokenDelta,
)
from ragline.models.gateway import Gateway
from ragline.testing.fault_server import DEFAULT_REPLY, FaultServer

pytestmark = pytest.mark.integration

SECRET = "sk-fault-secret-1234"


@pytest.fixture(scope="module")
def faults() -> Iterator[FaultServer]:
    with FaultServer(delay_s=3.0, retry_after="0.2") as server:
        yield server


def gateway(tmp_path: Path, faults: FaultServer, scripts: dict[str, str], **cfg: Any) -> Gateway:
    """Endpoint ``name`` follows ``scripts[name]``; the first is the default model."""
    endpoints = {
        name: {"base_url": faults.url(script), "model": "m", "api_key": SECRET}
        for name, script in scripts.items()
    }
    settings = GatewaySettings(
        default_model=next(iter(scripts)),
        endpoints=endpoints,
        **{"backoff_base_s": 0.01, "max_retries": 2, "timeout_s": 0.5, **cfg},
    )
    return Gateway(Settings(home=tmp_path, gateway=settings))


def test_5xx_and_429_are_retried_until_success(tmp_path: Path, faults: FaultServer) -> None:
    script = "500,429,ok#a"
    gw = gateway(tmp_path, faults, {"a": script})
    result = gw.generate("hello")
    assert result.text == DEFAULT_REPLY
    assert [a.status_code for a in result.attempts] == [500, 429, None]
    assert faults.hits(script) == 3
    # the key went over the wire but nowhere else
    sent = [r for r in faults.requests if r.script == script]
    assert all(r.headers.get("Authorization") == f"Bearer {SECRET}" for r in sent)
    assert SECRET not in repr(result.to_dict())


def test_retry_after_is_waited(tmp_path: Path, faults: FaultServer) -> None:
    gw = gateway(tmp_path, faults, {"a": "429,ok#wait"})  # Retry-After: 0.2, backoff 0.01
    started = time.perf_counter()
    result = gw.generate("hello")
    assert time.perf_counter() - started >= 0.2
    assert [a.status_code for a in result.attempts] == [429, None]


def test_exhausted_retries_raise_the_typed_error(tmp_path: Path, faults: FaultServer) -> None:
    gw = gateway(tmp_path, faults, {"a": "503#always"})
    with pytest.raises(ProviderServerError) as info:
        gw.generate("hello")
    assert isinstance(info.value, ModelUnavailableError)
    assert [(a.model, a.status_code) for a in info.value.attempts] == [("a:m", 503)] * 3
    assert all(a.duration_s > 0 for a in info.value.attempts)
    assert SECRET not in str(info.value)


def test_client_errors_are_not_retried(tmp_path: Path, faults: FaultServer) -> None:
    gw = gateway(tmp_path, faults, {"a": "400#bad"})
    with pytest.raises(RequestRejectedError):
        gw.generate("hello")
    assert faults.hits("400#bad") == 1


def test_timeouts(tmp_path: Path, faults: FaultServer) -> None:
    gw = gateway(tmp_path, faults, {"a": "timeout#slow"}, timeout_s=0.3, max_retries=1)
    with pytest.raises(ModelTimeoutError) as info:
        gw.generate("hello")
    assert len(info.value.attempts) == 2
    assert all(0.25 < a.duration_s < 2.0 for a in info.value.attempts)


def test_fallback_chain_to_the_next_model(tmp_path: Path, faults: FaultServer) -> None:
    gw = gateway(
        tmp_path,
        faults,
        {"a": "500#fb", "b": "malformed#fb", "c": "ok#fb"},
        fallback=("b", "c"),
        max_retries=1,
    )
    result = gw.generate("hello")
    assert result.model == "c:m" and result.text == DEFAULT_REPLY
    assert [(a.model, a.error_type) for a in result.attempts] == [
        ("a:m", "ProviderServerError"),
        ("a:m", "ProviderServerError"),
        ("b:m", "MalformedResponseError"),
        ("b:m", "MalformedResponseError"),
        ("c:m", None),
    ]


def test_whole_chain_failing_is_a_generation_error(tmp_path: Path, faults: FaultServer) -> None:
    gw = gateway(tmp_path, faults, {"a": "500#all", "b": "cut#all"}, fallback=("b",), max_retries=0)
    with pytest.raises(GenerationError) as info:
        gw.generate("hello")
    assert [a.error_type for a in info.value.attempts] == [
        "ProviderServerError",
        "ModelUnavailableError",  # a body cut mid-way, not streaming
    ]


def test_malformed_json_is_retried_then_succeeds(tmp_path: Path, faults: FaultServer) -> None:
    gw = gateway(tmp_path, faults, {"a": "malformed,ok#m"})
    result = gw.generate("hello")
    assert [a.error_type for a in result.attempts] == ["MalformedResponseError", None]
    with pytest.raises(MalformedResponseError):
        gateway(tmp_path, faults, {"a": "malformed#m2"}, max_retries=0).generate("hi")


def test_stream_retries_before_the_first_token(tmp_path: Path, faults: FaultServer) -> None:
    gw = gateway(tmp_path, faults, {"a": "500,ok#s"})
    events = list(gw.stream("hello"))
    assert "".join(e.text for e in events if isinstance(e, TokenDelta)) == DEFAULT_REPLY
    final = events[-1]
    assert isinstance(final, StreamDone)
    assert [a.status_code for a in final.result.attempts] == [500, None]
    assert final.result.ttft_s is not None and final.result.usage.completion_tokens == 5


def test_stream_cut_in_the_middle_is_an_error_not_a_silent_restart(
    tmp_path: Path, faults: FaultServer
) -> None:
    gw = gateway(tmp_path, faults, {"a": "cut,ok#sc"})
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        for event in gw.stream("hello"):
            if isinstance(event, TokenDelta):
                received.append(event.text)
    assert received and "".join(received) != DEFAULT_REPLY
    assert [a.error_type for a in info.value.attempts] == ["StreamInterruptedError"]
    # a stream that ends without its finish/[DONE] is caught too
    with pytest.raises(StreamInterruptedError):
        list(gateway(tmp_path, faults, {"a": "nodone#nd"}).stream("hello"))


def test_async_paths_retry_and_fall_back(tmp_path: Path, faults: FaultServer) -> None:
    gw = gateway(tmp_path, faults, {"a": "502#as", "b": "ok#as"}, fallback=("b",), max_retries=1)

    async def run() -> tuple[Any, list[Any]]:
        result = await gw.agenerate("hello")
        events = [e async for e in gw.astream("hello")]
        return result, events

    result, events = asyncio.run(run())
    assert result.model == "b:m" and len(result.attempts) == 3
    assert events[-1].result.text == DEFAULT_REPLY


def test_connection_refused_is_unavailable(tmp_path: Path) -> None:
    with FaultServer() as server:
        url = server.url("ok")
    settings = GatewaySettings(
        default_model="gone:m", endpoints={"gone": {"base_url": url}}, max_retries=0
    )
    with pytest.raises(ModelUnavailableError, match="cannot reach"):
        Gateway(Settings(home=tmp_path, gateway=settings)).generate("hello")
