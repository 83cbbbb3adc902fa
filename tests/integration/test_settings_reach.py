"""A user's config file reaches every entry point: the CLI, the Python API and the server.

``$RAGLINE_HOME/config.toml`` sets non-default values (a store URL elsewhere, a search mode
and k, an embedder provider); each entry point must use them, not defaults rebuilt deep inside
(the bug: a section rebuilt from ``XSettings()`` silently ignored the user's file).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ragline.api import Ragline
from ragline.cli.main import app as cli
from ragline.config import load_settings
from ragline.errors import ConfigError

pytestmark = pytest.mark.integration

PLANETS = {
    "mercury.txt": "Mercury is the smallest planet and the closest planet to the Sun.",
    "venus.txt": "Venus is the hottest planet, wrapped in thick clouds of sulfuric acid.",
    "earth.txt": "Earth is the only planet known to carry life, with liquid water.",
    "mars.txt": "Mars is a cold desert planet with the tallest volcano, Olympus Mons.",
    "jupiter.txt": "Jupiter is the largest planet, a gas giant with a great red storm.",
}


@pytest.fixture
def configured(ragline_home: Path, tmp_path: Path) -> Iterator[Path]:
    """A config file with non-default store URL, mode and k; a collection ingested."""
    db = tmp_path / "custom" / "where.db"
    ragline_home.mkdir(parents=True, exist_ok=True)
    (ragline_home / "config.toml").write_text(
        f'[store]\nurl = "sqlite:///{db}"\n\n[retrieval]\ndefault_k = 2\ndefault_mode = "bm25"\n'
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in PLANETS.items():
        (docs / name).write_text(text)
    with Ragline() as rag:
        assert rag.ingest([docs], collection="planets").added == len(PLANETS)
    yield db


def _assert_bm25_two(hits: list[dict]) -> None:
    assert len(hits) == 2, hits
    assert all(set(h["scores"]) == {"bm25"} for h in hits), hits


def test_the_store_url_is_used_not_the_default_file(configured: Path, ragline_home: Path):
    assert configured.is_file()
    assert not (ragline_home / "ragline.db").exists()


def test_api_uses_the_config_file(configured: Path):
    with Ragline() as rag:
        hits = rag.search("planet", collection="planets")
        assert rag.settings.store_url == f"sqlite:///{configured}"
        # the retriever itself (what the answer flow and eval runs call) fills them too
        direct = rag.retriever.search("planet", collection="planets")
    _assert_bm25_two([h.to_dict() for h in hits])
    _assert_bm25_two([h.to_dict() for h in direct])


def test_cli_uses_the_config_file(configured: Path):
    runner = CliRunner()
    found = runner.invoke(cli, ["search", "planet", "-c", "planets", "--json"])
    assert found.exit_code == 0, found.output
    _assert_bm25_two(json.loads(found.stdout))
    stats = runner.invoke(cli, ["stats", "-c", "planets", "--json"])
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.stdout)["database"] == f"sqlite:///{configured}"
    made = runner.invoke(cli, ["keys", "create", "--name", "ci", "--json"])
    assert made.exit_code == 0, made.output
    from ragline.store.sqlite_keys import SQLiteKeyStore  # the file itself, not the factory

    store = SQLiteKeyStore(configured)
    try:
        assert [k.name for k in store.list_keys()] == ["ci"]
    finally:
        store.close()


def test_server_uses_the_config_file(configured: Path):
    from ragline.server import create_app

    with TestClient(create_app()) as client:
        r = client.post("/api/collections/planets/search", json={"query": "planet"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["k"], body["mode"]) == (2, "bm25")
        _assert_bm25_two(body["hits"])
        # an explicit value still wins over the file
        r = client.post("/api/collections/planets/search", json={"query": "planet", "k": 3})
        assert len(r.json()["hits"]) == 3


def test_server_reads_keys_from_the_configured_store(configured: Path):
    from ragline.server import create_app

    made = CliRunner().invoke(cli, ["keys", "create", "--name", "ci", "--json"])
    secret = json.loads(made.stdout)["key"]
    with TestClient(create_app()) as client:
        r = client.post("/api/collections/planets/search", json={"query": "planet"})
        assert r.status_code == 401, r.text
        auth = {"Authorization": f"Bearer {secret}"}
        r = client.post("/api/collections/planets/search", json={"query": "planet"}, headers=auth)
        assert r.status_code == 200, r.text


def test_batch_search_default_comes_from_settings(configured: Path, ragline_home: Path):
    with (ragline_home / "config.toml").open("a") as f:
        f.write("batch_k = 3\n")  # still under [retrieval]
    queries = configured.parent / "q.jsonl"
    queries.write_text('{"_id": "q1", "text": "planet"}\n')
    out = configured.parent / "run.jsonl"
    r = CliRunner().invoke(
        cli, ["search", "-c", "planets", "--queries", str(queries), "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert len(json.loads(out.read_text())["results"]) == 3


def test_eval_scorers_use_the_run_settings_embedder(ragline_home: Path):
    """The semantic and RAG metrics embed with the run's embedder settings, not defaults."""
    from ragline.evaluate.scoring import AnswerScorer, ItemView, RagScorer
    from ragline.evaluate.spec import AnswerMetric, RagMetric

    ragline_home.mkdir(parents=True, exist_ok=True)
    (ragline_home / "config.toml").write_text('[embedder]\nprovider = "no-such-embedder"\n')
    settings = load_settings()
    view = ItemView(
        item=_item({"q": "what is hot?", "ref": "Venus is hot."}),
        question="what is hot?",
        output="Venus is hot.",
        retrieved=(),
    )
    metric = AnswerMetric(type="answer", measures=("semantic_similarity",), reference_field="ref")
    with pytest.raises(ConfigError, match="no-such-embedder"):
        AnswerScorer(metric, settings).score(view)
    rag = RagScorer(RagMetric(type="rag", measures=("answer_relevance",)), settings)
    with pytest.raises(ConfigError, match="no-such-embedder"):
        rag.score(view)


def _item(data: dict) -> object:
    from ragline.evaluate.spec import EvalItem

    return EvalItem(id="1", ordinal=0, data=data)


def test_eval_specs_take_search_defaults_from_settings(configured: Path, tmp_path: Path):
    """A spec that leaves ``mode`` / ``k`` open runs (and records) the configured ones."""
    from ragline.evaluate.runner import EvalRunner
    from ragline.evaluate.spec import parse_spec
    from ragline.store.factory import open_evals

    data = tmp_path / "qs.jsonl"
    data.write_text('{"id": "1", "question": "hottest planet", "relevant": ["venus.txt"]}\n')
    spec = parse_spec(
        {
            "name": "defaults",
            "dataset": data.name,
            "system": {"name": "search", "retrieval": {"collection": "planets"}},
            "metrics": [{"type": "retrieval", "measures": ["recall@2"]}],
        },
        tmp_path,
    )
    assert (spec.system.retrieval.mode, spec.system.retrieval.k) == (None, None)
    settings = load_settings()
    store = open_evals(settings)
    try:
        runner = EvalRunner(settings, store)
        resolved = runner.resolve_spec(spec).system.retrieval
        assert (resolved.mode, resolved.k) == ("bm25", 2)
        outcome = runner.run(spec)
        assert outcome.run.config["system"]["retrieval"]["k"] == 2
        items = store.get_items(outcome.run.run_id)
        assert len(items[0].retrieved) == 2
        runner.close()
    finally:
        store.close()
