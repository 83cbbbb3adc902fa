"""``/api/review`` over a real server: admins list review files, page through pairs and decide;
unknown ids come back per id while the rest is applied; names that leave the review folder,
keys that may not review and a server without ``server.review_dir`` are refused with a
problem that says what to do; two browsers deciding at once lose nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from ragline.models.gateway import Gateway
from ragline.server import create_app
from ragline.store.factory import open_keys
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.live_server import LiveServer, running_server, server_settings
from ragline.testing.review_conformance import read_lines, review_item, write_review_file

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("review-home")


@pytest.fixture(scope="module")
def folder(home: Path) -> Path:
    return home / "review"


@pytest.fixture(scope="module")
def keys(home: Path) -> dict[str, str]:
    store = open_keys(server_settings(home, trace={"enabled": False}))
    try:
        made = {
            "admin": store.create_key("ana", "admin"),
            "admin_b": store.create_key("bea", "admin", ["b"]),
            "reader": store.create_key("rui", "read"),
        }
    finally:
        store.close()
    return {name: m.secret for name, m in made.items()}


@pytest.fixture(scope="module")
def server(home: Path, folder: Path, keys: dict[str, str]) -> Iterator[LiveServer]:
    folder.mkdir()
    settings = server_settings(home, trace={"enabled": False}, server={"review_dir": folder})
    gateway = Gateway(settings, models={"embedded": FakeChatModel(["Hot [1]."])})
    with running_server(settings, gateway=gateway) as live:
        yield live


def call(server: LiveServer, method: str, path: str, key: str | None, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=server.url, timeout=30) as c:
        return c.request(method, path, headers=headers, **kw)


def page_version(server: LiveServer, key: str) -> str:
    return call(server, "GET", "/api/review/round.jsonl", key).json()["version"]


def test_list_page_and_decide(server: LiveServer, folder: Path, keys) -> None:
    admin = keys["admin"]
    path = write_review_file(
        folder / "round.jsonl", [review_item(i) for i in range(1, 5)], bad={2: "oops {"}
    )
    files = {f["name"]: f for f in call(server, "GET", "/api/review", admin).json()["files"]}
    assert files["round.jsonl"] == {
        "name": "round.jsonl",
        "items": 4,
        "pending": 4,
        "accepted": 0,
        "rejected": 0,
        "bad_lines": 1,
        "error": None,
    }
    r = call(server, "GET", "/api/review/round.jsonl?limit=2&offset=1", admin)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [i["id"] for i in page["items"]] == ["syn-2", "syn-3"] and page["total"] == 4
    assert page["bad_lines"] == [{"line": 3, "reason": "not JSON: Expecting value (column 1)"}]
    assert page["items"][0]["highlight"] is not None and page["status"] == "pending"

    r = call(
        server,
        "POST",
        "/api/review/round.jsonl/decisions",
        admin,
        json={"accept": ["syn-1", "syn-404"], "reject": ["syn-2"], "note": "spot check"},
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert [(a["id"], a["review"]) for a in out["applied"]] == [
        ("syn-1", "accepted"),
        ("syn-2", "rejected"),
    ]
    assert out["errors"] == [{"id": "syn-404", "error": "no item with this id in the file"}]
    assert out["counts"] == {"pending": 2, "accepted": 1, "rejected": 1} and out["written"]
    lines = read_lines(path)
    assert [json.loads(lines[i])["review"] for i in (0, 1, 3, 4)] == [
        "accepted",
        "rejected",
        None,
        None,
    ]
    assert lines[2] == "oops {"
    card = json.loads((folder / "round.card.json").read_text())
    (step,) = card["steps"]
    assert step["params"]["note"] == "spot check" and step["params"]["by"].startswith("ana (key")
    assert card["outputs"][0]["sha256"] == out["version"] == page_version(server, admin)

    accepted = call(server, "GET", "/api/review/round.jsonl?status=accepted", admin).json()
    assert [i["id"] for i in accepted["items"]] == ["syn-1"]


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("..", 404),
        ("%2e%2e", 404),
        ("..%2Foutside.jsonl", 404),
        ("%2Fetc%2Fpasswd", 404),
        (".hidden.jsonl", 404),
        ("missing.jsonl", 404),
        ("escape.jsonl", 403),
    ],
)
def test_names_outside_the_folder_are_refused(
    server: LiveServer, folder: Path, keys, name: str, status: int
) -> None:
    outside = write_review_file(folder.parent / "outside.jsonl", [review_item(1)])
    before = outside.read_bytes()
    if not (folder / "escape.jsonl").is_symlink():
        os.symlink(outside, folder / "escape.jsonl")
    (folder / ".hidden.jsonl").write_text(json.dumps(review_item(1)) + "\n")
    r = call(server, "GET", f"/api/review/{name}", keys["admin"])
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    d = call(
        server,
        "POST",
        f"/api/review/{name}/decisions",
        keys["admin"],
        json={"accept": ["syn-1"]},
    )
    assert d.status_code in (status, 405), d.text  # a path with a slash matches no route
    assert outside.read_bytes() == before
    if status == 403:
        assert "outside the review folder" in r.json()["detail"]


def test_only_admins_for_every_collection_review(server: LiveServer, folder: Path, keys) -> None:
    write_review_file(folder / "auth.jsonl", [review_item(1)])
    assert call(server, "GET", "/api/review", None).status_code == 401
    assert call(server, "GET", "/api/review", keys["reader"]).status_code == 403
    r = call(server, "GET", "/api/review", keys["admin_b"])
    assert r.status_code == 403 and "admin key for every collection" in r.json()["hint"]
    r = call(
        server, "POST", "/api/review/auth.jsonl/decisions", keys["reader"], json={"accept": ["x"]}
    )
    assert r.status_code == 403
    assert json.loads(read_lines(folder / "auth.jsonl")[0])["review"] is None


def test_bad_bodies_are_refused(server: LiveServer, folder: Path, keys) -> None:
    write_review_file(folder / "body.jsonl", [review_item(1)])
    url = "/api/review/body.jsonl/decisions"
    r = call(server, "POST", url, keys["admin"], json={"accept": "syn-1"})
    assert r.status_code == 422
    r = call(server, "POST", url, keys["admin"], json={"approve": ["syn-1"]})
    assert r.status_code == 422 and "approve" in r.json()["detail"]
    (folder / "corrupt.jsonl").write_text("nope\n")
    r = call(server, "GET", "/api/review/corrupt.jsonl", keys["admin"])
    assert r.status_code == 422 and "no valid record" in r.json()["detail"]


def test_two_browsers_deciding_at_once_lose_nothing(server: LiveServer, folder: Path, keys):
    n = 20
    path = write_review_file(folder / "race.jsonl", [review_item(i) for i in range(n)])

    def browser(parity: int) -> list[int]:
        codes = []
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for i in range(parity, n, 2):
                body = {"accept": [f"syn-{i}"]} if parity else {"reject": [f"syn-{i}"]}
                r = c.post(
                    "/api/review/race.jsonl/decisions",
                    json=body,
                    headers={"Authorization": f"Bearer {keys['admin']}"},
                )
                codes.append(r.status_code)
        return codes

    with ThreadPoolExecutor(2) as pool:
        codes = [c for cs in pool.map(browser, (0, 1)) for c in cs]
    assert codes == [200] * n
    final = [json.loads(line)["review"] for line in read_lines(path)]
    assert final == ["accepted" if i % 2 else "rejected" for i in range(n)]


def test_without_a_review_dir_the_routes_say_how_to_turn_it_on(server: LiveServer, home: Path):
    ctx = server.context
    open_settings = server_settings(home / "open", trace={"enabled": False})
    app = create_app(open_settings, rag=ctx.rag, gateway=ctx.gateway, host="127.0.0.1")
    with TestClient(app) as client:
        r = client.get("/api/review")
        assert r.status_code == 404
        body = r.json()
        assert "server.review_dir is not set" in body["detail"]
        assert "RAGLINE_SERVER__REVIEW_DIR" in body["hint"] and "ragline data synth" in body["hint"]
    # set, but the app was built without the review files (create_app called directly)
    wired_settings = server_settings(
        home / "open", trace={"enabled": False}, server={"review_dir": home / "review"}
    )
    app = create_app(wired_settings, rag=ctx.rag, gateway=ctx.gateway, host="127.0.0.1")
    with TestClient(app) as client:
        r = client.post("/api/review/a.jsonl/decisions", json={"accept": ["x"]})
        assert r.status_code == 404 and "built without review files" in r.json()["detail"]
        assert "create_app(review=ReviewFolder" in r.json()["hint"]
