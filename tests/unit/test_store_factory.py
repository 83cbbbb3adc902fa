"""Stores come from one factory keyed by ``store.url``; the edges never name a backend class."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ragline.config import load_settings
from ragline.errors import ConfigError
from ragline.store.factory import (
    backend,
    open_documents,
    open_evals,
    open_keys,
    open_traces,
    scheme_of,
)
from ragline.store.sqlite_stores import path_of

SRC = Path(__file__).resolve().parents[2] / "src" / "ragline"
EDGES = [
    *sorted((SRC / "cli").glob("*.py")),
    *sorted((SRC / "server").rglob("*.py")),
    SRC / "api.py",
]


def _backend_names(path: Path) -> list[str]:
    """Every ``SQLite…`` name and every ``ragline.store.sqlite…`` module a file refers to."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name) and node.id.startswith("SQLite"):
            found.append(node.id)
        elif isinstance(node, ast.Attribute) and node.attr.startswith("SQLite"):
            found.append(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("ragline.store.sqlite"):
                found.append(node.module)
            found += [a.name for a in node.names if a.name.startswith("SQLite")]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("ragline.store.sqlite")]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("SQLite")
            and node.value.isidentifier()
        ):  # string annotations ("SQLiteKeyStore") count too
            found.append(node.value)
    return found


def test_the_scan_sees_a_backend_class(tmp_path: Path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from ragline.store.sqlite_keys import SQLiteKeyStore\n"
        "def f(s) -> 'SQLiteEvalStore':\n    return SQLiteKeyStore(s.database_path)\n"
    )
    assert set(_backend_names(bad)) == {
        "ragline.store.sqlite_keys",
        "SQLiteKeyStore",
        "SQLiteEvalStore",
    }


@pytest.mark.parametrize("path", EDGES, ids=lambda p: str(p.relative_to(SRC)))
def test_edges_get_stores_from_the_factory(path: Path):
    assert len(EDGES) > 10
    assert _backend_names(path) == [], (
        f"{path.relative_to(SRC)} names a store backend: open stores with "
        "ragline.store.factory (open_documents/open_traces/open_evals/open_keys)"
    )


def test_default_url_is_the_sqlite_file_under_home(ragline_home: Path):
    settings = load_settings()
    assert settings.store_url == f"sqlite:///{ragline_home / 'ragline.db'}"
    assert path_of(settings.store_url) == ragline_home / "ragline.db"
    assert path_of("sqlite:///rel/x.db") == Path("rel/x.db")


def test_every_store_opens_at_the_configured_url(tmp_path: Path, monkeypatch, ragline_home):
    target = tmp_path / "elsewhere" / "store.db"
    monkeypatch.setenv("RAGLINE_STORE__URL", f"sqlite:///{target}")
    settings = load_settings()
    assert settings.store.url == f"sqlite:///{target}"
    opened = [open_documents(settings), open_traces(settings), open_evals(settings)]
    keys = open_keys(settings)
    try:
        made = keys.create_key("ci", "read", [])
        assert [k.id for k in keys.list_keys()] == [made.key.id]
    finally:
        for store in [*opened, keys]:
            store.close()
    assert target.is_file()
    assert not (ragline_home / "ragline.db").exists()


def test_unknown_scheme_names_known_schemes_and_the_setting(monkeypatch):
    monkeypatch.setenv("RAGLINE_STORE__URL", "mysql://db/ragline")
    with pytest.raises(ConfigError) as err:
        backend(load_settings())
    text = f"{err.value.message} {err.value.hint}"
    assert "'mysql'" in text and "sqlite" in text
    assert "store.url" in text and "RAGLINE_STORE__URL" in text


@pytest.mark.parametrize("url", ["ragline.db", "://x", "sqlite://", "sqlite:///"])
def test_malformed_urls_are_config_errors(url: str):
    with pytest.raises(ConfigError, match=r"store\.url"):
        path_of(url) if url.startswith("sqlite") else scheme_of(url)


def test_scheme_ignores_a_driver_suffix():
    assert scheme_of("postgresql+psycopg://u@h/db") == "postgresql"
    assert scheme_of("SQLite:///x.db") == "sqlite"
