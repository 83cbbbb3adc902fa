"""The plugin registry: built-ins register through entry points like any plugin; unknown
names and broken plugins give clear errors, and a broken plugin breaks nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragline import plugins
from ragline.config import EmbedderSettings, load_settings
from ragline.errors import ConfigError, PluginError

BUILT_INS = {
    "chat_models": {"embedded", "smollm2", "llamacpp", "openai"},
    "embedders": {"onnx-minilm"},
    "rerankers": {"none"},
    "stores": {"sqlite", "postgresql", "postgres"},
    "guards": {"pii", "injection", "topic", "toxicity", "leak"},
}


@pytest.mark.parametrize("group", sorted(BUILT_INS))
def test_built_ins_register_through_ragline_entry_points(group: str):
    mine = {p.name for p in plugins.available(group) if p.distribution == "ragline"}
    assert mine == BUILT_INS[group], (
        "ragline's own entry points are missing or stale: reinstall it (pip install -e .)"
    )


def test_groups_cover_the_pluggable_parts_and_reserve_the_next():
    assert set(plugins.GROUPS) == {
        "chat_models",
        "embedders",
        "rerankers",
        "stores",
        "guards",
        "tools",
    }
    assert set(plugins.FUTURE_GROUPS.values()) == {"ragline.cache_backends"}


def test_built_ins_load_as_their_factories():
    from ragline.models.embedder import OnnxMiniLMEmbedder
    from ragline.retrieve.rerank import NoopReranker, create_reranker
    from ragline.store.sqlite_stores import SQLiteStores

    assert plugins.load("embedders", "onnx-minilm") is OnnxMiniLMEmbedder
    assert plugins.load("stores", "sqlite") is SQLiteStores
    assert isinstance(create_reranker(load_settings()), NoopReranker)


def test_unknown_embedder_lists_registered(monkeypatch):
    from ragline.models.embedder import get_embedder

    with pytest.raises(ConfigError) as err:
        get_embedder(EmbedderSettings(provider="no-such-embedder"))
    assert "onnx-minilm" in err.value.message and "embedder.provider" in err.value.hint


def test_unknown_reranker_lists_registered(monkeypatch):
    from ragline.retrieve.rerank import create_reranker

    monkeypatch.setenv("RAGLINE_RETRIEVAL__RERANKER", "no-such-reranker")
    with pytest.raises(ConfigError) as err:
        create_reranker(load_settings())
    assert "'none'" in err.value.message or "none" in err.value.message
    assert "retrieval.reranker" in err.value.hint


def test_unknown_model_lists_providers_and_endpoints():
    from ragline.models.gateway import Gateway

    settings = load_settings(
        gateway={"endpoints": {"vllm": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}}}
    )
    with pytest.raises(ConfigError, match="unknown model") as err:
        Gateway(settings).resolve("nope:x")
    for name in ("embedded", "llamacpp", "openai", "vllm"):
        assert name in err.value.hint


# --------------------------------------------------------------------------- a broken plugin


def _broken_dist(root: Path) -> Path:
    """A distribution on ``root`` whose reranker entry point cannot be imported."""
    info = root / "ragline_broken_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ragline-broken-plugin\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        "[ragline.rerankers]\nbroken = ragline_broken_plugin_missing:Reranker\n"
    )
    return root


@pytest.fixture
def broken_on_path(tmp_path: Path, monkeypatch):
    root = _broken_dist(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    plugins.refresh()
    yield root
    monkeypatch.undo()
    plugins.refresh()


def test_broken_plugin_is_reported_by_name_and_package(broken_on_path: Path):
    listed = {p.name: p for p in plugins.available("rerankers")}
    assert listed["broken"].distribution == "ragline-broken-plugin"
    with pytest.raises(PluginError) as err:
        plugins.load("rerankers", "broken")
    assert "ragline-broken-plugin" in err.value.message
    assert "ModuleNotFoundError" in err.value.message
    assert "ragline-broken-plugin" in (err.value.hint or "")
    assert isinstance(err.value, ConfigError)  # exit code 2, HTTP 400
    # the other rerankers still load
    assert plugins.load("rerankers", "none").__name__ == "NoopReranker"


def _cli(args: list[str], root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    pythonpath = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "ragline.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": pythonpath, **env},
    )


def test_a_broken_plugin_does_not_crash_unrelated_commands(broken_on_path: Path, tmp_path: Path):
    ok = _cli(["plugins", "--json", "--check"], broken_on_path)
    assert ok.returncode == 0, ok.stderr
    rows = {(r["group"], r["name"]): r for r in json.loads(ok.stdout)}
    assert rows[("rerankers", "broken")]["status"].startswith("error:")
    assert rows[("rerankers", "none")]["status"] == "ok"
    assert rows[("stores", "sqlite")]["distribution"] == "ragline"
    doc = tmp_path / "venus.txt"
    doc.write_text("Venus is the hottest planet of the solar system.")
    ingested = _cli(["ingest", str(doc), "-c", "c"], broken_on_path)
    assert ingested.returncode == 0, ingested.stderr
    found = _cli(["search", "venus", "-c", "c", "--mode", "bm25", "--json"], broken_on_path)
    assert found.returncode == 0, found.stderr
    assert "hottest" in json.loads(found.stdout)[0]["text"]
    used = _cli(
        ["search", "venus", "-c", "c", "--mode", "bm25"],
        broken_on_path,
        RAGLINE_RETRIEVAL__RERANKER="broken",
    )
    assert used.returncode == 2
    assert "ragline-broken-plugin" in used.stderr and "failed to load" in used.stderr
