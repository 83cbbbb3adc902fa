"""Access control on a real server: no key → 401, a collection outside the key → 403,
a role too small → 403, revoked keys stop working; and the loopback rule without keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ragline.api import Ragline
from ragline.cli.main import app as cli
from ragline.models.gateway import Gateway
from ragline.store.sqlite_keys import SQLiteKeyStore
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.live_server import LiveServer, running_server, server_settings, write_corpus

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("auth-home")


@pytest.fixture(scope="module")
def keys(home: Path) -> dict[str, str]:
    settings = server_settings(home, trace={"enabled": False})
    with Ragline(settings) as rag:
        corpus = write_corpus(home / "corpus")
        rag.ingest([corpus], collection="a")
        rag.ingest([corpus / "venus.md"], collection="b")
    store = SQLiteKeyStore(settings.database_path)
    made = {
        "read_a": store.create_key("reader", "read", ["a"]).secret,
        "ingest_a": store.create_key("loader", "ingest", ["a"]).secret,
        "admin": store.create_key("root", "admin").secret,
        "revoked": store.create_key("old", "read").secret,
    }
    store.revoke_key(made["revoked"])
    store.close()
    return made


@pytest.fixture(scope="module")
def server(home: Path, keys: dict[str, str]) -> Iterator[LiveServer]:
    settings = server_settings(home, trace={"enabled": False})
    gateway = Gateway(settings, models={"embedded": FakeChatModel(["Hot [1]."])})
    with running_server(settings, gateway=gateway) as live:
        yield live


def call(server: LiveServer, method: str, path: str, key: str | None = None, **kw):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=server.url, timeout=30) as c:
        return c.request(method, path, headers=headers, **kw)


SEARCH = {"json": {"query": "hottest planet"}}


def test_no_key_is_401_with_a_hint(server: LiveServer) -> None:
    r = call(server, "POST", "/api/collections/a/search", **SEARCH)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert "ragline keys create" in r.json()["hint"]
    assert call(server, "GET", "/v1/models").status_code == 401
    assert call(server, "GET", "/healthz").status_code == 200  # liveness needs no key


def test_wrong_and_revoked_keys_are_401(server: LiveServer, keys: dict[str, str]) -> None:
    for bad in ("rl_00000000_" + "x" * 43, "garbage", keys["revoked"]):
        r = call(server, "POST", "/api/collections/a/search", bad, **SEARCH)
        assert r.status_code == 401, bad


def test_collection_outside_the_key_is_403(server: LiveServer, keys: dict[str, str]) -> None:
    ok = call(server, "POST", "/api/collections/a/search", keys["read_a"], **SEARCH)
    assert ok.status_code == 200 and ok.json()["hits"]
    r = call(server, "POST", "/api/collections/b/search", keys["read_a"], **SEARCH)
    assert r.status_code == 403 and "may not use collection 'b'" in r.json()["detail"]
    r = call(server, "POST", "/api/collections/b/ask", keys["read_a"], json={"question": "x"})
    assert r.status_code == 403
    r = call(
        server,
        "POST",
        "/v1/chat/completions",
        keys["read_a"],
        json={"model": "ragline:b", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    listed = call(server, "GET", "/api/collections", keys["read_a"]).json()
    assert [c["name"] for c in listed] == ["a"]
    models = [m["id"] for m in call(server, "GET", "/v1/models", keys["read_a"]).json()["data"]]
    assert "ragline:a" in models and "ragline:b" not in models


def test_roles(server: LiveServer, keys: dict[str, str]) -> None:
    doc = {"json": {"documents": [{"id": "n1", "text": "Mars is red."}]}}
    r = call(server, "POST", "/api/collections/a/documents", keys["read_a"], **doc)
    assert r.status_code == 403 and "'ingest'" in r.json()["detail"]
    r = call(server, "POST", "/api/collections/a/documents", keys["ingest_a"], **doc)
    assert r.status_code == 200 and r.json()["added"] == 1
    r = call(server, "DELETE", "/api/collections/a", keys["ingest_a"])
    assert r.status_code == 403
    r = call(server, "POST", "/api/collections", keys["ingest_a"], json={"name": "c"})
    assert r.status_code == 403  # ingest, but not into a collection outside the key
    r = call(server, "POST", "/api/collections", keys["admin"], json={"name": "c"})
    assert r.status_code == 201
    assert call(server, "DELETE", "/api/collections/c", keys["admin"]).status_code == 204
    me = call(server, "GET", "/api/me", keys["read_a"]).json()
    assert me == {"auth": True, "key_id": me["key_id"], "role": "read", "collections": ["a"]}
    x_api_key = httpx.get(
        server.url + "/api/me", headers={"X-API-Key": keys["admin"]}, timeout=10
    ).json()
    assert x_api_key["role"] == "admin"


def test_keys_cli_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGLINE_HOME", str(tmp_path / "cli-home"))
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "--name", "bot", "-r", "ingest", "-c", "x"])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[0]
    assert secret.startswith("rl_")
    listed = runner.invoke(cli, ["keys", "list", "--json"])
    assert '"role": "ingest"' in listed.stdout and secret not in listed.stdout
    key_id = secret.split("_")[1]
    assert runner.invoke(cli, ["keys", "revoke", key_id]).exit_code == 0
    # a revoked key still closes the home: the list says so, and why
    assert "closed: no active key (1 revoked" in runner.invoke(cli, ["keys", "list"]).stdout
    bad = runner.invoke(cli, ["keys", "create", "--name", "x", "--role", "owner"])
    assert bad.exit_code != 0
