"""The conformance suite of the :class:`ragline.store.base.Store` Protocol.

A backend's tests inherit :class:`StoreConformance` and supply a ``store`` fixture that
yields a fresh, empty store::

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store(self, tmp_path):
            s = MyStore(...)
            yield s
            s.close()
"""

from __future__ import annotations

import numpy as np
import pytest

from ragline.errors import CollectionNotFoundError, StoreError
from ragline.store.base import DocumentWrite, Store
from ragline.types import Chunk, SearchFilters


def make_write(
    key: str,
    texts: list[str],
    *,
    source: str | None = None,
    content_hash: str | None = None,
    metadata: dict | None = None,
    dim: int = 4,
    seed: int = 0,
) -> DocumentWrite:
    """A document write with deterministic unit vectors and simple term frequencies."""
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(len(texts), dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    doc_id = f"doc-{key}"
    chunks = [
        Chunk(
            id=f"{key}-{i}-{abs(hash(t)) % 10**8}",
            document_id=doc_id,
            ordinal=i,
            text=t,
            source=source or f"/data/{key}.txt",
            title=key.title(),
            heading_path=("Intro", f"Part {i}"),
            page=i + 1,
            char_start=i * 10,
            char_end=i * 10 + len(t),
            token_count=len(t.split()),
            metadata={"ordinal_tag": str(i)},
        )
        for i, t in enumerate(texts)
    ]
    tfs = []
    for t in texts:
        tf: dict[str, int] = {}
        for w in t.lower().split():
            tf[w] = tf.get(w, 0) + 1
        tfs.append(tf)
    return DocumentWrite(
        key=key,
        source=source or f"/data/{key}.txt",
        title=key.title(),
        content_hash=content_hash or f"hash-{key}-{'|'.join(texts)}",
        chunks=chunks,
        embeddings=vecs,
        term_freqs=tfs,
        file_hash=f"file-{key}",
        metadata=metadata or {"suffix": ".txt"},
    )


class StoreConformance:
    """Every Store backend must pass these tests."""

    @pytest.fixture
    def store(self) -> Store:  # pragma: no cover - supplied by subclasses
        raise NotImplementedError

    def test_is_a_store(self, store: Store) -> None:
        assert isinstance(store, Store)

    def test_collections_lifecycle(self, store: Store) -> None:
        assert store.list_collections() == []
        store.create_collection("a")
        store.create_collection("a")  # idempotent
        store.create_collection("b")
        assert [c.name for c in store.list_collections()] == ["a", "b"]
        assert store.has_collection("a") and not store.has_collection("zzz")
        store.delete_collection("a")
        assert [c.name for c in store.list_collections()] == ["b"]

    def test_unknown_collection_raises(self, store: Store) -> None:
        for call in (
            lambda: store.documents("nope"),
            lambda: store.load_index("nope"),
            lambda: store.collection_version("nope"),
            lambda: store.delete_collection("nope"),
            lambda: store.stats("nope"),
        ):
            with pytest.raises(CollectionNotFoundError):
                call()

    def test_write_and_read_back(self, store: Store) -> None:
        store.create_collection("c")
        w = make_write(
            "alpha", ["red apple pie", "green apple tart"], metadata={"suffix": ".md", "lang": "en"}
        )
        store.write_documents("c", [w])
        docs = store.documents("c")
        assert set(docs) == {"alpha"}
        assert docs["alpha"].content_hash == w.content_hash
        assert docs["alpha"].file_hash == "file-alpha"
        ids = [c.id for c in w.chunks]
        got = store.get_chunks("c", [*reversed(ids), "missing"])
        assert [c.id for c in got] == list(reversed(ids))
        first = next(c for c in got if c.ordinal == 0)
        assert first.text == "red apple pie"
        assert first.heading_path == ("Intro", "Part 0")
        assert first.page == 1 and first.char_end == len("red apple pie")
        assert first.title == "Alpha" and first.source == "/data/alpha.txt"
        assert first.document_key == "alpha"
        assert first.metadata["lang"] == "en" and first.metadata["ordinal_tag"] == "0"

    def test_index_arrays_are_consistent(self, store: Store) -> None:
        store.create_collection("c")
        w1 = make_write("a", ["x y y", "z"], seed=1)
        w2 = make_write("b", ["y z w"], seed=2, metadata={"suffix": ".txt", "doc_id": "B7"})
        store.write_documents("c", [w1, w2])
        idx = store.load_index("c")
        assert len(idx.chunk_ids) == 3 == len(idx.lengths) == len(idx.indptr) - 1
        assert idx.embeddings.shape == (3, 4)
        assert idx.doc_ids == ["a", "a", "B7"]
        row = idx.chunk_ids.index(w1.chunks[0].id)
        np.testing.assert_allclose(idx.embeddings[row], w1.embeddings[0], rtol=1e-6)
        lo, hi = idx.indptr[row], idx.indptr[row + 1]
        inverse = {v: k for k, v in idx.vocabulary.items()}
        got = {
            inverse[int(t)]: int(f)
            for t, f in zip(idx.term_ids[lo:hi], idx.tfs[lo:hi], strict=True)
        }
        assert got == {"x": 1, "y": 2}
        assert idx.lengths[row] == 3

    def test_replace_swaps_chunks(self, store: Store) -> None:
        store.create_collection("c")
        store.write_documents("c", [make_write("a", ["one", "two", "three"])])
        v1 = store.collection_version("c")
        store.write_documents("c", [make_write("a", ["only one now"])])
        assert store.collection_version("c") != v1
        idx = store.load_index("c")
        assert len(idx.chunk_ids) == 1
        assert len(store.documents("c")) == 1

    def test_every_change_gives_a_version_never_seen_before(self, store: Store) -> None:
        """The answer caches key on the version: ingest, update, prune and delete (of
        documents, or of the collection made again under its name) each give a new one."""
        store.create_collection("c")
        seen = [store.collection_version("c")]
        store.write_documents("c", [make_write("a", ["one"]), make_write("b", ["two"])])
        seen.append(store.collection_version("c"))
        store.write_documents("c", [make_write("a", ["one, changed"])])
        seen.append(store.collection_version("c"))
        store.delete_documents("c", ["b"])
        seen.append(store.collection_version("c"))
        store.delete_collection("c")
        store.create_collection("c")
        seen.append(store.collection_version("c"))
        store.write_documents("c", [make_write("a", ["one"]), make_write("b", ["two"])])
        seen.append(store.collection_version("c"))
        assert len(set(seen)) == len(seen), seen

    def test_delete_documents(self, store: Store) -> None:
        store.create_collection("c")
        store.write_documents("c", [make_write("a", ["one"]), make_write("b", ["two"])])
        assert store.delete_documents("c", ["a", "missing"]) == 1
        assert set(store.documents("c")) == {"b"}
        assert len(store.load_index("c").chunk_ids) == 1

    def test_file_hashes_are_recorded_per_source(self, store: Store) -> None:
        store.create_collection("c")
        shared = "/data/corpus.jsonl"
        store.write_documents(
            "c",
            [
                make_write("a", ["one"], source=shared),
                make_write("b", ["two"], source=shared),
                make_write("x", ["three"]),
            ],
        )
        store.create_collection("d")
        store.write_documents("d", [make_write("a", ["uno"], source=shared)])
        assert store.set_file_hashes("c", {shared: "whole", "/nowhere.jsonl": "z"}) == 2
        docs = store.documents("c")
        assert docs["a"].file_hash == docs["b"].file_hash == "whole"
        assert docs["x"].file_hash == "file-x"  # other sources untouched
        assert store.documents("d")["a"].file_hash == "file-a"  # other collections too
        assert store.set_file_hashes("c", {}) == 0

    def test_collections_are_isolated(self, store: Store) -> None:
        store.create_collection("c1")
        store.create_collection("c2")
        store.write_documents("c1", [make_write("a", ["apple"])])
        store.write_documents("c2", [make_write("a", ["banana"], seed=3)])
        assert store.load_index("c1").chunk_ids != store.load_index("c2").chunk_ids or True
        assert [c.text for c in store.get_chunks("c1", store.load_index("c1").chunk_ids)] == [
            "apple"
        ]
        store.delete_collection("c2")
        assert len(store.load_index("c1").chunk_ids) == 1

    def test_failed_batch_writes_nothing(self, store: Store) -> None:
        store.create_collection("c")
        good = make_write("good", ["fine"])
        bad = make_write("bad", ["a", "b"])
        bad.embeddings = bad.embeddings[:1]  # mismatched: must abort the whole batch
        with pytest.raises(StoreError):
            store.write_documents("c", [good, bad])
        assert store.documents("c") == {}
        assert store.load_index("c").chunk_ids == []

    def test_content_hash_lookup(self, store: Store) -> None:
        store.create_collection("c")
        store.write_documents("c", [make_write("a", ["t"], content_hash="H1")])
        assert store.find_by_content_hash("c", "H1") == "a"
        assert store.find_by_content_hash("c", "H2") is None

    def test_filters(self, store: Store) -> None:
        store.create_collection("c")
        a = make_write(
            "a", ["one", "two"], source="/docs/a.md", metadata={"suffix": ".md", "team": "x"}
        )
        b = make_write(
            "b", ["three"], source="/docs/sub/b.pdf", metadata={"suffix": ".pdf", "team": "y"}
        )
        store.write_documents("c", [a, b])
        all_ids = {c.id for c in a.chunks + b.chunks}
        assert store.filter_chunk_ids("c", SearchFilters()) == all_ids
        assert store.filter_chunk_ids("c", SearchFilters(source_glob="*.pdf")) == {b.chunks[0].id}
        assert store.filter_chunk_ids("c", SearchFilters(metadata={"team": "x"})) == {
            c.id for c in a.chunks
        }
        # chunk-level metadata is matched too
        assert store.filter_chunk_ids("c", SearchFilters(metadata={"ordinal_tag": "1"})) == {
            a.chunks[1].id
        }
        assert store.filter_chunk_ids("c", SearchFilters("*.md", {"team": "y"})) == set()

    def test_stats_and_embedder(self, store: Store) -> None:
        store.create_collection("c")
        assert store.embedder_of("c") is None
        store.set_embedder("c", "emb-1")
        store.write_documents("c", [make_write("a", ["x y", "y z"])])
        s = store.stats("c")
        assert (s.documents, s.chunks, s.embedding_dim, s.embedder) == (1, 2, 4, "emb-1")
        assert s.vocabulary == 3 and s.sources == {".txt": 1}
        assert [(c.name, c.documents, c.chunks) for c in store.list_collections()] == [("c", 1, 2)]
