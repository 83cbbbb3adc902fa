"""Dataset engineering: near-duplicate detection on planted sets, real corpora, 100k chunks.

    python benchmarks/bench_data.py [--chunks 100000] [--datasketch-chunks 100000] [--quick]

1. **Planted sets** (:mod:`ragline.data.planted`): SciFact abstracts and SQuAD paragraphs
   (natural near-duplicates among them removed first), shuffled with a fixed seed and cut in
   two halves. The *dev* half builds a planted set on which shingling and threshold were
   chosen (the sweep is printed again here); the *held-out* half builds another one, with other
   base texts, on which the defaults are reported — with rensa and with datasketch.
2. **Real corpora**: exact and near duplicates found with the defaults in SciFact's corpus
   and SQuAD's corpus (counts and a sample), and semantic duplicates among SQuAD's answerable
   questions with their answers (``data.semantic_threshold``, the default embedder).
3. **100k chunks**: the corpora cut into ~100-word chunks, grown to N with planted copies and
   rewrites of them; deduplicated end to end (normalise, shingle, sketch, LSH, clusters) with
   rensa; and, in the same run as the anchor, rensa and datasketch on the same first 20k of
   them (datasketch on all 100k takes many minutes on a shared 2-core machine:
   ``--datasketch-chunks 100000``). Wall and CPU time (all threads) are both reported, with
   the load average: the machine is shared. Precision and recall at scale.
4. **Answerability** (the synthetic review loop's filter): SQuAD answerable questions with
   their own paragraph vs with a paragraph of another article.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import bench_data, write_results
from ragline.config import load_settings
from ragline.data.dedup import find_duplicates
from ragline.data.planted import planted_set, score_planted

SWEEP = [("word", 1), ("word", 2), ("word", 3), ("word", 5), ("char", 5)]
THRESHOLDS = [0.4, 0.5, 0.55, 0.6, 0.7, 0.8]


def load(path: Path, field: str = "text") -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def defaults() -> dict[str, Any]:
    cfg = load_settings().data
    return {
        "threshold": cfg.dedup_threshold,
        "shingle": cfg.dedup_shingle,
        "ngram": cfg.dedup_ngram,
        "num_perm": cfg.dedup_num_perm,
        "seed": cfg.dedup_seed,
    }


def sample_clusters(ids: list[str], texts: list[str], result: Any, n: int = 3) -> list[dict]:
    out = []
    for c in result.clusters[:n]:
        out.append(
            {
                "kept": ids[c.kept],
                "removed": [ids[m.index] for m in c.removed],
                "similarity": [m.similarity for m in c.removed],
                "reason": [m.reason for m in c.removed],
                "kept_text": " ".join(texts[c.kept].split())[:140],
                "removed_text": " ".join(texts[c.removed[0].index].split())[:140],
            }
        )
    return out


def planted(pool: list[str], size: int, d: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(18)
    order = pool[:]
    rng.shuffle(order)
    half = len(order) // 2
    dev_pool, held_pool = order[:half], order[half:]
    dev = planted_set(dev_pool, size=size, seed=1)
    held = planted_set(held_pool, size=size, seed=2)
    print(f"\n== planted sets: dev {len(dev)} records, held-out {len(held)} (other base texts)")
    sweep = []
    dev_texts = [r.text for r in dev]
    for kind, n in SWEEP:
        row: dict[str, Any] = {"shingle": f"{kind}-{n}"}
        for t in THRESHOLDS:
            r = find_duplicates(dev_texts, threshold=t, shingle=kind, ngram=n)
            row[str(t)] = round(score_planted(dev, r.kept_of()).f1, 4)
        sweep.append(row)
    print("dev F1 by shingling (rows) and threshold (columns):")
    print("  shingle  " + " ".join(f"{t:>6}" for t in THRESHOLDS))
    for row in sweep:
        print(f"  {row['shingle']:<8} " + " ".join(f"{row[str(t)]:>6.3f}" for t in THRESHOLDS))
    out: dict[str, Any] = {"dev_size": len(dev), "held_out_size": len(held), "dev_sweep": sweep}
    held_texts = [r.text for r in held]
    for engine in ("rensa", "datasketch"):
        t0 = time.perf_counter()
        r = find_duplicates(held_texts, **d, engine=engine)
        elapsed = time.perf_counter() - t0
        s = score_planted(held, r.kept_of()).to_dict()
        s["seconds"] = round(elapsed, 2)
        out[f"held_out_{engine}"] = s
        print(
            f"held-out, defaults, {engine:<10}: precision {s['precision']:.4f} recall "
            f"{s['recall']:.4f} (removed {s['removed']}, expected {s['expected']}, rewrites "
            f"removed {s['rewrites_removed']}) in {elapsed:.2f} s"
        )
    dev_score = score_planted(dev, find_duplicates(dev_texts, **d).kept_of()).to_dict()
    out["dev_defaults"] = dev_score
    return out


def corpora(data: Path, d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    print("\n== duplicates in real corpora (defaults)")
    for name, path in (
        ("scifact", data / "beir-scifact" / "corpus.jsonl"),
        ("squad_corpus", data / "rag-qa" / "squad2-dev" / "corpus.jsonl"),
    ):
        docs = load(path)
        ids = [x["_id"] for x in docs]
        texts = [x["text"] for x in docs]
        t0 = time.perf_counter()
        r = find_duplicates(texts, **d)
        counts = r.counts()
        loose = find_duplicates(texts, **{**d, "threshold": 0.2})
        sims = sorted((m.similarity for c in loose.clusters for m in c.removed), reverse=True)
        out[name] = {
            "documents": len(texts),
            "removals_at_0.2": len(sims),
            "closest_similarities": sims[:5],
            "closest_sample": sample_clusters(ids, texts, loose, n=2),
            "removed": r.removed,
            "exact": counts.get("exact", 0),
            "near": counts.get("near", 0),
            "clusters": len(r.clusters),
            "seconds": round(time.perf_counter() - t0, 2),
            "sample": sample_clusters(ids, texts, r),
        }
        print(
            f"{name}: {len(texts)} docs, {r.removed} removed ({counts}) in "
            f"{len(r.clusters)} clusters"
        )
        for s in out[name]["sample"]:
            print(f"  kept {s['kept']} <- {s['removed']} {s['similarity']} {s['reason']}")
        print(f"  at a loose 0.2: {len(sims)} removals; closest {sims[:5]}")
        for s in out[name]["closest_sample"]:
            print(
                f"    {s['kept']} ~ {s['removed'][0]} {s['similarity'][0]}: {s['kept_text'][:90]!r}"
            )
    return out


def semantic(data: Path, limit: int) -> dict[str, Any]:
    """Semantic duplicates among SQuAD QA pairs (question + answer), and the threshold.

    A pair found is counted as asking the same thing when both questions are on the same
    paragraph and their answers share half their words (a proxy label). The default was
    chosen on the articles of one half (the lowest cosine at which >= 80% of the pairs found
    ask the same thing); the other half is reported."""
    import re

    import numpy as np

    from ragline.data.semantic import semantic_duplicates
    from ragline.models.embedder import get_embedder

    settings = load_settings()
    threshold = settings.data.semantic_threshold
    qs = [q for q in load(data / "rag-qa" / "squad2-dev" / "questions.jsonl") if q["answerable"]]
    qs = qs[:limit]
    texts = [f"{q['text']}\n{q['answers'][0]}" for q in qs]
    embedder = get_embedder(settings.embedder)
    t0 = time.perf_counter()
    vectors = embedder.embed(texts)
    embed_s = time.perf_counter() - t0
    sims = vectors @ vectors.T

    def words_of(a: str) -> set[str]:
        return set(re.findall(r"\w+", a.lower()))

    def same(i: int, j: int) -> bool:
        a, b = words_of(qs[i]["answers"][0]), words_of(qs[j]["answers"][0])
        return qs[i]["gold"] == qs[j]["gold"] and len(a & b) / max(1, len(a | b)) >= 0.5

    articles = sorted({q["article"] for q in qs})
    dev_articles = set(articles[::2])
    curve: dict[str, list[dict[str, Any]]] = {}
    for half, pick in (("dev", True), ("held_out", False)):
        idx = [i for i, q in enumerate(qs) if (q["article"] in dev_articles) == pick]
        sub = sims[np.ix_(idx, idx)]
        rows = []
        for t in (0.88, 0.90, 0.92, 0.94, 0.95, 0.96, 0.97):
            ii, jj = np.nonzero(np.triu(sub >= t, k=1))
            pairs = [(idx[a], idx[b]) for a, b in zip(ii.tolist(), jj.tolist(), strict=True)]
            ok = sum(same(a, b) for a, b in pairs)
            rows.append(
                {
                    "threshold": t,
                    "pairs": len(pairs),
                    "same": ok,
                    "precision": round(ok / len(pairs), 3) if pairs else None,
                }
            )
        curve[half] = rows
    print(f"\n== semantic duplicates among {len(texts)} SQuAD QA pairs (question + answer)")
    print("  threshold  dev pairs (same)  held-out pairs (same)")
    for d_row, h_row in zip(curve["dev"], curve["held_out"], strict=True):
        print(
            f"  {d_row['threshold']:<9}  {d_row['pairs']:>5} ({d_row['same']:>3})      "
            f"{h_row['pairs']:>5} ({h_row['same']:>3})"
        )
    near = find_duplicates(texts, **defaults())
    r = semantic_duplicates(texts, embedder, threshold=threshold, keep=near.keep)
    removed = sum(len(c.removed) for c in r.clusters)
    same_passage = sum(
        1 for c in r.clusters for m in c.removed if qs[m.index]["gold"] == qs[c.kept]["gold"]
    )
    out = {
        "qa_pairs": len(texts),
        "exact_or_near": near.removed,
        "threshold": threshold,
        "semantic_removed": removed,
        "same_passage": same_passage,
        "embed_seconds": round(embed_s, 2),
        "curve": curve,
        "sample": sample_clusters([q["_id"] for q in qs], texts, r, n=4),
    }
    print(
        f"  at the default {threshold}: {near.removed} exact/near, {removed} semantic "
        f"({same_passage} on the same paragraph); embedding took {embed_s:.1f} s"
    )
    for s in out["sample"]:
        print(f"  {s['kept_text']!r}  ~  {s['removed_text']!r}  {s['similarity']}")
    return out


def chunks_of(texts: list[str], words: int = 100) -> list[str]:
    out = []
    for t in texts:
        toks = t.split()
        for i in range(0, len(toks), words):
            piece = toks[i : i + words]
            if len(piece) >= 30:
                out.append(" ".join(piece))
    return out


def scale(data: Path, n: int, ds_n: int, d: dict[str, Any]) -> dict[str, Any]:
    texts = [x["text"] for x in load(data / "beir-scifact" / "corpus.jsonl")]
    texts += [x["text"] for x in load(data / "rag-qa" / "squad2-dev" / "corpus.jsonl")]
    pool = chunks_of(texts)
    # drop natural duplicates among the base chunks so that the planted truth holds
    base = find_duplicates(pool, **d)
    pool = [t for t, k in zip(pool, base.keep, strict=True) if k]
    extra = n - len(pool)
    records = planted_set(
        pool,
        size=n,
        seed=3,
        copy_share=0.7 * extra / n,
        rewrite_share=0.3 * extra / n,
        min_words=30,
    )
    chunk_texts = [r.text for r in records]
    print(
        f"\n== {len(chunk_texts)} chunks ({len(pool)} distinct ~100-word chunks of SciFact + "
        f"SQuAD, the rest planted copies and rewrites); {os.cpu_count()} CPU cores"
    )
    out: dict[str, Any] = {"chunks": len(chunk_texts), "base_chunks": len(pool)}
    ds_size = min(ds_n, len(chunk_texts))
    runs = [("rensa", len(chunk_texts), "rensa")]
    if ds_size > 0:  # the anchor: both engines on the same first ds_size chunks
        runs += [("rensa", ds_size, f"rensa_{ds_size}"), ("datasketch", ds_size, "datasketch")]
    for engine, size, key in runs:
        sub = records[:size]
        stages: dict[str, float] = {}
        last = [time.perf_counter()]

        def note(msg: str, _stages: dict[str, float] = stages, _last: list = last) -> None:
            now = time.perf_counter()
            _stages[msg.split(" ")[0]] = now
            _last[0] = now

        t0, c0 = time.perf_counter(), time.process_time()
        r = find_duplicates([x.text for x in sub], **d, engine=engine, progress=note)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        marks = sorted(stages.items(), key=lambda kv: kv[1])
        timings = {}
        for (name, start), nxt in zip(marks, [*marks[1:], ("end", t0 + elapsed)], strict=True):
            timings[name] = round(nxt[1] - start, 2)
        s = score_planted(sub, r.kept_of()).to_dict()
        out[key] = {
            "engine": engine,
            "chunks": size,
            "seconds": round(elapsed, 2),
            "cpu_seconds": round(cpu, 2),
            "load_average": [round(x, 1) for x in os.getloadavg()],
            "stages": timings,
            **s,
        }
        print(
            f"{engine:<10} {size} chunks: {elapsed:.1f} s wall, {cpu:.1f} s CPU, load average "
            f"{os.getloadavg()[0]:.1f} ({timings}); precision {s['precision']:.4f} recall "
            f"{s['recall']:.4f}"
        )
    if "datasketch" in out:
        same = out[f"rensa_{ds_size}"] if ds_size != len(chunk_texts) else out["rensa"]
        out["speedup_cpu"] = round(out["datasketch"]["cpu_seconds"] / same["cpu_seconds"], 1)
        out["speedup_wall"] = round(out["datasketch"]["seconds"] / same["seconds"], 1)
        print(
            f"on the same {ds_size} chunks rensa is {out['speedup_cpu']}x faster than "
            f"datasketch in CPU time ({out['speedup_wall']}x wall)"
        )
    return out


def answerability(data: Path, n: int) -> dict[str, Any]:
    from ragline.data.synth import AnswerabilityChecker
    from ragline.models.embedder import get_embedder

    settings = load_settings()
    root = data / "rag-qa" / "squad2-dev"
    corpus = {x["_id"]: x["text"] for x in load(root / "corpus.jsonl")}
    qs = [q for q in load(root / "questions.jsonl") if q["answerable"]]
    rng = random.Random(5)
    rng.shuffle(qs)
    qs = qs[:n]
    checker = AnswerabilityChecker(settings, get_embedder(settings.embedder))
    ids = sorted(corpus)
    t0 = time.perf_counter()
    own = sum(checker.check(q["text"], q["answers"][0], corpus[q["gold"]]).ok for q in qs)
    other = 0
    for q in qs:
        wrong = rng.choice([i for i in ids if not i.startswith(q["article"] + "-")])
        other += checker.check(q["text"], q["answers"][0], corpus[wrong]).ok
    elapsed = time.perf_counter() - t0
    out = {
        "questions": len(qs),
        "own_passage_pass": round(own / len(qs), 4),
        "other_passage_pass": round(other / len(qs), 4),
        "ms_per_check": round(1000 * elapsed / (2 * len(qs)), 1),
    }
    print(
        f"\n== answerability on {len(qs)} SQuAD answerable questions: passes with its own "
        f"paragraph {out['own_passage_pass']:.0%}, with another article's "
        f"{out['other_passage_pass']:.0%} ({out['ms_per_check']} ms a check)"
    )
    return out


def filters(data: Path) -> dict[str, Any]:
    """The quality filters with their defaults on SciFact and SQuAD: what each drops."""
    from ragline.data.filters import filter_records
    from ragline.data.records import read_records

    cfg = load_settings().data
    out: dict[str, Any] = {}
    print("\n== quality filters (defaults)")
    for name, path in (
        ("scifact", data / "beir-scifact" / "corpus.jsonl"),
        ("squad_corpus", data / "rag-qa" / "squad2-dev" / "corpus.jsonl"),
        ("squad_questions", data / "rag-qa" / "squad2-dev" / "questions.jsonl"),
    ):
        records = read_records(path).records
        t0 = time.perf_counter()
        report = filter_records(records, cfg)
        elapsed = time.perf_counter() - t0
        counts = {k: v for k, v in report.counts().items() if v}
        examples: dict[str, list[str]] = {}
        for d in report.dropped:
            examples.setdefault(d.filter, [])
            if len(examples[d.filter]) < 2:
                examples[d.filter].append(f"{d.id}: {d.reason}")
        out[name] = {
            "records": len(records),
            "kept": len(report.kept),
            "dropped": counts,
            "repaired_encoding": report.repaired,
            "examples": examples,
            "seconds": round(elapsed, 2),
        }
        print(
            f"{name}: {len(records)} -> {len(report.kept)} kept; dropped {counts}; "
            f"{report.repaired} repaired; {elapsed:.1f} s"
        )
        for f, ex in examples.items():
            print(f"  {f}: {ex}")
    return out


def scrub(data: Path, n: int) -> dict[str, Any]:
    """The PII scrub (redact) on Presidio's synthetic set: findings per type, and the share
    of labelled values that no longer appear in the scrubbed text (value-level recall)."""
    from ragline.data.records import DataRecord
    from ragline.data.scrub import scrub_records
    from ragline.guard.pii import PiiGuard

    items = json.loads((data / "pii-presidio-synth" / "synth_dataset_v2.json").read_text())
    rng = random.Random(9)
    rng.shuffle(items)
    items = items[:n]
    records = [
        DataRecord(i, f"p{i}", {"id": f"p{i}", "text": it["full_text"]}, it["full_text"])
        for i, it in enumerate(items)
    ]
    guard = PiiGuard(load_settings())
    guard.warm_up()
    t0 = time.perf_counter()
    report = scrub_records(records, guard.find, action="redact")
    elapsed = time.perf_counter() - t0
    per_type: dict[str, list[int]] = {}
    for it, rec in zip(items, report.kept, strict=True):
        for span in it["spans"]:
            gone = span["entity_value"] not in rec.data["text"]
            hit = per_type.setdefault(span["entity_type"], [0, 0])
            hit[0] += gone
            hit[1] += 1
    gone_total = sum(v[0] for v in per_type.values())
    labelled = sum(v[1] for v in per_type.values())
    out = {
        "texts": len(records),
        "records_changed": report.changed,
        "findings": report.to_dict()["entities"],
        "labelled_values": labelled,
        "labelled_values_removed": round(gone_total / labelled, 4) if labelled else None,
        "removed_by_type": {k: f"{v[0]}/{v[1]}" for k, v in sorted(per_type.items())},
        "seconds": round(elapsed, 2),
    }
    print(
        f"\n== PII scrub (redact) on {len(records)} Presidio synthetic texts: {report.changed} "
        f"changed; {gone_total}/{labelled} labelled values no longer in the text "
        f"({out['labelled_values_removed']:.1%}); {elapsed:.1f} s"
    )
    print(f"  findings: {out['findings']}")
    print(f"  removed by labelled type: {out['removed_by_type']}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--datasketch-chunks", type=int, default=20_000)
    ap.add_argument("--planted-size", type=int, default=1000)
    ap.add_argument("--semantic-limit", type=int, default=3000)
    ap.add_argument("--answerability", type=int, default=60)
    ap.add_argument("--scrub-texts", type=int, default=300)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument(
        "--only",
        choices=["planted", "corpora", "filters", "semantic", "scale", "answerability", "scrub"],
        help="run one section and update it in benchmarks/results/data.json",
    )
    args = ap.parse_args()
    if args.quick:
        args.chunks, args.datasketch_chunks = 20_000, 5_000
        args.semantic_limit, args.answerability, args.scrub_texts = 500, 10, 30
    data = bench_data()
    d = defaults()
    print(f"defaults: {d}")
    if args.only:
        from _common import RESULTS

        path = RESULTS / "data.json"
        previous = json.loads(path.read_text()) if path.exists() else {}
        previous.pop("machine", None)
        if args.only == "semantic":
            previous["semantic"] = semantic(data, args.semantic_limit)
        elif args.only == "scale":
            previous["scale"] = scale(data, args.chunks, args.datasketch_chunks, d)
        elif args.only == "answerability":
            previous["answerability"] = answerability(data, args.answerability)
        elif args.only == "corpora":
            previous["corpora"] = corpora(data, d)
        elif args.only == "filters":
            previous["filters"] = filters(data)
        elif args.only == "scrub":
            previous["scrub"] = scrub(data, args.scrub_texts)
        else:
            raise SystemExit("--only planted: run the whole benchmark")
        write_results("data", previous)
        return
    scifact = [x["text"] for x in load(data / "beir-scifact" / "corpus.jsonl")]
    squad = [x["text"] for x in load(data / "rag-qa" / "squad2-dev" / "corpus.jsonl")]
    pool = scifact + squad
    natural = find_duplicates(pool, **d)
    pool = [t for t, k in zip(pool, natural.keep, strict=True) if k]
    results: dict[str, Any] = {
        "defaults": d,
        "pool": len(pool),
        "pool_natural_dups": natural.removed,
    }
    results["planted"] = planted(pool, args.planted_size, d)
    results["corpora"] = corpora(data, d)
    results["filters"] = filters(data)
    results["semantic"] = semantic(data, args.semantic_limit)
    results["scale"] = scale(data, args.chunks, args.datasketch_chunks, d)
    results["answerability"] = answerability(data, args.answerability)
    results["scrub"] = scrub(data, args.scrub_texts)
    write_results("data" if not args.quick else "data-quick", results)


if __name__ == "__main__":
    main()
