"""The answer caches over a real HTTP server: the ``X-Ragline-Cache`` header, the ``cached``
field of the JSON answers, the ``cache`` event of the REST stream, ``"cache": false``, and
the OpenAI-compatible route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.live_server import LiveServer, running_server, server_settings, write_corpus

QUESTION = "Which planet is the hottest?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("cache-server-home")
    settings = server_settings(
        home, answer={"style": "generative"}, cache={"enabled": True}, trace={"enabled": False}
    )
    fake = FakeChatModel(["Venus is the hottest planet [1]."], name="fake:embedded")
    gateway = Gateway(settings, models={"embedded": fake})
    with running_server(settings, gateway=gateway) as live:
        corpus = write_corpus(home / "corpus")
        with httpx.Client(base_url=live.url, timeout=60) as c:
            files = [("files", (p.name, p.read_bytes())) for p in sorted(corpus.iterdir())]
            assert c.post("/api/collections/docs/files", files=files).status_code == 200
        live.fake = fake  # type: ignore[attr-defined]
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def ask(client: httpx.Client, question: str, **body: Any) -> httpx.Response:
    r = client.post(
        "/api/collections/docs/ask", json={"question": question, "stream": False, **body}
    )
    assert r.status_code == 200, r.text
    return r


def test_json_answers_say_where_they_come_from(client: httpx.Client, server: LiveServer):
    calls = len(server.fake.calls)  # type: ignore[attr-defined]
    first = ask(client, QUESTION)
    assert first.headers["X-Ragline-Cache"] == "miss" and first.json()["cached"] is None
    again = ask(client, "which planet is the HOTTEST")
    assert again.headers["X-Ragline-Cache"] == "exact"
    body = again.json()
    assert body["cached"] == "exact" and body["answer"] == first.json()["answer"]
    assert [c["chunk_id"] for c in body["citations"] if c["cited"]] == [
        c["chunk_id"] for c in first.json()["citations"] if c["cited"]
    ]
    assert len(server.fake.calls) == calls + 1  # type: ignore[attr-defined]
    paraphrase = ask(client, "What planet is the hottest one?")
    assert paraphrase.headers["X-Ragline-Cache"] == "semantic"
    assert paraphrase.json()["cached"] == "semantic"
    skipped = ask(client, QUESTION, cache=False)
    assert skipped.headers["X-Ragline-Cache"] == "off" and skipped.json()["cached"] is None


def test_the_stream_has_a_cache_event_and_the_header(client: httpx.Client):
    question = "What is the hottest planet in the Solar System?"
    first = ask(client, question).json()
    assert first["finish_reason"] == "stop", first
    with client.stream("POST", "/api/collections/docs/ask", json={"question": question}) as r:
        assert r.status_code == 200
        served = r.headers["X-Ragline-Cache"]
        assert served in ("exact", "semantic")
        events, event = [], None
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                events.append((event, json.loads(line[5:])))
    kinds = [k for k, _ in events]
    assert kinds[:2] == ["start", "cache"] and "retrieved" not in kinds
    assert events[1][1]["cached"] == served
    assert dict(events)["done"]["cached"] == served


def test_openai_compatible_route(client: httpx.Client):
    body = {
        "model": "ragline:docs",
        "messages": [{"role": "user", "content": "How hot is the surface of Venus?"}],
    }
    first = client.post("/v1/chat/completions", json=body)
    assert first.status_code == 200, first.text
    assert first.headers["X-Ragline-Cache"] == "miss" and first.json()["cached"] is None
    again = client.post("/v1/chat/completions", json=body)
    assert again.headers["X-Ragline-Cache"] == "exact" and again.json()["cached"] == "exact"
    assert (
        again.json()["choices"][0]["message"]["content"]
        == first.json()["choices"][0]["message"]["content"]
    )
