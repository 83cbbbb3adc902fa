"""The OpenAI-compatible API, driven by the official ``openai`` client against a real uvicorn
server with the real embedder and the real SmolLM2 model (small ``max_tokens``)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import numpy as np
import pytest

from conftest import require_smollm2
from ragline.api import Ragline
from ragline.testing.live_server import LiveServer, running_server, server_settings, write_corpus

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.integration
require_smollm2()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("openai-home")
    # Answers take their length from the request's max_tokens (answer.max_tokens otherwise).
    settings = server_settings(home, gateway={"temperature": 0.0}, answer={"style": "generative"})
    with Ragline(settings) as rag:
        rag.ingest([write_corpus(home / "corpus")], collection="docs")
    with running_server(settings) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def test_models_lists_collections_and_gateway_models(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "ragline:docs" in ids and "embedded" in ids


def test_grounded_chat_with_citations(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="ragline:docs",
        messages=[{"role": "user", "content": "Which planet is the hottest?"}],
        max_tokens=8,
    )
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage.completion_tokens <= 8
    citations = completion.model_extra["citations"]
    assert citations[0]["source_name"] == "venus.md" and "Venus" in citations[0]["text"]


def test_grounded_chat_honours_the_request_sampling(client: openai.OpenAI) -> None:
    """max_tokens (and the rest of the request's sampling) reach the grounded answer."""
    question = [{"role": "user", "content": "Which planet is the hottest?"}]
    completion = client.chat.completions.create(
        model="ragline:docs", messages=question, max_tokens=5, temperature=0.0, seed=1
    )
    assert 0 < completion.usage.completion_tokens <= 5
    assert completion.choices[0].finish_reason == "length"
    stream = client.chat.completions.create(
        model="ragline:docs",
        messages=question,
        max_completion_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None and 0 < chunks[-1].usage.completion_tokens <= 5
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


def test_grounded_chat_streams_then_cites(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="ragline:docs",
        messages=[
            {"role": "user", "content": "How hot should coffee water be?"},
        ],
        max_tokens=8,
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    last = chunks[-1]
    assert last.choices[0].finish_reason in ("stop", "length")
    assert last.model_extra["citations"][0]["source_name"] == "coffee.md"


def test_gateway_model_passes_through(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="embedded",
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=4,
    )
    assert completion.choices[0].message.content
    assert completion.usage.completion_tokens <= 4
    assert "citations" not in (completion.model_extra or {})


def test_unknown_model_and_collection_are_client_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="unknown model"):
        client.chat.completions.create(
            model="nope:thing", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(
            model="ragline:missing", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )


def test_embeddings_float_and_base64(client: openai.OpenAI) -> None:
    out = client.embeddings.create(model="all-MiniLM-L6-v2", input=["hot planet", "coffee"])
    vectors = np.array([d.embedding for d in out.data])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    raw = client.embeddings.with_raw_response.create(
        model="all-MiniLM-L6-v2", input="hot planet", encoding_format="base64"
    ).http_response.json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, vectors[0], atol=1e-5)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="x")


def test_disconnect_stops_the_real_model(server: LiveServer) -> None:
    """Start a long stream, read two tokens, close the connection: generation stops early."""
    ctx = server.context
    before = len(ctx.history)
    raw = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    stream = raw.chat.completions.create(
        model="embedded",
        messages=[{"role": "user", "content": "Write a very long story about the sea."}],
        max_tokens=400,
        temperature=0.8,
        stream=True,
    )
    seen = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            seen += 1
            if seen == 2:
                break
    stream.close()  # drops the connection
    deadline = time.monotonic() + 20
    while len(ctx.history) == before or ctx.queues["local"].stats.active:
        assert time.monotonic() < deadline, "the generation did not stop"
        time.sleep(0.02)
    record = ctx.history[before]
    assert record.cancelled and record.items < 60  # of 400 tokens asked for
