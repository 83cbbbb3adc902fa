"""The embedded llama.cpp provider with the real SmolLM2-135M-Instruct GGUF."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import require_smollm2
from ragline.config import GatewaySettings, Settings
from ragline.errors import ModelTimeoutError
from ragline.models.chat import ChatModel, ContextLengthError, SamplingParams, StreamDone
from ragline.testing.chat_conformance import ChatModelConformance, City

pytestmark = pytest.mark.integration
GGUF = require_smollm2()

from ragline.models.gateway import Gateway  # noqa: E402
from ragline.models.llamacpp import LlamaCppChatModel, load_model  # noqa: E402

NOTE = (
    "The lighthouse stood on a rocky point at the edge of the bay. Every evening the keeper "
    "climbed the spiral stairs, trimmed the wick and polished the great lens so that ships "
    "could find the harbour."
)


@pytest.fixture(scope="module")
def smollm2() -> LlamaCppChatModel:
    model = LlamaCppChatModel()
    model.load()
    return model


class TestLlamaCppConformance(ChatModelConformance):
    @pytest.fixture
    def chat_model(self, smollm2: LlamaCppChatModel) -> ChatModel:
        return smollm2


def test_long_prompt_and_a_few_hundred_tokens_do_not_crash(smollm2: LlamaCppChatModel) -> None:
    """More than one 512-token batch of prompt, then ~300 tokens: the AVX2 build holds."""
    notes = " ".join(f"Day {i}: {NOTE}" for i in range(1, 13))
    prompt = notes + "\n\nList every day above, one per line, with a sentence about each."
    events = list(smollm2.stream(prompt, SamplingParams(temperature=0.0, max_tokens=300)))
    result = events[-1]
    assert isinstance(result, StreamDone)
    usage = result.result.usage
    assert usage.prompt_tokens > 520
    assert usage.completion_tokens >= 200
    assert len(events) > 100 and result.result.text.strip()


def test_grammar_constrains_output_to_the_schema(smollm2: LlamaCppChatModel) -> None:
    schema = City.model_json_schema()
    result = smollm2.generate(
        "Describe Rome.", SamplingParams(temperature=0.8, max_tokens=80, json_schema=schema, seed=3)
    )
    City.model_validate(json.loads(result.text))  # valid JSON without any repair


def test_timeout_between_tokens(smollm2: LlamaCppChatModel) -> None:
    with pytest.raises(ModelTimeoutError, match="no complete answer"):
        smollm2.generate(
            "Write a long story about a storm.", SamplingParams(max_tokens=200, timeout_s=0.01)
        )


def test_prompt_longer_than_the_context_is_a_typed_error(smollm2: LlamaCppChatModel) -> None:
    with pytest.raises(ContextLengthError, match="context window"):
        smollm2.generate(NOTE * 100)


def test_model_is_loaded_once_and_threads_share_it(smollm2: LlamaCppChatModel) -> None:
    assert LlamaCppChatModel().load() is smollm2.load() is load_model(GGUF)
    barrier = threading.Barrier(3)

    def call(i: int) -> str:
        barrier.wait()
        return smollm2.generate(f"Say the number {i}.", SamplingParams(max_tokens=6, seed=i)).text

    with ThreadPoolExecutor(3) as pool:
        texts = list(pool.map(call, range(3)))
    assert all(isinstance(t, str) for t in texts)


def test_gateway_embedded_with_cost_best_of_n_and_schema(tmp_path: Path) -> None:
    gw = Gateway(Settings(home=tmp_path, gateway=GatewaySettings(max_tokens=12)))
    result = gw.generate("Name a fruit.", temperature=0.9, samples=2, seed=5)
    assert result.model == "embedded:SmolLM2-135M-Instruct.Q4_1"
    assert result.cost == 0.0 and len(result.candidates) == 2
    assert result.logprob_mean == max(c.logprob_mean for c in result.candidates)  # type: ignore[type-var]
    assert result.usage.completion_tokens == sum(
        c.usage.completion_tokens for c in result.candidates
    )
    city = gw.generate("Give the city Paris as JSON.", schema=City, max_tokens=60, temperature=0)
    assert isinstance(city, City)
