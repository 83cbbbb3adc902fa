"""Two ``ragline serve`` replicas on one PostgreSQL behave as one, over real sockets: a document
ingested through one is found through the other, a key's 10 requests per minute hold across
both (limits in PostgreSQL, or in Redis with ``redis.url``), a revoked key is refused by both
at once, and a PostgreSQL restart gives a clear 503 that goes away by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragline.models.gateway import Gateway
from ragline.store.factory import open_handoffs, open_keys
from ragline.store.keys_base import KeyPolicy
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.live_server import LiveServer, running_server, server_settings, write_corpus

pytestmark = pytest.mark.integration


@pytest.fixture
def replicas(
    pg_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[LiveServer, LiveServer, Any]]:
    """Two servers on one database; ``indirect`` param "redis": limits in a shared Redis."""
    extra: dict[str, Any] = {}
    if getattr(request, "param", None) == "redis":
        extra["redis"] = {"url": request.getfixturevalue("redis_url")}
    servers = []
    settings = None
    for name in ("a", "b"):
        settings = server_settings(
            tmp_path / name, store={"url": pg_url}, trace={"enabled": False}, **extra
        )
        fake = FakeChatModel(lambda m, p: "Venus is hot [1].", name="fake:embedded")
        servers.append((settings, Gateway(settings, models={"embedded": fake})))
    with (
        running_server(servers[0][0], gateway=servers[0][1]) as a,
        running_server(servers[1][0], gateway=servers[1][1]) as b,
    ):
        yield a, b, settings


def _search(url: str, query: str = "hottest planet", key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(
        f"{url}/api/collections/docs/search",
        json={"query": query, "k": 3, "mode": "bm25"},
        headers=headers,
        timeout=30,
    )


def test_ingested_through_one_found_through_the_other(replicas, tmp_path: Path) -> None:
    a, b, _ = replicas
    corpus = write_corpus(tmp_path / "corpus")
    files = [("files", (p.name, p.read_bytes())) for p in sorted(corpus.iterdir())]
    assert httpx.post(f"{a.url}/api/collections/docs/files", files=files, timeout=120).is_success
    r = _search(b.url)
    assert r.status_code == 200, r.text
    assert "venus.md" in r.text


@pytest.mark.parametrize("replicas", ["postgresql", "redis"], indirect=True)
def test_limits_are_shared_and_a_revoked_key_is_refused_by_both(replicas, tmp_path) -> None:
    a, b, settings = replicas
    corpus = write_corpus(tmp_path / "corpus")
    files = [("files", (p.name, p.read_bytes())) for p in sorted(corpus.iterdir())]
    assert httpx.post(f"{a.url}/api/collections/docs/files", files=files, timeout=120).is_success
    keys = open_keys(settings)
    try:
        made = keys.create_key("shared", "read", policy=KeyPolicy.of(rpm=10))
        with ThreadPoolExecutor(30) as pool:
            codes = list(
                pool.map(
                    lambda i: _search((a, b)[i % 2].url, key=made.secret).status_code, range(30)
                )
            )
        assert sorted(codes) == [200] * 10 + [429] * 20
        other = keys.create_key("other", "read")
        assert _search(a.url, key=other.secret).status_code == 200
        keys.revoke_key(other.key.id)
        started = time.monotonic()
        assert _search(a.url, key=other.secret).status_code == 401
        assert _search(b.url, key=other.secret).status_code == 401
        assert time.monotonic() - started < 1.0
    finally:
        keys.close()


def test_the_handoff_inbox_is_shared_by_the_replicas(replicas) -> None:
    """An item opened on PostgreSQL is answered through one replica and read through the
    other; messages posted at once through both get distinct numbers."""
    a, b, settings = replicas
    keys, inbox = open_keys(settings), open_handoffs(settings)
    try:
        admin = keys.create_key("ana", "admin").secret
        user = keys.create_key("alice", "read", ["docs"])
        item = inbox.open_item(question="cancel my contract", collection="docs", owner=user.key.id)

        def call(server: LiveServer, method: str, path: str, key: str, **kw: Any):
            headers = {"Authorization": f"Bearer {key}"}
            return httpx.request(method, f"{server.url}{path}", headers=headers, timeout=30, **kw)

        listed = call(b, "GET", "/api/handoff", admin)
        assert listed.status_code == 200, listed.text
        assert item.id in [i["id"] for i in listed.json()["items"]]
        r = call(a, "POST", f"/api/handoff/{item.id}/reply", admin, json={"text": "Done."})
        assert r.status_code == 201 and r.json()["seq"] == 3 and r.json()["author"] == "ana"
        polled = call(b, "GET", f"/api/handoff/{item.id}/messages?after=2", user.secret).json()
        assert polled["status"] == "answered" and polled["last"] == 3
        assert [(m["role"], m["text"]) for m in polled["messages"]] == [("human", "Done.")]
        with ThreadPoolExecutor(10) as pool:
            posted = list(
                pool.map(
                    lambda i: call(
                        (a, b)[i % 2],
                        "POST",
                        f"/api/handoff/{item.id}/messages",
                        user.secret,
                        json={"text": f"m{i}"},
                    ),
                    range(10),
                )
            )
        assert all(p.status_code == 201 for p in posted), [p.text for p in posted]
        assert sorted(p.json()["seq"] for p in posted) == list(range(4, 14))
        closed = call(b, "POST", f"/api/handoff/{item.id}/close", admin, json={"resolution": "ok"})
        assert closed.status_code == 200 and closed.json()["status"] == "closed"
        late = call(a, "POST", f"/api/handoff/{item.id}/reply", admin, json={"text": "more"})
        assert late.status_code == 409
        got = inbox.get_item(item.id)
        assert got is not None and got.status == "closed" and len(got.messages) == 14
        other = keys.create_key("bob", "read", ["docs"]).secret
        assert call(a, "GET", f"/api/handoff/{item.id}", other).status_code == 404
    finally:
        keys.close()
        inbox.close()


def test_a_postgresql_restart_is_a_503_then_recovers(replicas, postgres_service) -> None:
    a, _, _ = replicas
    assert (
        httpx.post(f"{a.url}/api/collections", json={"name": "docs"}, timeout=30).status_code < 500
    )
    postgres_service.stop_server()
    try:
        r = _search(a.url)
        assert r.status_code == 503, r.text
        body = r.json()
        assert "not reachable" in body["detail"]
    finally:
        postgres_service.start_again()
    deadline = time.monotonic() + 30
    while (r := _search(a.url)).status_code == 503:  # no restart of ragline needed
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)
    assert r.status_code in (200, 404), r.text
