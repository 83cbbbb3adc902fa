"""Retrieval quality and speed on BEIR SciFact (5,183 docs, 300 test queries).

Quality: nDCG@10 and Recall@100 (pytrec_eval, the trec_eval reference) for bm25, dense and
hybrid, each document one chunk (title + text). Speed, in the same run: ingestion (docs/s,
chunks/s, and the embedding model alone), cold start of `ragline search` as a fresh process,
search latency p50/p95 per mode, BM25 queries/s, and bm25s / rank_bm25 on the same corpus.

    python benchmarks/bench_retrieval.py [--skip-rank-bm25] [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, bench_data, median, percentile, write_results

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load_beir(root: Path):
    corpus = [json.loads(line) for line in (root / "corpus.jsonl").open()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (root / "queries.jsonl").open())}
    qrels: dict[str, dict[str, int]] = {}
    for line in (root / "qrels" / "test.tsv").open():
        qid, did, score = line.rstrip("\n").split("\t")
        if qid == "query-id":
            continue
        qrels.setdefault(qid, {})[did] = int(score)
    test_queries = [(qid, queries[qid]) for qid in sorted(qrels, key=int)]
    return corpus, test_queries, qrels


def evaluate(run: dict[str, dict[str, float]], qrels) -> dict[str, float]:
    import pytrec_eval

    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"})
    per_q = ev.evaluate(run)
    n = len(qrels)
    return {
        "ndcg@10": sum(v["ndcg_cut_10"] for v in per_q.values()) / n,
        "recall@100": sum(v["recall_100"] for v in per_q.values()) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="RAGLINE_HOME to use (default: a temp dir)")
    parser.add_argument("--skip-rank-bm25", action="store_true")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="ragline-bench-"))
    os.environ["RAGLINE_HOME"] = str(home)
    # Each SciFact document is one chunk: a budget no abstract reaches.
    os.environ["RAGLINE_CHUNKING__MAX_TOKENS"] = "100000"
    os.environ["RAGLINE_CHUNKING__OVERLAP_TOKENS"] = "0"

    from ragline.api import Ragline
    from ragline.config import load_settings
    from ragline.models.embedder import get_embedder

    data = bench_data() / "beir-scifact"
    corpus, test_queries, qrels = load_beir(data)
    settings = load_settings()
    results: dict = {
        "dataset": "beir-scifact",
        "documents": len(corpus),
        "queries": len(test_queries),
    }

    # --- embedding model alone -------------------------------------------------------------
    t = time.perf_counter()
    embedder = get_embedder(settings.embedder)
    embedder_load = time.perf_counter() - t
    sample = [(d.get("title", "") + "\n" + d["text"]) for d in corpus[:512]]
    t = time.perf_counter()
    embedder.embed(sample)
    emb_rate = len(sample) / (time.perf_counter() - t)
    results["embedder"] = {"name": embedder.name, "load_s": embedder_load, "chunks_per_s": emb_rate}

    # --- ingestion -------------------------------------------------------------------------
    rag = Ragline(settings, embedder=embedder)
    t = time.perf_counter()
    report = rag.ingest([data / "corpus.jsonl"], collection="scifact")
    ingest_s = time.perf_counter() - t
    assert not report.failed, report.failed[:3]
    t = time.perf_counter()
    again = rag.ingest([data / "corpus.jsonl"], collection="scifact")
    reingest_s = time.perf_counter() - t
    results["ingest"] = {
        "documents": report.added,
        "chunks": report.chunks,
        "seconds": ingest_s,
        "docs_per_s": report.added / ingest_s,
        "chunks_per_s": report.chunks / ingest_s,
        "reingest_unchanged_s": reingest_s,
        "reingest_added": again.added,
        "database_mb": rag.stats("scifact").database_bytes / 1e6,
    }

    # --- quality ---------------------------------------------------------------------------
    quality = {}
    for mode in ("bm25", "dense", "hybrid"):
        run = {}
        for qid, ranked in rag.search_batch(test_queries, collection="scifact", mode=mode, k=100):
            run[qid] = {}
            for doc, score in zip(ranked.doc_ids, ranked.scores, strict=True):
                run[qid].setdefault(doc, float(score))
        quality[mode] = evaluate(run, qrels)
    results["quality"] = quality

    # --- latency per mode (full search: rank + fetch chunks) --------------------------------
    latency = {}
    for mode in ("bm25", "dense", "hybrid"):
        rag.search(test_queries[0][1], collection="scifact", mode=mode)  # warm
        times = []
        for _, q in test_queries:
            t = time.perf_counter()
            rag.search(q, collection="scifact", mode=mode, k=10)
            times.append((time.perf_counter() - t) * 1000)
        latency[mode] = {"p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95)}
    results["latency"] = latency

    # --- BM25 throughput: ragline vs bm25s vs rank_bm25 -------------------------------------
    all_queries = [q for _, q in test_queries]
    retr = rag.retriever
    retr.rank(all_queries[:5], collection="scifact", mode="bm25", k=10)
    reps = 5
    t = time.perf_counter()
    for _ in range(reps):
        retr.rank(all_queries, collection="scifact", mode="bm25", k=10)
    ragline_qps = reps * len(all_queries) / (time.perf_counter() - t)

    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    texts = [d.get("title", "") + "\n" + d["text"] for d in corpus]
    ids = [d["_id"] for d in corpus]
    t = time.perf_counter()
    model = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    model.index(
        bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    bm25s_index_s = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(reps):
        toks = bm25s.tokenize(all_queries, stopwords="en", stemmer=stemmer, show_progress=False)
        docs, scores = model.retrieve(toks, k=10, n_threads=1, show_progress=False)
    bm25s_qps = reps * len(all_queries) / (time.perf_counter() - t)
    toks = bm25s.tokenize(all_queries, stopwords="en", stemmer=stemmer, show_progress=False)
    docs, scores = model.retrieve(toks, k=100, n_threads=1, show_progress=False)
    bm25s_run = {
        qid: {ids[d]: float(s) for d, s in zip(docs[i], scores[i], strict=True)}
        for i, (qid, _) in enumerate(test_queries)
    }
    bm25_ref = {"bm25s": {"qps": bm25s_qps, "index_s": bm25s_index_s, **evaluate(bm25s_run, qrels)}}
    if not args.skip_rank_bm25:
        from rank_bm25 import BM25Okapi

        tokenized = [[stemmer.stemWord(w) for w in doc.lower().split()] for doc in texts]
        okapi = BM25Okapi(tokenized)
        subset = all_queries[:50]
        t = time.perf_counter()
        for q in subset:
            okapi.get_top_n([stemmer.stemWord(w) for w in q.lower().split()], ids, n=10)
        bm25_ref["rank_bm25"] = {"qps": len(subset) / (time.perf_counter() - t)}
    results["bm25_throughput"] = {
        "ragline_qps": ragline_qps,
        **bm25_ref,
        "ratio_to_bm25s": ragline_qps / bm25s_qps,
    }
    rag.close()

    # --- cold start of the CLI --------------------------------------------------------------
    exe = str(Path(sys.executable).with_name("ragline"))
    cold = {}
    for mode in ("bm25", "hybrid"):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run(
                [
                    exe,
                    "search",
                    "vitamin D and bone density",
                    "-c",
                    "scifact",
                    "-m",
                    mode,
                    "-k",
                    "5",
                ],
                check=True,
                capture_output=True,
                env=os.environ.copy(),
            )
            times.append(time.perf_counter() - t)
        cold[mode] = median(times)
    results["cli_cold_start_s"] = cold
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # --- print -----------------------------------------------------------------------------
    print(f"\nBEIR SciFact: {len(corpus)} docs, {len(test_queries)} test queries\n")
    print(f"{'mode':<8} {'nDCG@10':>8} {'R@100':>7} {'p50 ms':>8} {'p95 ms':>8}")
    for mode in ("bm25", "dense", "hybrid"):
        q, lat = quality[mode], latency[mode]
        print(
            f"{mode:<8} {q['ndcg@10']:8.4f} {q['recall@100']:7.4f} "
            f"{lat['p50_ms']:8.2f} {lat['p95_ms']:8.2f}"
        )
    b = bm25_ref["bm25s"]
    print(f"{'bm25s':<8} {b['ndcg@10']:8.4f} {b['recall@100']:7.4f}   (reference)")
    ing = results["ingest"]
    print(
        f"\ningest: {ing['documents']} docs, {ing['chunks']} chunks in {ing['seconds']:.1f} s "
        f"= {ing['docs_per_s']:.1f} docs/s, {ing['chunks_per_s']:.1f} chunks/s; "
        f"embedder alone {emb_rate:.1f} chunks/s; unchanged re-ingest {reingest_s:.2f} s"
    )
    print(
        f"BM25 queries/s (top-10, single thread, incl. tokenizing): ragline {ragline_qps:,.0f}, "
        f"bm25s {bm25s_qps:,.0f} (ratio {ragline_qps / bm25s_qps:.2f})"
        + (f", rank_bm25 {bm25_ref['rank_bm25']['qps']:,.1f}" if "rank_bm25" in bm25_ref else "")
    )
    print(f"cold start `ragline search`: bm25 {cold['bm25']:.2f} s, hybrid {cold['hybrid']:.2f} s")
    write_results("retrieval", results)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    main()
