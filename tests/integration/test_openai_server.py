"""The HTTP provider against llama-cpp-python's own OpenAI-compatible server (same GGUF)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import require_smollm2
from ragline.config import GatewaySettings, Settings
from ragline.models.chat import ChatModel, StreamDone, TokenDelta
from ragline.models.gateway import Gateway
from ragline.models.openai_compat import OpenAICompatChatModel
from ragline.testing.chat_conformance import ChatModelConformance, City
from ragline.testing.fault_server import FaultServer

pytestmark = pytest.mark.integration
pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")

GGUF = require_smollm2()

MODEL = "smollm2"
THREADS = max(1, (os.cpu_count() or 2) // 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free loopback port; yields its ``/v1`` base URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(GGUF), "--model_alias", MODEL,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--verbose", "False",
        # Like the embedded model: half the cores. The server's default batch threads (all
        # cores) spin-wait and crawl on a busy machine.
        "--n_threads", str(THREADS), "--n_threads_batch", str(THREADS),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def local_model(base_url: str) -> OpenAICompatChatModel:
    # llama-cpp-python's server takes the schema inside a json_object response_format.
    return OpenAICompatChatModel(
        base_url=base_url, model=MODEL, name=f"local:{MODEL}", structured_output="json_object"
    )


class TestOpenAIServerConformance(ChatModelConformance):
    # The server streams no usage (estimated then) and needs logits_all for logprobs.
    exact_usage = False
    supports_logprobs = False

    @pytest.fixture
    def chat_model(self, llama_server: str) -> ChatModel:
        return local_model(llama_server)


def test_non_streaming_usage_is_exact(llama_server: str) -> None:
    result = local_model(llama_server).generate("Say hello.", max_tokens=8, temperature=0)
    assert not result.usage.estimated and result.usage.prompt_tokens > 10
    assert 0 < result.usage.completion_tokens <= 8


def test_gateway_over_http_prices_streams_and_structures(llama_server: str, tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"models": {"local:*": {"input_per_million": 1, "output_per_million": 3}}})
    )
    gw = Gateway(
        Settings(
            home=tmp_path,
            gateway=GatewaySettings(
                default_model=f"local:{MODEL}",
                endpoints={"local": {"base_url": llama_server, "structured_output": "json_object"}},
                price_table=prices,
                max_tokens=12,
                temperature=0,
            ),
        )
    )
    result = gw.generate("Name a colour.")
    assert result.model == f"local:{MODEL}"
    expected = (result.usage.prompt_tokens * 1 + result.usage.completion_tokens * 3) / 1e6
    assert result.cost == pytest.approx(expected)
    events = list(gw.stream("Name a colour."))
    assert isinstance(events[-1], StreamDone) and events[-1].result.cost is not None
    assert "".join(e.text for e in events if isinstance(e, TokenDelta)) == events[-1].result.text
    city = gw.generate("Give the city Paris as JSON.", schema=City, max_tokens=60)
    assert isinstance(city, City)


def test_fallback_from_a_failing_server_to_the_real_one(llama_server: str, tmp_path: Path) -> None:
    with FaultServer(retry_after="0") as faults:
        gw = Gateway(
            Settings(
                home=tmp_path,
                gateway=GatewaySettings(
                    default_model="broken:m",
                    fallback=(f"local:{MODEL}",),
                    endpoints={
                        "broken": {"base_url": faults.url("503")},
                        "local": {"base_url": llama_server},
                    },
                    max_retries=1,
                    backoff_base_s=0.01,
                    max_tokens=8,
                ),
            )
        )
        result = gw.generate("Say hi.")
    assert result.model == f"local:{MODEL}"
    assert [(a.model, a.status_code) for a in result.attempts] == [
        ("broken:m", 503),
        ("broken:m", 503),
        (f"local:{MODEL}", None),
    ]
