"""The example plugin (examples/ragline-plugin-example) is found through entry points and
works through the normal settings: a reranker by ``retrieval.reranker`` and a chat model by
its ``example:`` prefix, in the API, the CLI and the server.

It must be installed (``scripts/install.sh --dev`` does it): a missing plugin fails here."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ragline import plugins
from ragline.api import Ragline
from ragline.cli.main import app as cli
from ragline.config import load_settings

pytestmark = pytest.mark.integration

DOCS = {
    # BM25 ranks the long one first (the word "comet" four times), the reranker last.
    "long.txt": "Comet comet comet comet: a long note about comets, their tails of dust and "
    "gas, their orbits around the Sun and the famous ones seen from Earth over centuries.",
    "mid.txt": "A comet has a nucleus of ice and dust, and a tail that points away.",
    "short.txt": "Comet seen.",
}


def test_the_example_plugin_is_installed():
    try:
        dist = distribution("ragline-plugin-example")
    except PackageNotFoundError:  # not a skip: CI installs it with scripts/install.sh --dev
        pytest.fail(
            "ragline-plugin-example is not installed: "
            "pip install --no-deps -e examples/ragline-plugin-example"
        )
    names = {(ep.group, ep.name) for ep in dist.entry_points}
    assert ("ragline.rerankers", "example-shortest") in names
    assert ("ragline.chat_models", "example") in names
    listed = {p.name: p.distribution for p in plugins.available("rerankers")}
    assert listed["example-shortest"] == "ragline-plugin-example"


@pytest.fixture
def collection(tmp_path: Path) -> str:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text)
    with Ragline() as rag:
        rag.ingest([docs], collection="comets")
    return "comets"


def _sources(hits: list) -> list[str]:
    return [Path(h.chunk.source).name for h in hits]


def test_reranker_plugin_changes_the_search_order(collection: str, ragline_home: Path):
    with Ragline() as rag:
        plain = _sources(rag.search("comet", collection=collection, mode="bm25"))
    assert plain[0] == "long.txt"
    (ragline_home / "config.toml").write_text('[retrieval]\nreranker = "example-shortest"\n')
    with Ragline() as rag:
        assert rag.settings.retrieval.reranker == "example-shortest"
        reranked = rag.search("comet", collection=collection, mode="bm25")
    assert _sources(reranked) == ["short.txt", "mid.txt", "long.txt"]
    assert [h.rank for h in reranked] == [1, 2, 3]
    found = CliRunner().invoke(cli, ["search", "comet", "-c", collection, "-m", "bm25", "--json"])
    assert found.exit_code == 0, found.output
    assert [Path(h["source"]).name for h in json.loads(found.stdout)] == [
        "short.txt",
        "mid.txt",
        "long.txt",
    ]


def test_chat_model_plugin_answers_through_the_gateway():
    with Ragline() as rag:
        result = rag.gateway.generate("hello plugin world", model="example:upper")
        assert (result.text, result.model) == ("HELLO PLUGIN WORLD", "example:upper")
        streamed = "".join(
            e.text
            for e in rag.gateway.stream("a b c", model="example:reverse")
            if hasattr(e, "text")
        )
        assert streamed == "c b a"


def test_chat_model_plugin_is_a_default_model_for_the_server(ragline_home: Path):
    ragline_home.mkdir(parents=True, exist_ok=True)
    (ragline_home / "config.toml").write_text('[gateway]\ndefault_model = "example:reverse"\n')
    assert load_settings().gateway.default_model == "example:reverse"
    from ragline.server import create_app

    with TestClient(create_app()) as client:
        models = [m["id"] for m in client.get("/v1/models").json()["data"]]
        assert models[0] == "example:reverse"
        r = client.post(
            "/v1/chat/completions",
            json={"model": "example:upper", "messages": [{"role": "user", "content": "hi there"}]},
        )
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "HI THERE"
        r = client.post(
            "/v1/chat/completions",
            json={"model": "example:nope", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r.status_code == 400, r.text
        assert "example:upper" in r.text
