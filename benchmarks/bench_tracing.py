"""What tracing costs: search and answer latency with tracing on against off.

1. Search (BEIR SciFact, 5,183 documents, the 300 test queries; bm25, dense, hybrid, k=10):
   one retriever, switched between the no-op tracer and the real tracer (background writer
   to the same SQLite file). Each query runs once with each, in
   random order, for ``--rounds`` rounds (ten times as many for BM25, whose searches are
   short); the overhead is the median of the per-query paired differences over the median
   untraced latency, with a 95% bootstrap interval. Documents are embedded with a hash embedder
   of the same name and dimension (fast to ingest; ranking quality is not measured here),
   queries with the real MiniLM on one thread (steadier timings on a shared machine), so
   every search does the real work: query embedding, BM25, dense scan, fusion, fetch.
2. Answer: ``Ragline.ask_stream`` (rewrite, retrieval, packing, the embedded SmolLM2 through
   the gateway, citation checks) on the answerable questions of ``benchmarks/data/answers``,
   traced against untraced, interleaved question by question, llama.cpp's KV cache reset
   before each run. Generation time varies by more than 1% from run to run, so the absolute
   cost of tracing an answer is measured where it is not drowned — the same flow with a
   zero-latency fake model, four pairs per question — and divided by the real answer time.
3. The cost of one span (enabled, inside a trace) and of a no-op span (tracing disabled),
   and the writer thread's CPU time per trace (spent off the request path).

    python benchmarks/bench_tracing.py [--rounds 3] [--answers 8] [--skip-answer]

Exits with status 1 when the search overhead exceeds 2% or the answer overhead 1%.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import REPO, bench_data, median, percentile, write_results

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class BenchEmbedder:
    """The real MiniLM for queries; a deterministic hash vector per text while ingesting."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.name, self.dim, self.max_tokens = real.name, real.dim, real.max_tokens
        self.hashing = True

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts: list[str]) -> np.ndarray:
        if not self.hashing:
            return self.real.embed(texts)
        out = np.empty((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out


def paired(plain: list[float], traced: list[float], traced_first: list[bool]) -> dict[str, Any]:
    """The cost of tracing from pairs of runs of the same request, one traced and one not.

    Whichever run of a pair goes second is faster (caches are warm with the same query) by
    far more than tracing costs, so the differences form two humps, one per order, and their
    plain median is unstable. The estimate is the mean of the two per-order medians of the
    differences (traced minus untraced), over the median untraced latency, with a 95%
    bootstrap interval (2,000 resamples of the pairs within each order).
    """
    base = median(plain)
    diffs = np.array([t - p for p, t in zip(plain, traced, strict=True)])
    first = np.array(traced_first, dtype=bool)
    groups = [diffs[first], diffs[~first]]

    def estimate(parts: list[np.ndarray]) -> Any:
        return sum(np.median(g, axis=-1) for g in parts) / len(parts)

    rng = np.random.default_rng(0)
    boot = estimate([g[rng.integers(0, len(g), (2000, len(g)))] for g in groups])
    diff = float(estimate(groups))
    low, high = np.percentile(100 * boot / base, [2.5, 97.5])
    return {
        "untraced_p50_ms": base,
        "traced_p50_ms": median(traced),
        "untraced_p95_ms": percentile(plain, 95),
        "traced_p95_ms": percentile(traced, 95),
        "diff_traced_first_ms": float(np.median(groups[0])),
        "diff_traced_second_ms": float(np.median(groups[1])),
        "paired_diff_ms": diff,
        "overhead_pct": 100 * diff / base,
        "overhead_ci95_pct": [float(low), float(high)],
        "samples": len(plain),
    }


def show(values: dict[str, Any]) -> str:
    def r(v: Any) -> Any:
        if isinstance(v, float):
            return round(v, 3)
        return [r(x) for x in v] if isinstance(v, list) else v

    return json.dumps({k: r(v) for k, v in values.items()})


def bench_search(rag: Any, tracer: Any, queries: list[str], rounds: int) -> dict[str, Any]:
    from ragline.trace import NOOP_TRACER

    # One retriever, its tracer switched per search: both sides of a pair use the very same
    # index arrays (two retrievers would build two copies, whose memory placement alone
    # moves a 0.4 ms BM25 search by a few percent either way).
    retriever = rag.retriever
    out: dict[str, Any] = {}
    rng = random.Random(0)
    for mode in ("bm25", "dense", "hybrid"):
        for t in (NOOP_TRACER, tracer):  # build the index, warm the embedder
            retriever.tracer = t
            retriever.search(queries[0], collection="scifact", mode=mode, k=10)
        a: list[float] = []
        b: list[float] = []
        order: list[bool] = []
        # A BM25 search takes ~0.4 ms: ten times the rounds cost little and narrow the
        # interval of a difference of a few microseconds.
        for _ in range(rounds * 10 if mode == "bm25" else rounds):
            for q in queries:
                retriever.tracer = NOOP_TRACER  # an untimed run first: both timed runs
                retriever.search(q, collection="scifact", mode=mode, k=10)  # find warm caches
                runs = [(NOOP_TRACER, a), (tracer, b)]
                rng.shuffle(runs)
                order.append(runs[0][0] is tracer)
                for t, times in runs:
                    retriever.tracer = t
                    started = time.perf_counter()
                    retriever.search(q, collection="scifact", mode=mode, k=10)
                    times.append((time.perf_counter() - started) * 1000)
        retriever.tracer = NOOP_TRACER
        out[mode] = paired(a, b, order)
        print(f"  search {mode:6s} {show(out[mode])}")
    return out


def reset_llama() -> None:
    """Forget llama.cpp's KV cache: it reuses a shared prompt prefix, which would make
    whichever of a pair of runs on the same question goes second look much faster."""
    from ragline.models import llamacpp

    for loaded in list(getattr(llamacpp, "_CACHE", {}).values()):
        loaded.llm.reset()


def run_answer(rag: Any, question: str) -> tuple[float, float, Any]:
    """(total ms, time to first draft token ms, the answer) of one ``Ragline.ask_stream``."""
    from ragline.answer.events import AnswerDone, TokenDelta

    t0 = time.perf_counter()
    first, answer = None, None
    # the generative style: an answer the model writes (the default extractive style makes no
    # model call, so it would hide the model's share of the time tracing is compared with)
    for event in rag.ask_stream(question, collection="answers", style="generative"):
        if first is None and isinstance(event, TokenDelta):
            first = time.perf_counter() - t0
        if isinstance(event, AnswerDone):
            answer = event.answer
    total = time.perf_counter() - t0
    return total * 1000, (first if first is not None else total) * 1000, answer


def bench_answer(rag: Any, tracer: Any, n: int) -> dict[str, Any]:
    """``Ragline.ask_stream`` traced against untraced, on the answer benchmark's documents."""
    from ragline.api import Ragline
    from ragline.models.gateway import Gateway
    from ragline.testing.chat_conformance import FakeChatModel
    from ragline.trace import NOOP_TRACER

    data = REPO / "benchmarks" / "data" / "answers"
    rag.ingest([data / "docs", REPO / "examples" / "sample"], collection="answers")
    questions = [
        q["question"]
        for q in map(json.loads, (data / "questions.jsonl").read_text().splitlines())
        if q.get("answerable")
    ]
    common = {"store": rag.store, "embedder": rag.embedder, "traces": rag.traces}
    plain = Ragline(rag.settings, tracer=NOOP_TRACER, **common)
    traced = Ragline(rag.settings, tracer=tracer, **common)
    results: dict[str, Any] = {"questions": len(questions)}

    # a) the absolute cost of tracing an answer: a zero-latency model, many pairs
    reply = "It is about 330 metres tall, and it was named after Gustave Eiffel in 1889."
    for r in (plain, traced):
        r.gateway = Gateway(
            r.settings, models={"embedded": FakeChatModel([reply])}, tracer=r.tracer
        )
    a: list[float] = []
    b: list[float] = []
    order: list[bool] = []
    rng = random.Random(1)
    for _ in range(4):
        for q in questions:
            runs = [(plain, a), (traced, b)]
            rng.shuffle(runs)
            order.append(runs[0][0] is traced)
            for r, times in runs:
                times.append(run_answer(r, q)[0])
    fake = paired(a, b, order)
    results["fake_model"] = fake
    print(f"  answer/fake {show(fake)}")

    # b) real answers with the embedded SmolLM2
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        results["real_model"] = None
        return results
    for r in (plain, traced):
        r.gateway = Gateway(r.settings, tracer=r.tracer)
    reset_llama()
    run_answer(plain, questions[0])  # load and warm the model
    a, b, ttft_a, ttft_b = [], [], [], []
    order = []
    for i, q in enumerate(questions[:n]):
        runs = [(plain, a, ttft_a), (traced, b, ttft_b)]
        if i % 2:
            runs.reverse()
        order.append(bool(i % 2))
        for r, times, ttfts in runs:
            reset_llama()
            total, ttft, _ = run_answer(r, q)
            times.append(total)
            ttfts.append(ttft)
    real = paired(a, b, order)
    real["ttft_untraced_p50_ms"] = median(ttft_a)
    real["ttft_traced_p50_ms"] = median(ttft_b)
    real["model"] = plain.gateway.config.default_model
    results["real_model"] = real
    results["tracing_cost_pct_of_real_answer"] = (
        100 * fake["paired_diff_ms"] / real["untraced_p50_ms"]
    )
    print(f"  answer/real {show(real)}")
    return results


def bench_spans(settings: Any) -> dict[str, float]:
    """Cost of recording, on a tracer of its own (its 50,000-span trace is not stored)."""
    from ragline.trace import NOOP_TRACER, Tracer

    tracer = Tracer(settings.trace, [])

    n = 50_000
    with tracer.trace("bench"):
        t = time.perf_counter()
        for _ in range(n):
            with tracer.span("x") as s:
                s.set(k=1)
        enabled = (time.perf_counter() - t) / n * 1e6
    t = time.perf_counter()
    for _ in range(n):
        with NOOP_TRACER.span("x") as s:
            s.set(k=1)
    disabled = (time.perf_counter() - t) / n * 1e6
    m = 5_000
    t = time.perf_counter()
    for _ in range(m):
        with tracer.trace("root"):
            pass
    root = (time.perf_counter() - t) / m * 1e6
    tracer.close(60)
    return {"span_us": enabled, "noop_span_us": disabled, "root_trace_us": root}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--answers", type=int, default=8)
    parser.add_argument("--skip-answer", action="store_true")
    parser.add_argument("--home", type=Path, help="RAGLINE_HOME (default: a temp dir)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="ragline-bench-tracing-"))
    os.environ["RAGLINE_HOME"] = str(home)
    os.environ["RAGLINE_CHUNKING__MAX_TOKENS"] = "100000"  # one chunk per SciFact document
    os.environ["RAGLINE_CHUNKING__OVERLAP_TOKENS"] = "0"
    os.environ.setdefault("RAGLINE_EMBEDDER__THREADS", "1")
    sys.path.insert(0, str(REPO / "src"))

    from ragline.api import Ragline
    from ragline.config import load_settings
    from ragline.models.embedder import get_embedder
    from ragline.trace import NOOP_TRACER, open_tracer

    data = bench_data() / "beir-scifact"
    test_ids = {
        line.split("\t")[0] for line in (data / "qrels" / "test.tsv").open() if line[0].isdigit()
    }
    queries = [
        json.loads(line)["text"]
        for line in (data / "queries.jsonl").open()
        if json.loads(line)["_id"] in test_ids
    ]
    settings = load_settings()
    embedder = BenchEmbedder(get_embedder(settings.embedder))
    rag = Ragline(settings, embedder=embedder, tracer=NOOP_TRACER)
    t = time.perf_counter()
    rag.ingest([data / "corpus.jsonl"], collection="scifact")
    embedder.hashing = False
    took = time.perf_counter() - t
    print(f"ingested SciFact in {took:.1f}s (hash vectors); {len(queries)} queries")
    tracer = open_tracer(settings, lambda: rag.traces)
    results: dict[str, Any] = {"dataset": "beir-scifact", "queries": len(queries)}
    results["span_cost"] = bench_spans(settings)
    print(f"  spans {show(results['span_cost'])}")
    results["search"] = bench_search(rag, tracer, queries, args.rounds)
    if not args.skip_answer:
        results["answer"] = bench_answer(rag, tracer, args.answers)
    tracer.flush(30)
    stats = tracer.stats()
    results["writer"] = {
        "submitted": stats.submitted,
        "written": stats.written,
        "dropped": stats.dropped,
        "errors": stats.errors,
        "cpu_ms_per_trace": 1000 * stats.busy_s / max(stats.written, 1),
    }
    tracer.close()
    rag.close()
    write_results("tracing", results)

    search_worst = max(v["overhead_pct"] for v in results["search"].values())
    answer_cost = (results.get("answer") or {}).get("tracing_cost_pct_of_real_answer")
    print(f"search overhead (worst mode): {search_worst:.2f}%  (limit 2%)")
    if answer_cost is not None:
        print(f"answer overhead: {answer_cost:.3f}%  (limit 1%)")
    if search_worst > 2.0 or (answer_cost is not None and answer_cost > 1.0) or stats.dropped:
        sys.exit(1)


if __name__ == "__main__":
    main()
