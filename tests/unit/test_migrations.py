"""Schema migrations: numbered without gaps, and every path to today's schema ends equal.

A database made by the previous release (0.1.0, whose migration list is kept verbatim in
``tests/data/migrations_0_1_0.py``; it skipped 0003) must reach the same schema as a fresh
one, keep its rows, and not apply a renamed migration a second time.
"""

from __future__ import annotations

import re
import runpy
import sqlite3
from pathlib import Path

import pytest

from ragline.errors import MigrationError
from ragline.store.migrations import MIGRATIONS, RENAMED
from ragline.store.sqlite import SQLiteStore

PREVIOUS = Path(__file__).resolve().parents[1] / "data" / "migrations_0_1_0.py"


def test_migrations_are_numbered_without_gaps_or_duplicates():
    names = [name for name, _ in MIGRATIONS]
    assert all(re.fullmatch(r"\d{4}_[a-z0-9_]+", n) for n in names), names
    numbers = [int(n[:4]) for n in names]
    assert numbers == list(range(1, len(names) + 1))


def test_renames_point_at_current_migrations_and_never_reuse_an_old_name():
    names = {name for name, _ in MIGRATIONS}
    assert set(RENAMED.values()) <= names
    assert not set(RENAMED) & names


def _schema(path: Path) -> list[tuple[str, str, str]]:
    """Tables and indexes with their SQL, whitespace normalised (the migrations table's
    rows excluded: only its shape counts)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
        ).fetchall()
    return [(t, n, " ".join(sql.split())) for t, n, sql in rows]


def _previous_release_db(path: Path, upto: int | None = None) -> None:
    """A database as release 0.1.0's runner left it, with a row in each of its tables."""
    old = runpy.run_path(str(PREVIOUS))["MIGRATIONS"][:upto]
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        for name, sql in old:
            conn.executescript(sql)
            conn.execute("INSERT INTO migrations VALUES (?, '2025-01-01T00:00:00+00:00')", (name,))
        conn.execute("INSERT INTO collections (name, created_at) VALUES ('docs', 'then')")
        if upto is None:
            conn.execute(
                "INSERT INTO api_keys (id, name, role, secret_hash, created_at) "
                "VALUES ('k1', 'ci', 'reader', 'h', 'then')"
            )


def _fresh(tmp_path: Path) -> list[tuple[str, str, str]]:
    SQLiteStore(tmp_path / "fresh.db").close()
    return _schema(tmp_path / "fresh.db")


def test_an_empty_database_gets_every_migration(tmp_path: Path):
    store = SQLiteStore(tmp_path / "fresh.db")
    assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
    store.close()
    tables = {n for t, n, _ in _schema(tmp_path / "fresh.db") if t == "table"}
    assert {"collections", "traces", "api_keys", "eval_runs", "migrations"} <= tables


@pytest.mark.parametrize("upto", [None, 2, 1], ids=["0.1.0", "0.1.0-before-keys", "first"])
def test_a_database_of_the_previous_release_reaches_the_same_schema(tmp_path: Path, upto):
    old = tmp_path / "old.db"
    _previous_release_db(old, upto)
    store = SQLiteStore(old)  # would fail re-creating api_keys if the rename were missed
    assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
    assert [c.name for c in store.list_collections()] == ["docs"]
    store.close()
    assert _schema(old) == _fresh(tmp_path)
    with sqlite3.connect(old) as conn:
        keys = conn.execute("SELECT id FROM api_keys").fetchall()
    assert keys == ([("k1",)] if upto is None else [])
    SQLiteStore(old).close()  # opening again applies nothing and changes nothing
    assert _schema(old) == _fresh(tmp_path)


def test_without_the_rename_map_an_old_database_would_apply_a_migration_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import ragline.store.sqlite_base as base

    _previous_release_db(tmp_path / "old.db")
    monkeypatch.setattr(base, "RENAMED", {})
    # Its recorded names are unknown without the map: the newer-schema guard refuses the file
    # before any migration could run a second time.
    with pytest.raises(MigrationError, match="0004_api_keys, 0005_eval_runs are unknown"):
        SQLiteStore(tmp_path / "old.db")
