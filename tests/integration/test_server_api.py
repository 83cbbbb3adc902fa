"""The REST API on a real uvicorn server (127.0.0.1): real store and embedder, fake chat model.

Covers collections, ingestion (upload and JSON), search, streamed answers, bad input as
problem+json, the bounded generation queue (429/503 with Retry-After) and cancellation of a
generation when its client disconnects.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ragline.models.chat import SamplingParams
from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.live_server import LiveServer, running_server, server_settings, write_corpus

pytestmark = pytest.mark.integration
LONG = "tell me everything"


def reply(messages: Any, params: SamplingParams) -> str:
    question = messages[-1]["content"]
    if LONG in question:
        return " ".join(f"w{i}" for i in range(400))
    return "Venus is the hottest planet [1]."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("server-home")
    settings = server_settings(
        home,
        server={"max_queue": 1, "queue_timeout_s": 1.0},
        trace={"enabled": False},
        answer={"style": "generative"},
        # token by token: these tests are about streaming and cancelling mid-generation
        # (test_guard_answer.py covers the sentence-at-a-time release of guarded answers)
        guard={"release": "token"},
    )
    fake = FakeChatModel(reply, name="fake:embedded", token_delay_s=0.02)
    gateway = Gateway(settings, models={"embedded": fake})
    with running_server(settings, gateway=gateway) as live:
        corpus = write_corpus(home / "corpus")
        with httpx.Client(base_url=live.url, timeout=30) as c:
            files = [("files", (p.name, p.read_bytes())) for p in sorted(corpus.iterdir())]
            r = c.post("/api/collections/docs/files", files=files)
            assert r.status_code == 200, r.text
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["detail"] and body["type"].startswith("urn:ragline")
    return body


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    event = None
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            yield event or "message", json.loads(line[5:])


# ------------------------------------------------------------------------- happy paths


def test_health_openapi_and_ui(client: httpx.Client) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    assert "/api/collections/{name}/search" in spec["paths"]
    assert "/v1/chat/completions" in spec["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "ragline" in page.text
    assert client.get("/static/app.js").status_code == 200
    docs = client.get("/docs")  # Swagger UI with local assets: works with no network
    assert docs.status_code == 200 and "/docs-static/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert client.get("/docs-static/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-static/swagger-ui.css").status_code == 200


def test_collections_and_upload_report(client: httpx.Client) -> None:
    names = {c["name"]: c for c in client.get("/api/collections").json()}
    assert names["docs"]["documents"] == 3
    r = client.post("/api/collections", json={"name": "empty-one"})
    assert r.status_code == 201 and r.json()["documents"] == 0
    stats = client.get("/api/collections/docs").json()
    assert stats["documents"] == 3 and stats["chunks"] >= 3
    assert client.delete("/api/collections/empty-one").status_code == 204
    problem(client.delete("/api/collections/empty-one"), 404)


def test_reupload_is_unchanged(client: httpx.Client) -> None:
    r = client.post(
        "/api/collections/docs/files",
        files=[("files", ("venus.md", write_corpus_text("venus.md")))],
    )
    assert r.status_code == 200 and r.json()["unchanged"] == 1 and r.json()["added"] == 0


def write_corpus_text(name: str) -> bytes:
    from ragline.testing.live_server import CORPUS

    return CORPUS[name].encode()


def test_json_documents_and_search(client: httpx.Client) -> None:
    docs = {
        "documents": [
            {
                "id": "tea-1",
                "title": "Green tea",
                "text": "Green tea steeps at 80 degrees Celsius for two minutes.",
                "metadata": {"team": "kitchen"},
            },
        ]
    }
    r = client.post("/api/collections/docs/documents", json=docs)
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    again = client.post("/api/collections/docs/documents", json=docs).json()
    assert again["unchanged"] == 1
    hits = client.post(
        "/api/collections/docs/search", json={"query": "how long to steep green tea", "k": 2}
    ).json()["hits"]
    assert hits[0]["title"] == "Green tea" and hits[0]["metadata"]["team"] == "kitchen"
    hits = client.post(
        "/api/collections/docs/search",
        json={"query": "hottest planet", "mode": "bm25", "k": 1, "source": "*.md"},
    ).json()["hits"]
    assert hits[0]["source"].endswith("venus.md") and hits[0]["location"]
    chunk = client.get(f"/api/collections/docs/chunks/{hits[0]['chunk_id']}").json()
    assert "Venus" in chunk["text"]
    problem(client.get("/api/collections/docs/chunks/nope"), 404)


def test_ask_streams_tokens_then_citations(client: httpx.Client) -> None:
    with client.stream(
        "POST", "/api/collections/docs/ask", json={"question": "Which planet is the hottest?"}
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(r.iter_lines()))
    kinds = [e for e, _ in events]
    assert kinds[0] == "start" and kinds[-2:] == ["citations", "done"]
    assert kinds.count("token") >= 3
    text = "".join(d["text"] for e, d in events if e == "token")
    assert text == "Venus is the hottest planet [1]."
    citations = events[-2][1]["citations"]
    assert citations[0]["cited"] and citations[0]["source_name"] == "venus.md"
    assert "465 degrees" in citations[0]["text"]


def _frames(body: bytes) -> list[tuple[str | None, Any]]:
    out = []
    for block in body.decode().split("\n\n"):
        if block:
            lines = block.split("\n")
            name = lines[0][7:] if lines[0].startswith("event: ") else None
            data = lines[-1][6:]
            out.append((name, data if data == "[DONE]" else json.loads(data)))
    return out


def test_both_streams_are_the_one_encoder_over_the_answer_vocabulary(
    client: httpx.Client, server: LiveServer
) -> None:
    """What the routes send is exactly the vocabulary's events through the one encoder."""
    from ragline.server.answering import AnswerRequest, answer_events
    from ragline.server.routes.openai import ChunkEncoder
    from ragline.server.streaming import event_frames

    question = "Which planet is the hottest?"
    events = list(answer_events(server.context.rag, AnswerRequest(question, "docs")))
    kinds = [e.kind for e in events[:3]]
    assert kinds == ["start", "route", "retrieved"] and events[-1].kind == "done"
    # REST: one named event per kind (checked sentences interleave with the draft as their
    # checks finish, so they are compared apart)
    with client.stream("POST", "/api/collections/docs/ask", json={"question": question}) as r:
        rest = _frames(r.read())
    expected = _frames(b"".join(event_frames(e) for e in events))
    assert [f for f in rest if f[0] != "sentence"] == [f for f in expected if f[0] != "sentence"]
    assert [f for f in rest if f[0] == "sentence"] == [f for f in expected if f[0] == "sentence"]
    assert {"start", "route", "retrieved", "token", "sentence", "answer", "citations", "done"} == {
        n for n, _ in rest
    }
    # OpenAI-compatible: the same events as chunks, through the same encoder
    body = {
        "model": "ragline:docs",
        "messages": [{"role": "user", "content": question}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        sent = r.read()
    first = _frames(sent)[0][1]
    encoder = ChunkEncoder("ragline:docs", True, id=first["id"], created=first["created"])
    assert sent == b"".join(encoder.encode(e) for e in events) + encoder.done()


def test_ask_as_json(client: httpx.Client) -> None:
    r = client.post(
        "/api/collections/docs/ask", json={"question": "Which planet is hottest?", "stream": False}
    )
    body = r.json()
    assert r.status_code == 200 and body["answer"].startswith("Venus")
    assert body["citations"] and body["finish_reason"] == "stop"


def test_ask_k_is_the_number_of_passages(
    client: httpx.Client, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # That the cap holds is tested on the flow (test_answer_flow); here, that k reaches it.
    packer = server.context.rag.answerer.packer
    pack, seen = packer.pack, []

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("max_passages"))
        return pack(*args, **kwargs)

    monkeypatch.setattr(packer, "pack", spy)
    body = {"question": "Which planet is hottest?", "stream": False}
    assert client.post("/api/collections/docs/ask", json=body).status_code == 200
    r = client.post("/api/collections/docs/ask", json={**body, "k": 1})
    assert r.status_code == 200, r.text
    assert seen == [None, 1] and len(r.json()["citations"]) == 1


def test_ask_and_grounded_chat_pass_the_request_sampling(
    client: httpx.Client, server: LiveServer
) -> None:
    fake = server.context.gateway.resolve("embedded")
    assert isinstance(fake, FakeChatModel)
    body = {"question": "Which planet is hottest?", "stream": False}
    sampling = {"max_tokens": 3, "temperature": 0.4, "top_p": 0.5, "stop": ["##"], "seed": 9}
    r = client.post("/api/collections/docs/ask", json={**body, **sampling})
    assert r.status_code == 200, r.text
    params = fake.calls[-1][1]
    assert (params.max_tokens, params.temperature, params.top_p, params.seed) == (3, 0.4, 0.5, 9)
    assert params.stop == ("##",) and r.json()["usage"]["completion_tokens"] == 3
    r = client.post(
        "/v1/chat/completions",
        json={
            "model": "ragline:docs",
            "messages": [{"role": "user", "content": "Which planet is hottest?"}],
            "max_completion_tokens": 4,
            "temperature": 0.6,
            "top_p": 0.7,
            "stop": "##",
            "seed": 3,
        },
    )
    assert r.status_code == 200, r.text
    params = fake.calls[-1][1]
    assert (params.max_tokens, params.temperature, params.top_p, params.seed) == (4, 0.6, 0.7, 3)
    assert params.stop == ("##",) and r.json()["usage"]["completion_tokens"] == 4
    assert r.json()["choices"][0]["finish_reason"] == "length"
    # without them, the answer settings decide
    client.post("/api/collections/docs/ask", json=body)
    assert fake.calls[-1][1].max_tokens == server.context.settings.answer.max_tokens


# ------------------------------------------------------------------------- bad input


def test_unknown_collection_is_404_with_hint(client: httpx.Client) -> None:
    body = problem(client.post("/api/collections/nope/search", json={"query": "x"}), 404)
    assert "nope" in body["detail"] and "ragline collections" in body["hint"]
    problem(client.post("/api/collections/nope/ask", json={"question": "x"}), 404)


def test_malformed_json_and_schema_errors(client: httpx.Client) -> None:
    body = problem(
        client.post(
            "/api/collections/docs/search",
            content=b'{"query": ',
            headers={"content-type": "application/json"},
        ),
        400,
    )
    assert "not valid JSON" in body["detail"]
    body = problem(client.post("/api/collections/docs/search", json={"query": ""}), 422)
    assert "query" in body["detail"] and body["errors"]
    body = problem(client.post("/api/collections/docs/search", json={"query": "x", "k": 101}), 400)
    assert "max_k" in body["hint"].lower() or "MAX_K" in body["hint"]
    problem(client.post("/api/collections/docs/search", json={"query": "x", "extra": 1}), 422)
    problem(client.post("/api/feedback", json={"trace_id": "abc"}), 422)
    ask = "/api/collections/docs/ask"
    problem(client.post(ask, json={"question": "x", "stop": [""]}), 422)
    problem(client.post(ask, json={"question": "x", "top_p": 0}), 422)
    chat = {"model": "ragline:docs", "messages": [{"role": "user", "content": "x"}]}
    problem(client.post("/v1/chat/completions", json={**chat, "stop": ""}), 422)
    problem(client.post("/api/collections", json={"name": "../etc"}), 422)
    problem(client.get("/api/nothing-here"), 404)


def test_unsupported_and_oversized_uploads(client: httpx.Client, server: LiveServer) -> None:
    body = problem(
        client.post("/api/collections/docs/files", files=[("files", ("x.exe", b"MZ\x00"))]), 415
    )
    assert ".md" in body["hint"]
    limit = server.context.settings.server.max_upload_bytes
    too_big = b"a" * (limit + 1)
    body = problem(
        client.post("/api/collections/docs/files", files=[("files", ("big.txt", too_big))]), 413
    )
    assert "MAX_UPLOAD_BYTES" in body["hint"]
    json_limit = server.context.settings.server.max_json_bytes

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"query": "'
        for _ in range(json_limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    body = problem(
        client.post(
            "/api/collections/docs/search",
            content=chunked(),
            headers={"content-type": "application/json"},
        ),
        413,
    )
    body = problem(
        client.post("/api/collections/docs/files", files=[("files", ("empty.txt", b"   "))]), 422
    )
    assert "empty.txt" in body["detail"]
    assert client.get("/healthz").status_code == 200  # the server lives on


def test_unknown_model_is_400_before_streaming(client: httpx.Client) -> None:
    body = problem(
        client.post("/api/collections/docs/ask", json={"question": "x", "model": "nope:model"}),
        400,
    )
    assert "unknown model" in body["detail"] or "nope" in body["detail"]


# ------------------------------------------------------------------------- load


def wait_for(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_full_queue_429_waiting_too_long_503_and_disconnect_cancels(
    client: httpx.Client, server: LiveServer
) -> None:
    ctx = server.context
    queue = ctx.queues["local"]
    before = len(ctx.history)
    results: dict[str, httpx.Response] = {}
    with (
        httpx.Client(base_url=server.url, timeout=30) as first,
        first.stream(
            "POST", "/api/collections/docs/ask", json={"question": f"{LONG} about Venus"}
        ) as stream,
    ):
        lines = stream.iter_lines()
        for event, _ in sse_events(lines):
            if event == "token":
                break  # generating: the only slot is taken
        assert queue.stats.active == 1

        def second() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as c2:
                results["second"] = c2.post(  # a document question: the router sends
                    # it to retrieval and generation ("x" alone reads as chit-chat)
                    "/api/collections/docs/ask",
                    json={"question": "How hot is Venus?", "stream": False},
                )

        waiter = threading.Thread(target=second)
        waiter.start()
        wait_for(lambda: queue.stats.waiting == 1)
        t0 = time.monotonic()
        body = problem(
            client.post("/api/collections/docs/ask", json={"question": "Is Venus hot?"}), 429
        )
        assert time.monotonic() - t0 < 1.0  # refused at once, not after a wait
        waiter.join(10)
        busy = results["second"]
        problem(busy, 503)
        assert int(busy.headers["retry-after"]) >= 1
        assert body["retry_after"] >= 1
        # leaving the block closed the connection mid-stream
    wait_for(lambda: len(ctx.history) > before and queue.stats.active == 0)
    record = ctx.history[before]
    assert record.cancelled
    assert record.items < 100  # 400 tokens were asked for; it stopped right after the disconnect
    assert queue.stats.cancelled >= 1
    # the slot is free again: the next answer starts at once
    r = client.post("/api/collections/docs/ask", json={"question": "hot?", "stream": False})
    assert r.status_code == 200
    metrics = client.get("/metrics").text
    assert 'ragline_server_rejected_full_total{queue="local"} 1' in metrics
    assert 'ragline_server_cancelled_total{queue="local"} 1' in metrics


def test_searches_run_concurrently(client: httpx.Client, server: LiveServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> int:
        return client.post(
            "/api/collections/docs/search", json={"query": f"coffee water {i}", "k": 3}
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(32))) == {200}


def test_a_declined_answer_says_why_on_both_apis(client: httpx.Client) -> None:
    off_topic = {"question": "What is the capital of Peru?", "stream": False}
    body = client.post("/api/collections/docs/ask", json=off_topic).json()
    assert body["finish_reason"] == "declined"
    assert body["decline_reason"] == "no_relevant_passages"
    chat = {
        "model": "ragline:docs",
        "messages": [{"role": "user", "content": off_topic["question"]}],
    }
    out = client.post("/v1/chat/completions", json=chat).json()
    assert out["declined"] is True and out["decline_reason"] == "no_relevant_passages"
    assert out["choices"][0]["finish_reason"] == "stop"
    # A draft cut by max_tokens: "length" says so, declined or not ("Venus" is supported).
    cut = {"question": "Which planet is hottest?", "stream": False, "max_tokens": 1}
    body = client.post("/api/collections/docs/ask", json=cut).json()
    assert body["model_finish_reason"] == "length"
    assert body["finish_reason"] in ("length", "declined")
    chat = {**chat, "messages": [{"role": "user", "content": cut["question"]}], "max_tokens": 1}
    out = client.post("/v1/chat/completions", json=chat).json()
    assert out["choices"][0]["finish_reason"] == "length"
    answered = client.post(
        "/api/collections/docs/ask", json={"question": "Which planet is hottest?", "stream": False}
    ).json()
    assert answered["finish_reason"] == "stop" and answered["decline_reason"] is None
