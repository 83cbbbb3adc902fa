"""The PostgreSQL backend beyond the conformance suites: migrations, clear errors for bad
input, a server that goes away, BM25 and dense search on the same data as SQLite, and the
resumable, verified copy of a SQLite home (``ragline migrate --from … --to …``).

Everything runs against the real PostgreSQL 18 + pgvector of ``tests/conftest.py``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest

from ragline.config import Settings, load_settings
from ragline.errors import ConfigError, MigrationError, StoreUnavailableError
from ragline.retrieve.analyzer import Analyzer
from ragline.retrieve.retriever import Retriever
from ragline.store.base import DocumentWrite, VectorIndex
from ragline.store.handoff_base import HandoffQuery
from ragline.store.migrations import MIGRATIONS
from ragline.store.postgres_base import PgOptions, apply_pg_migrations
from ragline.store.postgres_migrations import PG_MIGRATIONS
from ragline.store.postgres_stores import PostgresStores
from ragline.store.sqlite import SQLiteStore
from ragline.store.sqlite_stores import SQLiteStores
from ragline.store.transfer import copy_sqlite_to_postgres
from ragline.testing.cache_conformance import make_entry
from ragline.testing.services import free_port
from ragline.testing.store_conformance import make_write
from ragline.testing.trace_conformance import make_trace, tid
from ragline.types import Chunk, SearchFilters

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _opts(**store: object) -> PgOptions:
    return PgOptions.of(load_settings(store=store) if store else load_settings())


# migrations ---------------------------------------------------------------------------------


def test_migrations_have_sqlites_names_and_apply_once(pg_url: str) -> None:
    assert [n for n, _ in PG_MIGRATIONS] == [n for n, _ in MIGRATIONS][: len(PG_MIGRATIONS)]
    assert apply_pg_migrations(pg_url, _opts()) == [n for n, _ in PG_MIGRATIONS]
    assert apply_pg_migrations(pg_url, _opts()) == []  # nothing twice
    store = PostgresStores(pg_url, load_settings()).documents()
    try:
        assert store.applied_migrations() == [n for n, _ in PG_MIGRATIONS]
    finally:
        store.close()


def test_a_schema_from_a_newer_release_is_refused_and_left_alone(pg_url: str) -> None:
    apply_pg_migrations(pg_url, _opts())
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO migrations VALUES ('0099_from_the_future', 'x')")
        before = conn.execute("SELECT COUNT(*) FROM migrations").fetchone()
    with pytest.raises(MigrationError, match="newer ragline") as err:
        apply_pg_migrations(pg_url, _opts())
    assert "upgrade ragline" in (err.value.hint or "")
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM migrations").fetchone() == before


def test_sqlite_refuses_a_newer_schema_too(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "r.db").close()
    import sqlite3

    with sqlite3.connect(tmp_path / "r.db") as conn:
        conn.execute("INSERT INTO migrations VALUES ('0099_from_the_future', 'x')")
    with pytest.raises(MigrationError, match="newer ragline"):
        SQLiteStore(tmp_path / "r.db")


def test_auto_migrate_off_says_to_run_ragline_migrate(pg_url: str) -> None:
    with pytest.raises(MigrationError, match=f"needs {len(PG_MIGRATIONS)} migration") as err:
        apply_pg_migrations(pg_url, _opts(auto_migrate=False), apply=False)
    assert "ragline migrate" in (err.value.hint or "")


def test_ragline_migrate_applies_pending_migrations(pg_url: str) -> None:
    out = _cli("migrate", "--to", pg_url, "--json")
    assert '"applied"' in out and PG_MIGRATIONS[-1][0] in out
    assert '"applied": []' in _cli("migrate", "--to", pg_url, "--json")


# bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["postgresql://host:notaport/db", "postgresql://", "mysql://u@h/db"]
)
def test_a_wrong_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="PostgreSQL URL"):
        PostgresStores(url, load_settings())


def test_a_server_that_is_down_is_a_503_with_a_hint() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(StoreUnavailableError, match="not reachable") as err:
        PostgresStores(url, load_settings()).documents()
    assert err.value.http_status == 503 and "dev-services.sh" in (err.value.hint or "")


def test_a_missing_database_names_the_fix(postgres_service) -> None:
    with pytest.raises(ConfigError, match="does not exist") as err:
        PostgresStores(postgres_service.url_of("no_such_db"), load_settings()).documents()
    assert "createdb" in (err.value.hint or "")


def test_missing_pgvector_says_create_extension(postgres_service) -> None:
    """A role that may not create the (untrusted) extension: the first migration fails with
    the statement a superuser must run, and no table is left behind."""
    admin = postgres_service.url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS novector WITH (FORCE)")
        conn.execute("DROP ROLE IF EXISTS plainuser")
        conn.execute("CREATE ROLE plainuser LOGIN")
        conn.execute("CREATE DATABASE novector OWNER plainuser")
    url = f"postgresql://plainuser@127.0.0.1:{postgres_service.port}/novector"
    try:
        with pytest.raises(MigrationError, match="pgvector") as err:
            PostgresStores(url, load_settings()).documents()
        assert "CREATE EXTENSION vector" in (err.value.hint or "")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('collections')").fetchone() == (None,)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS novector WITH (FORCE)")
            conn.execute("DROP ROLE IF EXISTS plainuser")


def test_a_restart_fails_clearly_and_recovers_by_itself(pg_url: str, postgres_service) -> None:
    store = PostgresStores(pg_url, load_settings()).documents()
    try:
        store.create_collection("c")
        postgres_service.stop_server()
        try:
            with pytest.raises(StoreUnavailableError) as err:
                store.has_collection("c")
            assert err.value.http_status == 503
        finally:
            postgres_service.start_again()
        deadline = time.monotonic() + 30
        while True:  # the pool reconnects on its own: no new store, no restart
            try:
                assert store.has_collection("c")
                break
            except StoreUnavailableError:
                assert time.monotonic() < deadline, "the store never recovered"
                time.sleep(0.2)
    finally:
        store.close()


# retrieval on the same data -------------------------------------------------------------------

TEXTS = [
    "Venus is the hottest planet; its thick atmosphere traps heat.",
    "Mercury is closest to the Sun but cools at night.",
    "Brew coffee with water just off the boil, about 94 degrees.",
    "A pour-over takes three to four minutes.",
    "Passwords must have at least fourteen characters.",
    "Mars has the largest volcano in the Solar System, Olympus Mons.",
    "Tea steeps at lower temperatures than coffee.",
    "The planet Jupiter has a great red storm.",
]


def _writes(analyzer: Analyzer, embedder) -> list[DocumentWrite]:
    out = []
    vecs = embedder.embed(TEXTS)
    for i, text in enumerate(TEXTS):
        key = f"d{i}"
        chunk = Chunk(
            id=f"{key}-0",
            document_id=key,
            ordinal=0,
            text=text,
            source=f"/docs/{key}.txt",
            title=key,
            token_count=len(text.split()),
            char_end=len(text),
        )
        out.append(
            DocumentWrite(
                key=key,
                source=chunk.source,
                title=key,
                content_hash=f"h{i}",
                chunks=[chunk],
                embeddings=vecs[i : i + 1],
                term_freqs=[analyzer.term_freqs(text)],
                metadata={"suffix": ".txt"},
            )
        )
    return out


def test_bm25_dense_and_hybrid_match_sqlite(pg_url: str, tmp_path: Path) -> None:
    from ragline.models.embedder import get_embedder

    settings = load_settings()
    embedder = get_embedder(settings.embedder)
    analyzer = Analyzer(settings.retrieval.bm25_stemmer, settings.retrieval.bm25_stopwords)
    lite = SQLiteStores(f"sqlite:///{tmp_path}/r.db").documents()
    pg = PostgresStores(pg_url, settings).documents()
    try:
        assert isinstance(pg, VectorIndex)
        for store in (lite, pg):
            store.create_collection("c")
            store.set_embedder("c", embedder.name)
            store.write_documents("c", _writes(analyzer, embedder))
        a = Retriever(lite, settings, embedder=embedder)
        b = Retriever(pg, settings, embedder=embedder)
        assert b._vector_index is pg and a._vector_index is None
        for query in ("hot planet atmosphere", "coffee temperature", "volcano on mars"):
            for mode in ("bm25", "dense", "hybrid"):
                ra = a.rank([query], collection="c", mode=mode, k=5)[0]
                rb = b.rank([query], collection="c", mode=mode, k=5)[0]
                assert ra.chunk_ids == rb.chunk_ids, (query, mode)
                np.testing.assert_allclose(ra.scores, rb.scores, rtol=1e-5, atol=1e-6)
        # with a filter the dense search is exact in memory on both; globs match the same
        for filters in (
            SearchFilters(source_glob="/docs/d[1-3].txt"),
            SearchFilters(source_glob="*d?.txt", metadata={"suffix": ".txt"}),
        ):
            for mode in ("bm25", "dense", "hybrid"):
                ra = a.rank(["planet"], collection="c", mode=mode, k=5, filters=filters)[0]
                rb = b.rank(["planet"], collection="c", mode=mode, k=5, filters=filters)[0]
                assert ra.chunk_ids == rb.chunk_ids, (filters, mode)
        assert pg.filter_chunk_ids("c", SearchFilters(source_glob="/docs/d[1-3].txt")) == {
            "d1-0",
            "d2-0",
            "d3-0",
        }
        # the dense ranking came from the HNSW index, and exact search agrees
        q = embedder.embed(["hot planet atmosphere"])[0]
        ann, exact = pg.dense_search("c", q, 3), pg.dense_search("c", q, 3, exact=True)
        assert [c for c, _ in ann] == [c for c, _ in exact]
        assert [s for _, s in ann] == pytest.approx([s for _, s in exact])
        with psycopg.connect(pg_url) as conn:
            conn.execute("SET enable_seqscan = off")
            plan = " ".join(
                r[0]
                for r in conn.execute(
                    "EXPLAIN SELECT id FROM chunks WHERE collection_id = 1 "
                    "ORDER BY embedding::vector(384) <=> %s::vector(384) LIMIT 3",
                    (str(q.tolist()),),
                )
            )
        assert "chunks_hnsw_1" in plan
    finally:
        lite.close()
        pg.close()


def test_an_index_per_collection_and_dropped_with_it(pg_url: str) -> None:
    store = PostgresStores(pg_url, load_settings()).documents()
    try:
        store.create_collection("a")
        store.create_collection("b")
        store.write_documents("a", [make_write("x", ["one two"], dim=4)])
        store.write_documents("b", [make_write("y", ["three"], dim=8)])  # another dimension
        with psycopg.connect(pg_url) as conn:
            names = lambda: {  # noqa: E731
                r[0]
                for r in conn.execute(
                    "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'chunks_hnsw_%%'"
                )
            }
            assert names() == {"chunks_hnsw_1", "chunks_hnsw_2"}
            store.delete_collection("a")
            assert names() == {"chunks_hnsw_2"}
        assert [c for c, _ in store.dense_search("b", np.ones(8, np.float32) / 8**0.5, 5)] == [
            make_write("y", ["three"], dim=8).chunks[0].id
        ]
    finally:
        store.close()


# the copy -------------------------------------------------------------------------------------


def _home(tmp_path: Path, docs: int = 40) -> str:
    url = f"sqlite:///{tmp_path}/home/ragline.db"
    backend = SQLiteStores(url)
    store = backend.documents()
    store.create_collection("c")
    store.set_embedder("c", "emb")
    store.write_documents(
        "c", [make_write(f"k{i}", [f"text {i} alpha", f"beta {i}"], seed=i) for i in range(docs)]
    )
    store.close()
    traces = backend.traces()
    traces.write_traces([make_trace(tid(i), embedding=np.ones(4, np.float32)) for i in range(5)])
    traces.close()
    keys = backend.keys()
    keys.create_key("ci", "read")
    keys.close()
    inbox = backend.handoffs()
    for i in range(3):
        item = inbox.open_item(question=f"q{i}", collection="c", details={"n": i})
        inbox.reply(item.id, f"reply {i}", author="ana")
    inbox.close()
    cache = backend.cache()
    cache.put_many([make_entry(f"e{i}", expires_at=9e9 if i else None) for i in range(4)])
    cache.delete(["e1"])  # a gap in the sequence numbers
    cache.close()
    return url


def test_copy_moves_everything_and_verifies(tmp_path: Path, pg_url: str) -> None:
    src = _home(tmp_path)
    report = copy_sqlite_to_postgres(src, pg_url, load_settings(), batch=7)
    assert report.ok and not report.resumed
    rows = {t.table: t.target_rows for t in report.tables}
    assert rows["documents"] == 40 and rows["chunks"] == 80 and rows["spans"] == 15
    backend = PostgresStores(pg_url, load_settings())
    store = backend.documents()
    try:
        index = store.load_index("c")
        lite = SQLiteStores(src).documents()
        try:
            expected = lite.load_index("c")
        finally:
            lite.close()
        assert index.chunk_ids == expected.chunk_ids
        np.testing.assert_array_equal(index.embeddings, expected.embeddings)
        np.testing.assert_array_equal(index.term_ids, expected.term_ids)
        # ids continue after the copied ones; the copied key still verifies
        store.create_collection("new")
        store.write_documents("new", [make_write("z", ["brand new words"])])
        assert len(store.load_index("new").chunk_ids) == 1
        assert [k.name for k in backend.keys().list_keys()] == ["ci"]
    finally:
        store.close()
    # the handoff inbox: items and threads as they were; a new item lists first
    assert rows["handoff_items"] == 3 and rows["handoff_messages"] == 9
    inbox = backend.handoffs()
    try:
        copied = inbox.list_items(HandoffQuery(status=None))
        assert [i.question for i in copied] == ["q2", "q1", "q0"]
        assert all(i.status == "answered" for i in copied)
        thread = inbox.get_item(copied[0].id)
        assert thread is not None and dict(thread.details) == {"n": 2}
        assert [(m.seq, m.role) for m in thread.messages] == [
            (1, "user"),
            (2, "system"),
            (3, "human"),
        ]
        assert inbox.add_message(copied[0].id, "more").seq == 4
        fresh = inbox.open_item(question="after the copy")
        assert inbox.list_items(HandoffQuery(status=None))[0].id == fresh.id
    finally:
        inbox.close()
    # the answer cache: entries and vectors as they were; new entries number after them
    assert rows["cache_entries"] == 3
    cache = backend.cache()
    try:
        batch = cache.vectors("docs", "s1")
        assert batch.keys == ["e0", "e2", "e3"] and list(batch.seqs) == [1, 3, 4]
        got = cache.get("e3")
        assert got is not None and got.expires_at == 9e9
        np.testing.assert_array_equal(got.vector, make_entry("e3").vector)
        cache.put(make_entry("after"))
        assert cache.vectors("docs", "s1", after=4).keys == ["after"]
    finally:
        cache.close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('ragline_copy')").fetchone() == (None,)
    with pytest.raises(ConfigError, match="not empty"):
        copy_sqlite_to_postgres(src, pg_url, load_settings())


def test_copy_applies_migrations_even_when_auto_migrate_is_off(tmp_path: Path, pg_url) -> None:
    settings = load_settings(store={"auto_migrate": False})
    assert copy_sqlite_to_postgres(_home(tmp_path, docs=3), pg_url, settings).ok


def test_copy_resumes_after_a_kill_without_duplicates(tmp_path: Path, pg_url: str) -> None:
    """kill -9 the CLI mid-copy, run it again: it resumes, and the result verifies."""
    src = _home(tmp_path, docs=300)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "ragline.cli.main", "migrate", "--from", src, "--to", pg_url]
    proc = subprocess.Popen([*cmd, "--batch", "1", "--quiet"], env=env)
    try:
        deadline = time.monotonic() + 120
        copied = 0
        while copied < 50 and time.monotonic() < deadline:  # well into the chunks
            time.sleep(0.05)
            with psycopg.connect(pg_url) as conn:
                if conn.execute("SELECT to_regclass('ragline_copy')").fetchone() != (None,):
                    row = conn.execute(
                        "SELECT copied FROM ragline_copy WHERE tbl = 'chunks'"
                    ).fetchone()
                    copied = row[0] if row else 0
        assert proc.poll() is None, "the copy finished before it could be killed"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with psycopg.connect(pg_url) as conn:
        partial = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    assert 50 <= partial < 600  # killed mid-table
    out = subprocess.run(
        [*cmd, "--json"], env=env, capture_output=True, text=True, timeout=300, check=True
    ).stdout
    assert '"resumed": true' in out and '"ok": true' in out
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM chunks").fetchone() == (
            600,
            600,
        )


def test_copy_refuses_other_directions(tmp_path: Path, pg_url: str) -> None:
    err = _cli("migrate", "--from", pg_url, "--to", f"sqlite:///{tmp_path}/x.db", check=False)
    assert "cannot copy" in err


def _cli(*args: str, check: bool = True) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "ragline.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert done.returncode == 0, done.stderr
        return done.stdout
    assert done.returncode != 0
    return done.stderr


def test_the_options_come_from_the_settings_given() -> None:
    s = Settings(store={"url": "postgresql://u@h/db", "pool_max_size": 3, "hnsw_ef_search": 40})
    b = PostgresStores(s.store_url, s)
    assert (b.opts.pool_max_size, b.opts.hnsw_ef_search) == (3, 40)


def test_ragline_migrate_on_the_default_sqlite_home() -> None:
    import json

    applied = json.loads(_cli("migrate", "--json"))["applied"]
    assert applied == [n for n, _ in MIGRATIONS]
    assert "up to date" in _cli("migrate")


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg", "POSTGRESQL"])
def test_the_factory_picks_postgresql_by_scheme(scheme: str, pg_url: str) -> None:
    """Through the ``ragline.stores`` entry points (pyproject.toml), like any plugin."""
    from ragline.store.factory import backend, open_documents

    url = pg_url.replace("postgresql", scheme, 1)
    settings = load_settings(store={"url": url})
    assert isinstance(backend(settings), PostgresStores)
    store = open_documents(settings)
    try:
        store.create_collection("c")
        assert store.has_collection("c")
    finally:
        store.close()
