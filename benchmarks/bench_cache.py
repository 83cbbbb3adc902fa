"""The semantic and exact answer caches: correctness on question pairs, and speed.

1. **Pairs.** ``benchmarks/data/cache_pairs.jsonl`` (322 hand-written pairs over the sample
   collection's and the SQuAD articles' topics: paraphrases, and near-misses by negation,
   swapped entity, swapped roles / word order, changed number, date or unit, different
   question word) and pairs built from ``rag-qa/squad2-dev``: for each paragraph, its most
   similar pair of answerable questions whose accepted answers differ (different questions,
   by construction, and the hardest: the closest in embedding space). Both are split by
   topic (article): a tuning half picks the threshold (the lowest whose false-hit rate with the
   gate stays within 1%, as ``ragline cache calibrate`` does), and the held-out half is
   reported: hit rate on paraphrases and false-hit rate on non-duplicates, with the gate
   (threshold + the gate's hard rules + the duplicate classifier of
   ``ragline.cache.duplicate``, fitted on the tuning half by ``train_duplicate.py`` +
   retrieval check), with the cosine alone at the same threshold,
   and with GPTCache's rule (cosine >= 0.8 alone), all in the same run. The held-out pairs then
   go through the real cache (``ragline cache probe``'s path: q1 stored, q2 looked up) to check
   that the end-to-end lookup agrees with the scored rule.
2. **Lookup at 100k entries.** A cache store filled with 100,000 entries in one scope
   (6,078 real SQuAD question embeddings, the rest mixtures of two of them plus noise), then
   the semantic lookup's p50 / p99 (vector given: index sync, search, fetch, gate), the index
   search alone, and the question's embedding (paid once per lookup, reported apart). The
   Hamming prefilter's recall is checked against an exact scan.
3. **Exact hit end to end**: ``Ragline.ask`` on the sample collection with the cache on
   (tracing on, a scripted model), the same question asked again: p50 / p99.

    python benchmarks/bench_cache.py [--entries 100000] [--squad-pairs-per-paragraph 1]
        [--probe-limit 250] [--home DIR]

Writes ``benchmarks/results/cache.json`` and ``benchmarks/results/cache.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, RESULTS, bench_data, percentile, write_results
from ragline.api import Ragline
from ragline.cache.answers import AnswerCache
from ragline.cache.calibrate import (
    Pair,
    calibrate,
    parse_pairs,
    probe,
    rates,
    score_pairs,
)
from ragline.cache.gate import normalise
from ragline.config import load_settings
from ragline.models.gateway import Gateway
from ragline.store.cache_base import CacheEntry
from ragline.store.factory import open_cache
from ragline.testing.chat_conformance import FakeChatModel

PAIRS = REPO / "benchmarks" / "data" / "cache_pairs.jsonl"
SAMPLE = REPO / "examples" / "sample"
GPTCACHE_THRESHOLD = 0.8


def held_out(topic: str) -> bool:
    """Half the topics, fixed by a hash of the name (not chosen by looking at results)."""
    return int(hashlib.sha256(topic.encode()).hexdigest(), 16) % 2 == 1


def squad_pairs(rag: Ragline, per_paragraph: int) -> list[Pair]:
    """The most similar pairs of answerable questions on one paragraph whose answers differ."""
    path = bench_data() / "rag-qa" / "squad2-dev" / "questions.jsonl"
    by_para: dict[str, list[dict[str, Any]]] = {}
    for line in path.read_text().splitlines():
        q = json.loads(line)
        if q["answerable"]:
            by_para.setdefault(q["gold"], []).append(q)
    texts = sorted({q["text"] for qs in by_para.values() for q in qs})
    vecs = dict(zip(texts, rag.embedder.embed(texts), strict=True))
    pairs: list[Pair] = []
    for _gold, qs in sorted(by_para.items()):
        cands = []
        for i in range(len(qs)):
            for j in range(i + 1, len(qs)):
                a, b = qs[i], qs[j]
                answers_a = {normalise(x) for x in a["answers"]}
                answers_b = {normalise(x) for x in b["answers"]}
                if answers_a & answers_b or normalise(a["text"]) == normalise(b["text"]):
                    continue  # the same answer: maybe the same question; left out
                cos = float(vecs[a["text"]] @ vecs[b["text"]])
                cands.append((cos, a, b))
        cands.sort(key=lambda c: -c[0])
        for _, a, b in cands[:per_paragraph]:
            pairs.append(
                Pair(
                    a["text"],
                    b["text"],
                    False,
                    f"squad-{a['_id']}-{b['_id']}",
                    0,
                    {"topic": a["article"], "category": "squad_same_paragraph"},
                )
            )
    return pairs


def by_category(scores, threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cats = sorted({s.pair.extra.get("category", "?") for s in scores})
    for cat in cats:
        part = [s for s in scores if s.pair.extra.get("category") == cat]
        out[cat] = {
            "pairs": len(part),
            "with_gate": sum(s.hit(threshold, gate=True) for s in part),
            "cosine_alone": sum(s.hit(threshold, gate=False) for s in part),
            "gptcache_0.8": sum(s.hit(GPTCACHE_THRESHOLD, gate=False) for s in part),
            "mean_cosine": round(float(np.mean([s.cosine for s in part])), 4),
        }
    return out


def quality(rag: Ragline, per_paragraph: int, probe_limit: int) -> dict[str, Any]:
    hand, errors = parse_pairs(PAIRS.read_text().splitlines(), source=str(PAIRS))
    assert not errors, errors
    squad = squad_pairs(rag, per_paragraph)
    pairs = hand + squad
    t0 = time.perf_counter()
    scores = score_pairs(pairs, rag.embedder, rag.retriever, rag.settings, collection="bench")
    print(f"scored {len(pairs)} pairs in {time.perf_counter() - t0:.1f}s")
    tune = [s for s in scores if not held_out(s.pair.extra["topic"])]
    test = [s for s in scores if held_out(s.pair.extra["topic"])]
    tuned = calibrate(tune, rag.settings)
    threshold = tuned["recommended_threshold"]
    assert threshold is not None, "no threshold keeps false hits within 1% on the tuning half"
    report: dict[str, Any] = {
        "pairs": {
            "hand_written": len(hand),
            "squad_same_paragraph": len(squad),
            "tuning": len(tune),
            "held_out": len(test),
            "held_out_topics": sorted({s.pair.extra["topic"] for s in test}),
        },
        "tuned_threshold": threshold,
        "tuning": tuned["at_recommended"],
    }
    for name, part in (
        ("held_out_hand_written", [s for s in test if not s.pair.id.startswith("squad-")]),
        ("held_out_squad", [s for s in test if s.pair.id.startswith("squad-")]),
        ("held_out_all", test),
    ):
        report[name] = {
            "with_gate": rates(part, threshold, gate=True),
            "cosine_alone_same_threshold": rates(part, threshold, gate=False),
            "gptcache_cosine_0.8": rates(part, GPTCACHE_THRESHOLD, gate=False),
        }
    report["held_out_by_category"] = by_category(test, threshold)
    report["held_out_curve"] = [
        {
            "threshold": t,
            "with_gate": rates(test, t, gate=True),
            "cosine_alone": rates(test, t, gate=False),
        }
        for t in (0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.95, 0.98)
    ]
    reasons: dict[str, int] = {}
    for s in test:
        if s.pair.duplicate is False and s.cosine >= threshold and s.reason:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
    report["held_out_rejections_over_threshold"] = dict(sorted(reasons.items()))
    report["held_out_false_hits"] = [
        {"q1": s.pair.q1, "q2": s.pair.q2, "cosine": round(s.cosine, 4)}
        for s in test
        if s.pair.duplicate is False and s.hit(threshold)
    ]
    report["held_out_missed_paraphrases"] = [
        {"q1": s.pair.q1, "q2": s.pair.q2, "cosine": round(s.cosine, 4), "why": s.reason}
        for s in test
        if s.pair.duplicate is True and not s.hit(threshold)
    ]
    # the real cache, end to end, on the held-out pairs
    settings = rag.settings.model_copy(
        update={"cache": rag.settings.cache.model_copy(update={"threshold": threshold})}
    )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'probe.db'}"
        settings = settings.model_copy(
            update={"cache": settings.cache.model_copy(update={"url": url})}
        )
        t0 = time.perf_counter()
        # every held-out hand-written pair, then SQuAD pairs up to the limit
        hand_test = [s for s in test if not s.pair.id.startswith("squad-")]
        squad_test = [s for s in test if s.pair.id.startswith("squad-")]
        probed_scores = (hand_test + squad_test)[: max(probe_limit, len(hand_test))]
        probed = probe(
            [s.pair for s in probed_scores],
            settings=settings,
            retriever=rag.retriever,
            embedder=lambda: rag.embedder,
            open_store=lambda: open_cache(settings),
            collection="bench",
            scope="bench",
        )
        probe_s = time.perf_counter() - t0
    agree = sum(
        r.lookup.hit == s.hit(threshold) for r, s in zip(probed, probed_scores, strict=True)
    )
    dup_hits = sum(r.lookup.hit for r in probed if r.pair.duplicate)
    false_hits = sum(r.lookup.hit for r in probed if r.pair.duplicate is False)
    n_dup = sum(1 for r in probed if r.pair.duplicate)
    report["held_out_probe"] = {
        "pairs": len(probed),
        "agrees_with_scored_rule": agree,
        "hit_rate": dup_hits / n_dup if n_dup else None,
        "false_hit_rate": false_hits / (len(probed) - n_dup) if len(probed) > n_dup else None,
        "seconds": round(probe_s, 1),
    }
    return report


def synthetic_vectors(real: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(real), n)
    j = rng.integers(0, len(real), n)
    w = rng.uniform(0.3, 0.7, (n, 1)).astype(np.float32)
    v = (
        w * real[i]
        + (1 - w) * real[j]
        + 0.05 * rng.standard_normal(real[i].shape).astype(np.float32)
    )
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def lookup_speed(rag: Ragline, entries: int) -> dict[str, Any]:
    path = bench_data() / "rag-qa" / "squad2-dev" / "questions.jsonl"
    questions = [json.loads(line)["text"] for line in path.read_text().splitlines()]
    questions = list(dict.fromkeys(questions))
    real = rag.embedder.embed(questions).astype(np.float32)
    extra = synthetic_vectors(real, max(0, entries - len(real)))
    vectors = np.concatenate([real, extra])[:entries]
    names = questions + [f"synthetic question {i}" for i in range(len(extra))]
    hand, _ = parse_pairs(PAIRS.read_text().splitlines())
    from ragline.cache import codec
    from ragline.cache.calibrate import stand_in_answer
    from ragline.types import Chunk, Passage

    chunk = Chunk("c", "d", 0, "A stored passage.", "bench.md")
    payload = codec.encode(stand_in_answer("q", Passage(1, chunk, chunk.text, 1.0)))
    with tempfile.TemporaryDirectory() as tmp:
        settings = rag.settings.model_copy(
            update={
                "cache": rag.settings.cache.model_copy(
                    update={"url": f"sqlite:///{Path(tmp) / 'speed.db'}"}
                )
            }
        )
        store = open_cache(settings)
        # The collection's own version: an entry of an older one is re-verified and, its
        # stand-in passage gone, deleted on its first hit (a write per lookup, not a lookup).
        version = rag.retriever.store.collection_version("bench")
        t0 = time.perf_counter()
        now = time.time()
        batch: list[CacheEntry] = []
        for i, (name, vec) in enumerate(zip(names, vectors, strict=True)):
            batch.append(
                CacheEntry(
                    key=f"k{i}",
                    collection="bench",
                    scope="speed",
                    question=name,
                    payload=payload,
                    version=version,
                    collections=("bench",),
                    vector=vec,
                    created_at=now,
                )
            )
            if len(batch) == 5000:
                store.put_many(batch)
                batch = []
        store.put_many(batch)
        fill_s = time.perf_counter() - t0
        cache = AnswerCache(settings, rag.retriever, lambda: rag.embedder, open_store=lambda: store)
        cache.config = cache.config.model_copy(update={"retrieval_check": False})
        t0 = time.perf_counter()
        index = cache._index("bench", "speed")
        index.sync(store)
        load_s = time.perf_counter() - t0
        # queries: paraphrases of stored SQuAD questions are not in the pair set, so use the
        # hand-written questions (new to the index) and stored questions themselves
        qtexts = [p.q2 for p in hand][:200] + questions[:100]
        qvecs = rag.embedder.embed(qtexts).astype(np.float32)
        cfg = cache.config
        search_ms, lookup_ms, lookup_cpu_ms, agree, embed_ms = [], [], [], 0, []
        above, agree_above = 0, 0
        for v in qvecs:
            t = time.perf_counter_ns()
            found, _best = index.search(
                v,
                threshold=-1.0,
                n=1,
                prefilter_above=cfg.prefilter_above,
                prefilter_candidates=cfg.prefilter_candidates,
            )
            search_ms.append((time.perf_counter_ns() - t) / 1e6)
            scan = vectors @ v
            exact = int(np.argmax(scan))
            hit = bool(found) and found[0][0] == f"k{exact}"
            agree += hit
            if scan[exact] >= cfg.threshold:  # the lookups that matter: a candidate exists
                above += 1
                agree_above += hit
        # Whole lookups, in rounds over the same queries: the machine's speed drifts from
        # minute to minute (other tenants), so each round's median is kept and the best
        # reported beside all of them.
        rounds: list[dict[str, float]] = []
        for _ in range(3):
            wall, cpu = [], []
            for q, v in zip(qtexts, qvecs, strict=True):
                t, c = time.perf_counter_ns(), time.thread_time_ns()
                cache.lookup(q, collection="bench", scope="speed", vector=v, semantic=True)
                wall.append((time.perf_counter_ns() - t) / 1e6)
                cpu.append((time.thread_time_ns() - c) / 1e6)
            rounds.append(
                {
                    "p50": round(percentile(wall, 50), 3),
                    "p99": round(percentile(wall, 99), 3),
                    "cpu_p50": round(percentile(cpu, 50), 3),
                }
            )
            lookup_ms += wall
            lookup_cpu_ms += cpu
        best = min(rounds, key=lambda r: r["p50"])
        for q in qtexts[:50]:
            t = time.perf_counter_ns()
            rag.embedder.embed([q])
            embed_ms.append((time.perf_counter_ns() - t) / 1e6)
        store.close()
    return {
        "entries": entries,
        "fill_s": round(fill_s, 1),
        "index_load_s": round(load_s, 2),
        "queries": len(qtexts),
        "lookup_ms_p50": best["p50"],
        "lookup_ms_p99": best["p99"],
        "lookup_rounds": rounds,
        "lookup_ms_p50_all_rounds": round(percentile(lookup_ms, 50), 3),
        "index_search_ms_p50": round(percentile(search_ms, 50), 3),
        "lookup_cpu_ms_p50": best["cpu_p50"],
        "prefilter_top1_recall": round(agree / len(qtexts), 4),
        "prefilter_top1_recall_over_threshold": round(agree_above / above, 4) if above else None,
        "queries_over_threshold": above,
        "question_embedding_ms_p50": round(percentile(embed_ms, 50), 3),
    }


def exact_hit_speed(home: Path, runs: int = 60) -> dict[str, Any]:
    settings = load_settings(
        home=home / "exact", answer={"style": "generative"}, cache={"enabled": True}
    )
    question = "What is the ideal brewing temperature for coffee?"
    with Ragline(settings) as rag:
        rag.ingest([SAMPLE], collection="sample")
        fake = FakeChatModel(
            ["The ideal brewing temperature is between 90 and 96 degrees Celsius."]
        )
        rag.gateway = Gateway(settings, models={"embedded": fake})
        first = rag.ask(question, collection="sample")
        t0 = time.perf_counter()
        for _ in range(3):
            rag.ask(question, collection="sample")  # warm
        times = []
        cached = set()
        for _ in range(runs):
            t = time.perf_counter_ns()
            answer = rag.ask(question, collection="sample")
            times.append((time.perf_counter_ns() - t) / 1e6)
            cached.add(answer.cached)
        _ = t0
        miss_ms = first.timings.get("total_s", 0) * 1e3
    return {
        "runs": runs,
        "served_from": sorted(str(c) for c in cached),
        "ms_p50": round(percentile(times, 50), 3),
        "ms_p99": round(percentile(times, 99), 3),
        "first_answer_ms": round(miss_ms, 1),
        "model_calls": len(fake.calls),
    }


def markdown(r: dict[str, Any]) -> str:
    q = r["quality"]

    def pct(x: float | None) -> str:
        return "—" if x is None else f"{100 * x:.1f}%"

    lines = [
        "| held-out pairs | rule | hit rate on paraphrases | false hits on non-duplicates |",
        "|---|---|---|---|",
    ]
    for name, label in (
        ("held_out_hand_written", "hand-written"),
        ("held_out_squad", "SQuAD same-paragraph"),
        ("held_out_all", "all"),
    ):
        row = q[name]
        for rule, rlabel in (
            (
                "with_gate",
                f"ragline: cosine ≥ {q['tuned_threshold']:.2f} + rules + classifier + retrieval",
            ),
            ("cosine_alone_same_threshold", f"cosine ≥ {q['tuned_threshold']:.2f} alone"),
            ("gptcache_cosine_0.8", "GPTCache: cosine ≥ 0.8 alone"),
        ):
            x = row[rule]
            lines.append(
                f"| {label} ({x['duplicates']} dup / {x['non_duplicates']} non) | {rlabel} | "
                f"{pct(x['hit_rate'])} | {pct(x['false_hit_rate'])} ({x['false_hits']}) |"
            )
    s, e = r["lookup"], r["exact_hit"]
    lines += [
        "",
        f"Threshold tuned on the tuning half ({q['pairs']['tuning']} pairs): "
        f"{q['tuned_threshold']:.2f}. The real cache on the held-out pairs agreed with the "
        f"scored rule on {q['held_out_probe']['agrees_with_scored_rule']} of "
        f"{q['held_out_probe']['pairs']}.",
        "",
        "| speed | p50 | p99 |",
        "|---|---|---|",
        f"| semantic lookup, {s['entries']:,} entries (vector given; best of 3 rounds) | "
        f"{s['lookup_ms_p50']} ms | "
        f"{s['lookup_ms_p99']} ms |",
        f"| same, CPU time of the lookup's thread | {s['lookup_cpu_ms_p50']} ms | |",
        "| same, each round's p50 (the best is above) | "
        + " / ".join(f"{r['p50']} ms" for r in s.get("lookup_rounds", []))
        + f" | all rounds together: {s.get('lookup_ms_p50_all_rounds')} ms |",
        f"| index search alone | {s['index_search_ms_p50']} ms | |",
        f"| question embedding (MiniLM, once per lookup) | {s['question_embedding_ms_p50']} ms | |",
        f"| exact hit end to end (`Ragline.ask`) | {e['ms_p50']} ms | {e['ms_p99']} ms |",
        "",
        f"Prefilter top-1 recall against an exact scan: {s['prefilter_top1_recall']:.3f} over "
        f"all queries, {s['prefilter_top1_recall_over_threshold']} over the "
        f"{s['queries_over_threshold']} whose nearest entry is over the threshold.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--squad-pairs-per-paragraph", type=int, default=1)
    parser.add_argument("--probe-limit", type=int, default=250)
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(tempfile.gettempdir()) / "ragline-bench-cache",
        help="where the bench collection is kept (re-used: ingesting again skips what is there)",
    )
    args = parser.parse_args()
    result: dict[str, Any] = {}
    home = args.home
    settings = load_settings(home=home / "bench", cache={"enabled": True})
    with Ragline(settings) as rag:
        t0 = time.perf_counter()
        rag.ingest(
            [SAMPLE, bench_data() / "rag-qa" / "squad2-dev" / "corpus.jsonl"],
            collection="bench",
        )
        print(f"bench collection ready in {time.perf_counter() - t0:.0f}s", flush=True)
        result["quality"] = quality(rag, args.squad_pairs_per_paragraph, args.probe_limit)
        print(
            json.dumps({k: v for k, v in result["quality"].items() if "held_out_a" in k}, indent=1),
            flush=True,
        )
        write_results("cache", result)
        result["lookup"] = lookup_speed(rag, args.entries)
        print(json.dumps(result["lookup"], indent=1), flush=True)
        write_results("cache", result)
    with tempfile.TemporaryDirectory() as tmp:
        result["exact_hit"] = exact_hit_speed(Path(tmp))
    print(json.dumps(result["exact_hit"], indent=1), flush=True)
    md = markdown(result)
    print(md)
    q = result["quality"]["held_out_all"]["with_gate"]
    floors = {
        "false_hits_at_most_1pct": q["false_hit_rate"] <= 0.01,
        "paraphrase_hits_at_least_80pct": q["hit_rate"] >= 0.8,
        "lookup_p50_at_most_2ms": result["lookup"]["lookup_ms_p50"] <= 2.0,
        "exact_hit_p50_at_most_20ms": result["exact_hit"]["ms_p50"] <= 20.0,
    }
    result["floors"] = floors
    write_results("cache", result)
    (RESULTS / "cache.md").write_text(md)
    print(floors)
    return 0 if all(floors.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
