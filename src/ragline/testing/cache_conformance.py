"""The conformance suite of the :class:`ragline.store.cache_base.CacheStore` Protocol.

A backend's tests inherit :class:`CacheStoreConformance` and supply ``cache_store``: a fresh,
empty store (and ``reopen``: the same storage opened again, for
:meth:`CacheStoreConformance.test_entries_persist`)::

    class TestMyCache(CacheStoreConformance):
        @pytest.fixture
        def cache_store(self, tmp_path):
            store = MyCacheStore(tmp_path / "c.db")
            yield store
            store.close()
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ragline.store.cache_base import CacheEntry, CacheStore


def make_entry(
    key: str,
    *,
    collection: str = "docs",
    scope: str = "s1",
    dim: int = 8,
    seed: int | None = None,
    vector: bool = True,
    created_at: float = 1000.0,
    expires_at: float | None = None,
    collections: tuple[str, ...] | None = None,
    version: int = 1,
) -> CacheEntry:
    """An entry with a deterministic unit vector (seeded by ``seed``, else by the key)."""
    rng = np.random.default_rng(seed if seed is not None else abs(hash(key)) % 2**32)
    vec = rng.normal(size=dim).astype(np.float32)
    vec /= np.linalg.norm(vec)
    return CacheEntry(
        key=key,
        collection=collection,
        scope=scope,
        question=f"question {key}?",
        payload='{"answer": "' + key + '"}',
        version=version,
        collections=collections if collections is not None else (collection,),
        vector=vec if vector else None,
        created_at=created_at,
        expires_at=expires_at,
    )


class CacheStoreConformance:
    """Every cache store behaves like this."""

    def test_is_a_cache_store(self, cache_store: CacheStore) -> None:
        assert isinstance(cache_store, CacheStore)

    def test_put_then_get_round_trips_every_field(self, cache_store: CacheStore) -> None:
        entry = make_entry("k1", collections=("docs", "other"), expires_at=5000.0, version=7)
        cache_store.put(entry)
        got = cache_store.get("k1")
        assert got is not None
        assert (got.key, got.collection, got.scope, got.question, got.payload) == (
            "k1",
            "docs",
            "s1",
            entry.question,
            entry.payload,
        )
        assert got.version == 7 and got.collections == ("docs", "other")
        assert got.created_at == 1000.0 and got.expires_at == 5000.0 and got.hits == 0
        assert got.vector is not None and got.vector.dtype == np.float32
        np.testing.assert_array_equal(got.vector, entry.vector)
        assert cache_store.get("missing") is None

    def test_an_entry_without_a_vector_is_exact_only(self, cache_store: CacheStore) -> None:
        cache_store.put(make_entry("exact-only", vector=False))
        got = cache_store.get("exact-only")
        assert got is not None and got.vector is None
        assert cache_store.vectors("docs", "s1").keys == []

    def test_vectors_are_per_collection_and_scope_in_order(self, cache_store: CacheStore) -> None:
        for i in range(5):
            cache_store.put(make_entry(f"a{i}"))
        cache_store.put(make_entry("other-scope", scope="s2"))
        cache_store.put(make_entry("other-coll", collection="else"))
        batch = cache_store.vectors("docs", "s1")
        assert batch.keys == [f"a{i}" for i in range(5)]
        assert batch.vectors.shape == (5, 8)
        assert list(batch.seqs) == sorted(batch.seqs) and len(set(batch.seqs)) == 5
        got = cache_store.get_many(["a3"])["a3"]
        assert got.vector is not None
        np.testing.assert_array_equal(batch.vectors[3], got.vector)
        assert cache_store.vectors("docs", "s2").keys == ["other-scope"]
        assert cache_store.vectors("nope", "s1").keys == []

    def test_vectors_after_a_sequence_number_are_only_the_new_ones(
        self, cache_store: CacheStore
    ) -> None:
        cache_store.put(make_entry("a"))
        cache_store.put(make_entry("b"))
        first = cache_store.vectors("docs", "s1")
        assert cache_store.vectors("docs", "s1", after=first.last_seq).keys == []
        cache_store.put(make_entry("c"))
        cache_store.put(make_entry("a", seed=5))  # replaced: read again, with its new vector
        new = cache_store.vectors("docs", "s1", after=first.last_seq)
        assert new.keys == ["c", "a"]
        assert min(new.seqs) > first.last_seq
        # sequence numbers are never reused, even after deletes
        cache_store.delete(["c", "a"])
        cache_store.put(make_entry("d"))
        assert int(cache_store.vectors("docs", "s1").seqs[-1]) > new.last_seq

    def test_replacing_a_key_keeps_one_entry(self, cache_store: CacheStore) -> None:
        cache_store.put(make_entry("k"))
        cache_store.put(make_entry("k", version=2))
        got = cache_store.get("k")
        assert got is not None and got.version == 2
        assert len(cache_store.vectors("docs", "s1").keys) == 1

    def test_put_many_stores_each_in_order(self, cache_store: CacheStore) -> None:
        cache_store.put_many(
            [make_entry(f"m{i}") for i in range(50)] + [make_entry("m3", version=9)]
        )
        batch = cache_store.vectors("docs", "s1")
        assert len(batch.keys) == 50 and batch.keys[-1] == "m3"
        got = cache_store.get("m3")
        assert got is not None and got.version == 9
        cache_store.put_many([])

    def test_get_many_returns_what_exists(self, cache_store: CacheStore) -> None:
        for key in ("a", "b", "c"):
            cache_store.put(make_entry(key))
        got = cache_store.get_many(["c", "a", "zzz", "a"])
        assert set(got) == {"a", "c"} and got["a"].key == "a"
        assert cache_store.get_many([]) == {}

    def test_touch_counts_hits(self, cache_store: CacheStore) -> None:
        cache_store.put(make_entry("k"))
        cache_store.touch("k", 2000.0)
        cache_store.touch("k", 2001.0)
        cache_store.touch("gone", 2001.0)  # no error
        got = cache_store.get("k")
        assert got is not None and got.hits == 2
        (stats,) = cache_store.stats()
        assert stats.hits == 2

    def test_delete_and_clear(self, cache_store: CacheStore) -> None:
        for key in ("a", "b"):
            cache_store.put(make_entry(key))
        for key in ("x", "y", "z"):
            cache_store.put(make_entry(key, collection="other"))
        assert cache_store.delete(["a", "missing"]) == 1
        assert cache_store.get("a") is None and cache_store.get("b") is not None
        assert cache_store.clear("other") == 3
        assert cache_store.vectors("other", "s1").keys == []
        assert [s.collection for s in cache_store.stats()] == ["docs"]
        assert cache_store.clear() == 1
        assert cache_store.stats() == []

    def test_prune_drops_expired_then_least_recently_used(self, cache_store: CacheStore) -> None:
        cache_store.put(make_entry("expired", created_at=1.0, expires_at=10.0))
        cache_store.put(make_entry("old", created_at=2.0))
        cache_store.put(make_entry("used", created_at=3.0))
        cache_store.put(make_entry("new", created_at=4.0))
        cache_store.touch("used", 50.0)  # a hit makes it recent
        assert cache_store.prune(now=20.0, max_entries=None) == 1
        assert cache_store.get("expired") is None
        assert cache_store.prune(now=20.0, max_entries=2) == 1
        assert cache_store.get("old") is None
        assert cache_store.get("used") is not None and cache_store.get("new") is not None
        assert cache_store.prune(now=20.0, max_entries=2) == 0

    def test_stats_per_collection(self, cache_store: CacheStore) -> None:
        cache_store.put(make_entry("a", created_at=10.0))
        cache_store.put(make_entry("b", created_at=20.0, vector=False, scope="s2"))
        cache_store.put(make_entry("c", collection="zeta"))
        docs, zeta = cache_store.stats()
        assert (docs.collection, docs.entries, docs.semantic_entries) == ("docs", 2, 1)
        assert (docs.oldest, docs.newest) == (10.0, 20.0) and sorted(docs.scopes) == ["s1", "s2"]
        assert (zeta.collection, zeta.entries) == ("zeta", 1)

    def test_concurrent_puts_and_reads(self, cache_store: CacheStore) -> None:
        barrier = threading.Barrier(8)

        def one(i: int) -> int:
            barrier.wait()
            for j in range(10):
                cache_store.put(make_entry(f"t{i}-{j}"))
                cache_store.vectors("docs", "s1")
            return i

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(8)))
        batch = cache_store.vectors("docs", "s1")
        assert len(batch.keys) == 80 and len(set(batch.seqs)) == 80

    def test_entries_persist(
        self, cache_store: CacheStore, reopen: Callable[[], CacheStore]
    ) -> None:
        cache_store.put(make_entry("kept"))
        cache_store.close()
        again = reopen()
        try:
            assert again.get("kept") is not None
            assert again.vectors("docs", "s1").keys == ["kept"]
        finally:
            again.close()


__all__ = ["CacheStoreConformance", "make_entry"]
