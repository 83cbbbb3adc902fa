"""The handoff inbox over a real server: operators list, read, reply and close; the user who
owns an item polls for the reply and adds messages; other keys see nothing (404 like an
unknown id); a read key cannot reply; empty texts and closed items are refused clearly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from ragline.models.gateway import Gateway
from ragline.server.handoff import claim_handoff
from ragline.store.factory import open_handoffs, open_keys
from ragline.store.handoff_base import HandoffStore
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.live_server import LiveServer, running_server, server_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("handoff-home")


@pytest.fixture(scope="module")
def keys(home: Path) -> dict[str, tuple[str, str]]:
    """name -> (key id, secret)."""
    store = open_keys(server_settings(home, trace={"enabled": False}))
    try:
        made = {
            "user": store.create_key("alice", "read", ["a"]),
            "other": store.create_key("bob", "read", ["a"]),
            "admin": store.create_key("ana", "admin"),
            "admin_b": store.create_key("bea", "admin", ["b"]),
        }
    finally:
        store.close()
    return {name: (m.key.id, m.secret) for name, m in made.items()}


@pytest.fixture(scope="module")
def server(home: Path, keys: dict[str, tuple[str, str]]) -> Iterator[LiveServer]:
    settings = server_settings(home, trace={"enabled": False})
    gateway = Gateway(settings, models={"embedded": FakeChatModel(["Hot [1]."])})
    with running_server(settings, gateway=gateway) as live:
        yield live


@pytest.fixture
def inbox(home: Path) -> Iterator[HandoffStore]:
    store = open_handoffs(server_settings(home, trace={"enabled": False}))
    yield store
    store.close()


def call(server: LiveServer, method: str, path: str, key: str | None = None, **kw):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=server.url, timeout=30) as c:
        return c.request(method, path, headers=headers, **kw)


def secret(keys: dict[str, tuple[str, str]], name: str) -> str:
    return keys[name][1]


def test_the_whole_round_trip(server: LiveServer, keys, inbox: HandoffStore) -> None:
    user, admin = secret(keys, "user"), secret(keys, "admin")
    item = inbox.open_item(
        question="I want to cancel my contract",
        collection="a",
        owner=keys["user"][0],
        guard="topic",
        reason="topic guard: cancellations go to a person",
        trace_id="f" * 32,
    )
    # the operator's inbox lists it, newest first, without the thread
    listed = call(server, "GET", "/api/handoff", admin).json()
    assert item.id in [i["id"] for i in listed["items"]]
    row = next(i for i in listed["items"] if i["id"] == item.id)
    assert row["status"] == "open" and row["guard"] == "topic" and row["messages"] is None
    # the user polls: nothing new after the two opening messages
    first = call(server, "GET", f"/api/handoff/{item.id}/messages", user).json()
    assert [m["role"] for m in first["messages"]] == ["user", "system"] and first["last"] == 2
    assert call(server, "GET", f"/api/handoff/{item.id}/messages?after=2", user).json() == {
        "id": item.id,
        "status": "open",
        "messages": [],
        "last": 2,
    }
    # the operator replies; the user's next poll brings the reply
    r = call(server, "POST", f"/api/handoff/{item.id}/reply", admin, json={"text": "Sure, done."})
    assert r.status_code == 201 and r.json()["author"] == "ana" and r.json()["seq"] == 3
    polled = call(server, "GET", f"/api/handoff/{item.id}/messages?after=2", user).json()
    assert polled["status"] == "answered" and polled["last"] == 3
    assert [(m["role"], m["text"], m["author"]) for m in polled["messages"]] == [
        ("human", "Sure, done.", "ana")
    ]
    # the user answers back, the item is open again; the operator sees the whole thread
    r = call(server, "POST", f"/api/handoff/{item.id}/messages", user, json={"text": "Thanks!"})
    assert r.status_code == 201 and r.json()["role"] == "user"
    thread = call(server, "GET", f"/api/handoff/{item.id}", admin).json()
    assert thread["status"] == "open" and thread["owner"] == keys["user"][0]
    assert [m["role"] for m in thread["messages"]] == ["user", "system", "human", "user"]
    # the owner reads its own item too
    assert call(server, "GET", f"/api/handoff/{item.id}", user).status_code == 200
    # close, with a resolution; a closed item takes nothing more (409)
    closed = call(
        server, "POST", f"/api/handoff/{item.id}/close", admin, json={"resolution": "resolved"}
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["resolution"] == "resolved"
    late = call(server, "POST", f"/api/handoff/{item.id}/reply", admin, json={"text": "more"})
    assert late.status_code == 409 and "closed" in late.json()["detail"]
    again = call(server, "POST", f"/api/handoff/{item.id}/messages", user, json={"text": "hi"})
    assert again.status_code == 409
    final = call(server, "GET", f"/api/handoff/{item.id}/messages?after=4", user).json()
    assert final["status"] == "closed" and final["messages"][0]["role"] == "system"
    # status filters
    assert item.id not in [
        i["id"] for i in call(server, "GET", "/api/handoff", admin).json()["items"]
    ]
    closed_list = call(server, "GET", "/api/handoff?status=closed", admin).json()["items"]
    assert item.id in [i["id"] for i in closed_list]


def test_another_key_sees_nothing(server: LiveServer, keys, inbox: HandoffStore) -> None:
    item = inbox.open_item(question="private", collection="a", owner=keys["user"][0])
    other, admin_b = secret(keys, "other"), secret(keys, "admin_b")
    for key in (other, admin_b):  # a read key of the same collection; an admin of another
        for method, path, kw in (
            ("GET", f"/api/handoff/{item.id}", {}),
            ("GET", f"/api/handoff/{item.id}/messages", {}),
            ("POST", f"/api/handoff/{item.id}/messages", {"json": {"text": "x"}}),
        ):
            r = call(server, method, path, key, **kw)
            assert r.status_code == 404, (key == other, path)
            assert r.json()["detail"] == f"no handoff item {item.id!r}"
        listed = call(server, "GET", "/api/handoff?status=all", key).json()["items"]
        assert item.id not in [i["id"] for i in listed]
    # the admin of collection b may not reply to or close an item of collection a
    r = call(server, "POST", f"/api/handoff/{item.id}/reply", admin_b, json={"text": "x"})
    assert r.status_code == 404
    assert call(server, "POST", f"/api/handoff/{item.id}/close", admin_b).status_code == 404
    # the user's own listing holds its items only
    mine = call(server, "GET", "/api/handoff?status=all", secret(keys, "user")).json()["items"]
    assert item.id in [i["id"] for i in mine]
    assert {i["owner"] for i in mine} == {keys["user"][0]}
    assert inbox.get_item(item.id).messages[-1].role == "system"  # nothing was added


def test_a_read_key_cannot_reply_or_close(server: LiveServer, keys, inbox: HandoffStore) -> None:
    item = inbox.open_item(question="q", collection="a", owner=keys["user"][0])
    user = secret(keys, "user")
    r = call(server, "POST", f"/api/handoff/{item.id}/reply", user, json={"text": "self-serve"})
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    assert call(server, "POST", f"/api/handoff/{item.id}/close", user).status_code == 403


def test_unknown_ids_and_bad_bodies(server: LiveServer, keys, inbox: HandoffStore) -> None:
    admin, user = secret(keys, "admin"), secret(keys, "user")
    for method, path, kw in (
        ("GET", "/api/handoff/hdeadbeef00", {}),
        ("POST", "/api/handoff/hdeadbeef00/reply", {"json": {"text": "x"}}),
        ("POST", "/api/handoff/hdeadbeef00/close", {}),
    ):
        r = call(server, method, path, admin, **kw)
        assert r.status_code == 404 and "ragline handoff list" in r.json()["hint"]
    item = inbox.open_item(question="q", collection="a", owner=keys["user"][0])
    for text in ("", "   \n"):
        r = call(server, "POST", f"/api/handoff/{item.id}/reply", admin, json={"text": text})
        assert r.status_code == 422 and "text" in r.json()["detail"]
        r = call(server, "POST", f"/api/handoff/{item.id}/messages", user, json={"text": text})
        assert r.status_code == 422
    assert call(server, "GET", "/api/handoff?status=pending", admin).status_code == 422
    assert call(server, "GET", f"/api/handoff/{item.id}/messages?after=-1", user).status_code == 422
    assert call(server, "GET", "/api/handoff").status_code == 401
    got = inbox.get_item(item.id)
    assert got is not None and len(got.messages) == 2


def test_the_server_claims_an_item_for_the_asking_key(home: Path, inbox: HandoffStore) -> None:
    """``answer_events`` gives the item an answer opened to the key that asked."""
    item = inbox.open_item(question="q", collection="a")
    rag = SimpleNamespace(handoffs=inbox)
    done = SimpleNamespace(answer=SimpleNamespace(handoff_id=item.id))
    claim_handoff(rag, SimpleNamespace(answer=SimpleNamespace(handoff_id=None)), "k1")
    claim_handoff(rag, done, None)  # an open server: no owner
    assert inbox.get_item(item.id).owner is None
    claim_handoff(rag, done, "k1")
    claim_handoff(rag, done, "k2")  # never taken over
    assert inbox.get_item(item.id).owner == "k1"


def test_answer_events_claim_the_item_for_the_asking_key(tmp_path: Path, monkeypatch) -> None:
    """The request's ``owner`` reaches the claim when a ``done`` event carries a
    ``handoff_id``. The stream is scripted: until the guard flow sets ``Answer.handoff_id``,
    this is the wiring between the server and the store."""
    from ragline.answer.events import AnswerDone
    from ragline.api import Ragline
    from ragline.server.answering import AnswerRequest, answer_events

    with Ragline(server_settings(tmp_path, trace={"enabled": False})) as rag:
        item = rag.handoffs.open_item(question="q", collection="a")
        done = AnswerDone(SimpleNamespace(text="handed over", declined=True, handoff_id=item.id))

        def stream(*args, **kwargs):
            yield done

        monkeypatch.setattr(rag, "ask_stream", stream)
        events = list(answer_events(rag, AnswerRequest("q", "a", owner="k9")))
        assert events == [done]
        assert rag.handoffs.get_item(item.id).owner == "k9"
