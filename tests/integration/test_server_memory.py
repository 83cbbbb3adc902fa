"""Long-term memory over a real server: whose memory is the calling key's, never a field of
the request. Two keys tell the assistant where they live; each one's question about "my
city" is searched with its own city; /api/memory lists and forgets the caller's own facts
only (another key's fact id is a 404); OpenAI's ``user`` field cannot reach another key's
memory. Zero leaks across keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragline.models.gateway import Gateway
from ragline.store.factory import open_keys
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.live_server import LiveServer, running_server, server_settings, write_corpus

pytestmark = pytest.mark.integration

CITIES = {
    "lyon.md": "# Lyon\n\nLyon is home to the Musée des Confluences, a museum of science and "
    "anthropology at the meeting of the Rhône and the Saône.\n",
    "porto.md": "# Porto\n\nPorto is home to the Serralves Museum of contemporary art, set in a "
    "park with an Art Deco villa.\n",
}
QUESTION = "What museum is there in my city?"


def _settings(home: Path) -> Any:
    return server_settings(
        home,
        trace={"enabled": False},
        memory={"long_term": True},
        route={"enabled": False},
        guard={"enabled": False},  # the PII guard would redact the cities (docs/memory.md)
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("memory-home")


@pytest.fixture(scope="module")
def keys(home: Path) -> dict[str, tuple[str, str]]:
    store = open_keys(_settings(home))
    try:
        made = {
            "alice": store.create_key("alice", "read"),
            "bob": store.create_key("bob", "read"),
            "admin": store.create_key("ops", "admin"),
        }
    finally:
        store.close()
    return {name: (m.key.id, m.secret) for name, m in made.items()}


@pytest.fixture(scope="module")
def server(home: Path, keys: dict[str, tuple[str, str]]) -> Iterator[LiveServer]:
    settings = _settings(home)
    gateway = Gateway(settings, models={"embedded": FakeChatModel(["A museum [1]."])})
    with running_server(settings, gateway=gateway) as live:
        corpus = write_corpus(home / "corpus", CITIES)
        files = [("files", (p.name, p.read_bytes())) for p in sorted(corpus.iterdir())]
        r = call(live, "POST", "/api/collections/cities/files", keys["admin"][1], files=files)
        assert r.status_code == 200, r.text
        yield live


def call(server: LiveServer, method: str, path: str, key: str, **kw: Any) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        return c.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kw)


def ask(server: LiveServer, key: str, question: str) -> dict[str, Any]:
    r = call(
        server,
        "POST",
        "/api/collections/cities/ask",
        key,
        json={"question": question, "stream": False},
    )
    assert r.status_code == 200, r.text
    return r.json()


def cited(answer: dict[str, Any]) -> set[str]:
    return {Path(c["source"]).name for c in answer["citations"] if c["cited"]}


def facts(server: LiveServer, key: str, history: bool = False) -> dict[str, Any]:
    r = call(server, "GET", f"/api/memory?history={str(history).lower()}", key)
    assert r.status_code == 200, r.text
    return r.json()


def test_each_key_has_its_own_memory(server: LiveServer, keys) -> None:
    alice, bob = keys["alice"][1], keys["bob"][1]
    ask(server, alice, "I live in Lyon.")
    ask(server, bob, "I live in Porto.")
    # the same question, searched with each key's own city
    assert cited(ask(server, alice, QUESTION)) == {"lyon.md"}
    assert cited(ask(server, bob, QUESTION)) == {"porto.md"}

    listed = facts(server, alice)
    assert listed["user"] == f"key:{keys['alice'][0]}"
    assert [(f["key"], f["value"]) for f in listed["facts"]] == [("location", "Lyon")]
    assert [f["value"] for f in facts(server, bob)["facts"]] == ["Porto"]


def test_openai_user_field_cannot_reach_another_key(server: LiveServer, keys) -> None:
    alice_id, alice = keys["alice"]
    bob = keys["bob"][1]
    body = {
        "model": "ragline:cities",
        "messages": [{"role": "user", "content": "I moved to Paris."}],
        "user": f"key:{alice_id}",  # spoofed: memory follows the key, not this field
    }
    r = call(server, "POST", "/v1/chat/completions", bob, json=body)
    assert r.status_code == 200, r.text
    assert [f["value"] for f in facts(server, bob)["facts"]] == ["Paris"]
    assert [f["value"] for f in facts(server, alice)["facts"]] == ["Lyon"]
    history = facts(server, bob, history=True)["facts"]
    assert [(f["value"], f["current"]) for f in history] == [("Porto", False), ("Paris", True)]


def test_a_key_forgets_its_own_facts_only(server: LiveServer, keys) -> None:
    alice, bob = keys["alice"][1], keys["bob"][1]
    [lyon] = facts(server, alice)["facts"]
    r = call(server, "DELETE", f"/api/memory/{lyon['id']}", bob)
    assert r.status_code == 404  # another key's fact is unknown
    assert [f["value"] for f in facts(server, alice)["facts"]] == ["Lyon"]
    done = ask(server, alice, "Please forget that I live in Lyon.")
    assert done["answer"].startswith("Done: I forgot")
    assert facts(server, alice, history=True)["facts"] == []
    assert call(server, "DELETE", "/api/memory", bob).json() == {"forgotten": 2}
    assert facts(server, bob, history=True)["facts"] == []
