"""The router: intent accuracy, weak/strong model routing, router latency, gateway overhead.

1. **Intents**: the shipped classifier (``route/intents.yaml``) on the labelled set
   ``benchmarks/data/intents_eval.jsonl`` (210 messages written for this benchmark, none of
   them a training example): accuracy, per-class precision/recall/F1, the confusion matrix,
   and the share of document questions sent elsewhere (the costly error), at the default
   ``route.min_confidence`` and, for reading only, at other thresholds.
2. **Model routing** on SQuAD 2.0 answerable questions, split by article
   (``benchmarks/router_answers.py`` answered each with the weak and the strong model through
   the whole answer flow, generative style, and keeps the rows in
   ``results/router-answers.jsonl``). The router is fitted on the *tune* half (label: the
   weak answer is as good as the strong one) and written to ``route/model_router.json``; its
   threshold for the floor is picked on the tune half's cross-validated scores; everything
   reported is on the held-out *test* half: accuracy and the share of calls to the strong
   model along the threshold curve, against always-weak, always-strong, a random router with
   the same share, and a cascade (weak first, the strong model when the weak one declines).
3. **Latency**: intent classification (embedding + linear model) p50/p95 per message, the
   linear model alone, and the model router's choice.
4. **Gateway path overhead**: the same chat call to a local OpenAI-compatible stub server
   (``ragline.testing.fault_server``), direct to the provider vs through the gateway path
   (per-key limit check and settle, the model router's choice, the gateway's retry/fallback
   machinery and pricing, the generation span in a trace), interleaved, N calls each.

    python benchmarks/bench_router.py [--calls 500] [--no-write-weights]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from _common import REPO, RESULTS, percentile, write_results
from router_answers import ANSWERS, load_rows

os.environ.setdefault("HF_HUB_OFFLINE", "1")

EVAL = REPO / "benchmarks" / "data" / "intents_eval.jsonl"
THRESHOLDS = [round(float(t), 2) for t in np.arange(0.0, 1.0001, 0.01)]


# --------------------------------------------------------------------------- intents


def bench_intents(settings: Any, embedder: Any) -> dict[str, Any]:
    from sklearn.metrics import classification_report, confusion_matrix

    from ragline.route.intent import ROUTES, IntentRouter, load_intents

    rows = [json.loads(line) for line in EVAL.read_text().splitlines() if line]
    examples = load_intents(settings.route.intents)
    t0 = time.perf_counter()
    router = IntentRouter(embedder, examples, min_confidence=settings.route.min_confidence)
    train_s = time.perf_counter() - t0
    train_texts = {t.lower() for t in examples.pairs()[0]}
    overlap = sum(r["text"].lower() in train_texts for r in rows)
    vectors = embedder.embed([r["text"] for r in rows])
    truth = [r["intent"] for r in rows]

    def run(threshold: float) -> list[str]:
        router.min_confidence = threshold
        return [router.classify_vector(v).route for v in vectors]

    by_threshold = {}
    for t in (0.0, 0.4, 0.5, 0.6, 0.7, 0.8):
        pred = run(t)
        docs = [p for p, g in zip(pred, truth, strict=True) if g == "documents"]
        by_threshold[str(t)] = {
            "accuracy": round(
                float(np.mean([p == g for p, g in zip(pred, truth, strict=True)])), 4
            ),
            "documents_sent_elsewhere": round(sum(p != "documents" for p in docs) / len(docs), 4),
        }
    pred = run(settings.route.min_confidence)
    labels = list(ROUTES)
    report = classification_report(truth, pred, labels=labels, output_dict=True, zero_division=0)
    matrix = confusion_matrix(truth, pred, labels=labels).tolist()
    errors = [
        {"text": r["text"], "intent": g, "routed": p}
        for r, g, p in zip(rows, truth, pred, strict=True)
        if g != p
    ]
    # latency: a fresh embedding per message, as ask() does
    lat, cpu, lr = [], [], []
    for r, v in zip(rows * 2, np.concatenate([vectors, vectors]), strict=True):
        t, c = time.perf_counter(), time.process_time()
        router.classify(r["text"])
        cpu.append((time.process_time() - c) * 1e3)
        lat.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        router.classify_vector(v)
        lr.append((time.perf_counter() - t) * 1e3)
    return {
        "messages": len(rows),
        "per_intent": dict(Counter(truth)),
        "training_examples": len(train_texts),
        "overlap_with_training": overlap,
        "train_s": round(train_s, 3),
        "min_confidence": settings.route.min_confidence,
        "accuracy": round(report["accuracy"], 4),
        "per_class": {
            k: {m: round(report[k][m], 4) for m in ("precision", "recall", "f1-score", "support")}
            for k in labels
        },
        "confusion": {"labels": labels, "matrix": matrix},
        "by_threshold": by_threshold,
        "errors": errors,
        "classify_ms_p50": round(statistics.median(lat), 3),
        "classify_ms_p95": round(percentile(lat, 95), 3),
        "linear_ms_p50": round(statistics.median(lr), 4),
        # CPU time of the process (onnxruntime's threads included): the cost itself, which
        # the wall time above inflates on a machine where other work competes for the cores
        "classify_cpu_ms_p50": round(statistics.median(cpu), 3),
    }


# --------------------------------------------------------------------------- model routing


def paired(rows: list[dict[str, Any]], weak: str, strong: str) -> list[dict[str, Any]]:
    by: dict[str, dict[str, Any]] = {}
    for r in rows:
        by.setdefault(r["id"], {})[r["model"]] = r
    return [
        {"weak": m[weak], "strong": m[strong]} for m in by.values() if weak in m and strong in m
    ]


def cv_scores(xs: np.ndarray, ys: list[bool], groups: list[str]) -> np.ndarray:
    """Out-of-fold scores on the tune half: leave one article out."""
    from ragline.route.models import RouterWeights

    out = np.zeros(len(ys))
    for g in sorted(set(groups)):
        test = np.array([x == g for x in groups])
        train_y = [y for y, t in zip(ys, test, strict=True) if not t]
        if len(set(train_y)) < 2:
            out[test] = float(np.mean(train_y))
            continue
        w = RouterWeights.fit(xs[~test], train_y)
        out[test] = [w.score(x) for x in xs[test]]
    return out


def calls_model(p: dict[str, Any]) -> bool:
    """Nothing relevant retrieved: the flow declines before any model call (no routing)."""
    return p["weak"]["decline_reason"] != "no_relevant_passages"


def curve(scores: np.ndarray, pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accuracy over every question; the strong share over the questions that call a model."""
    calling = np.array([calls_model(p) for p in pairs])
    points = []
    for t in THRESHOLDS:
        weak = (scores >= t) | ~calling
        correct = [
            (p["weak"] if w else p["strong"])["correct"] for p, w in zip(pairs, weak, strict=True)
        ]
        points.append(
            {
                "threshold": t,
                "accuracy": round(float(np.mean(correct)), 4),
                "strong_share": round(float((~weak).sum() / max(1, calling.sum())), 4),
            }
        )
    return points


def cascade_curve(scores: np.ndarray, pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Weak first; its answer is kept when the citation checker kept it (not declined) and
    the router's score is at or above the threshold, else the strong model answers.
    ``strong_share``: questions the strong model answered, over those calling a model (each
    of them also cost a weak call, except those the router alone sent on)."""
    calling = np.array([calls_model(p) for p in pairs])
    points = []
    for t in THRESHOLDS:  # 0.0: the cascade alone (the checker is the only signal)
        kept = np.array(
            [not p["weak"]["declined"] and s >= t for p, s in zip(pairs, scores, strict=True)]
        )
        weak = kept | ~calling
        correct = [
            (p["weak"] if w else p["strong"])["correct"] for p, w in zip(pairs, weak, strict=True)
        ]
        points.append(
            {
                "threshold": t,
                "accuracy": round(float(np.mean(correct)), 4),
                "strong_share": round(float((~weak).sum() / max(1, calling.sum())), 4),
            }
        )
    return points


def floor_threshold(points: list[dict[str, Any]], strong_acc: float) -> float | None:
    """The threshold sending the most calls to the weak model at <= 1 point lost."""
    ok = [p for p in points if p["accuracy"] >= strong_acc - 0.01]
    return min(ok, key=lambda p: (p["strong_share"], -p["threshold"]))["threshold"] if ok else None


def bench_models(weak: str, strong: str, write_weights: bool) -> dict[str, Any]:
    from ragline.route.models import SHIPPED_WEIGHTS, RouterWeights, features

    pairs = paired(load_rows(ANSWERS), weak, strong)
    # the router is asked only when something relevant was retrieved: trained on those
    tune = [p for p in pairs if p["weak"]["split"] == "tune" and calls_model(p)]
    test = [p for p in pairs if p["weak"]["split"] == "test"]

    def matrix(ps: list[dict[str, Any]]) -> np.ndarray:
        return np.array([features(p["weak"]["question"], p["weak"]["relevances"]) for p in ps])

    def label(p: dict[str, Any]) -> bool:
        return p["weak"]["correct"] or not p["strong"]["correct"]

    x_tune, y_tune = matrix(tune), [label(p) for p in tune]
    weights = RouterWeights.fit(
        x_tune,
        y_tune,
        trained_on=f"SQuAD 2.0 dev, tune half, {len(tune)} answerable questions",
        label=f"{weak} answers as well as {strong}",
        weak=weak,
        strong=strong,
    )
    tune_cv = cv_scores(x_tune, y_tune, [p["weak"]["article"] for p in tune])
    tune_curve = curve(tune_cv, tune)
    tune_strong = float(np.mean([p["strong"]["correct"] for p in tune]))
    picked = floor_threshold(tune_curve, tune_strong)
    if write_weights:
        SHIPPED_WEIGHTS.write_text(json.dumps(weights.to_dict(), indent=1) + "\n")
        print(f"wrote {SHIPPED_WEIGHTS.relative_to(REPO)}")

    scores = np.array([weights.score(x) for x in matrix(test)])
    points = curve(scores, test)
    acc = {
        "always_weak": float(np.mean([p["weak"]["correct"] for p in test])),
        "always_strong": float(np.mean([p["strong"]["correct"] for p in test])),
        "oracle": float(np.mean([p["weak"]["correct"] or p["strong"]["correct"] for p in test])),
    }
    cascade = [p["strong"] if p["weak"]["declined"] else p["weak"] for p in test]
    # the cascade and the router together: the weak answer is kept when the citation checker
    # kept it AND the router's score is at or above the threshold
    cascade_points = cascade_curve(scores, test)
    tune_cascade_points = cascade_curve(tune_cv, tune)
    tune_all = [p for p in pairs if p["weak"]["split"] == "tune"]
    cascade_picked = floor_threshold(tune_cascade_points, tune_strong)
    cascade_at_picked = next((p for p in cascade_points if p["threshold"] == cascade_picked), None)
    at_picked = next((p for p in points if p["threshold"] == picked), None)
    best = floor_threshold(points, acc["always_strong"])
    rng = random.Random(0)
    random_router = []
    for pt in points:  # a router that sends the same share to the strong model at random
        runs = []
        for _ in range(200):
            runs.append(
                np.mean(
                    [
                        (
                            p["strong"]
                            if calls_model(p) and rng.random() < pt["strong_share"]
                            else p["weak"]
                        )["correct"]
                        for p in test
                    ]
                )
            )
        random_router.append(round(float(np.mean(runs)), 4))
    for pt, r in zip(points, random_router, strict=True):
        pt["random_accuracy"] = r
    lat = []
    from ragline.route.models import ModelRouter

    router = ModelRouter(weights, weak=weak, strong=strong, threshold=picked or 0.5)
    for p in test * 20:
        t = time.perf_counter()
        router.choose(p["weak"]["question"], p["weak"]["relevances"])
        lat.append((time.perf_counter() - t) * 1e3)
    seconds = {
        m: round(statistics.median(p[m]["total_s"] for p in pairs), 2) for m in ("weak", "strong")
    }
    return {
        "weak": weak,
        "strong": strong,
        "questions": {"tune": len(tune), "test": len(test)},
        "test_questions_calling_a_model": sum(calls_model(p) for p in test),
        "baselines": {k: round(v, 4) for k, v in acc.items()},
        "cascade": {
            "accuracy": round(float(np.mean([r["correct"] for r in cascade])), 4),
            "strong_share": round(
                sum(p["weak"]["declined"] and calls_model(p) for p in test)
                / max(1, sum(calls_model(p) for p in test)),
                4,
            ),
            "weak_calls_share": 1.0,
            "tune": {
                "accuracy": round(
                    float(
                        np.mean(
                            [
                                (p["strong"] if p["weak"]["declined"] else p["weak"])["correct"]
                                for p in tune_all
                            ]
                        )
                    ),
                    4,
                ),
                "always_strong": round(
                    float(np.mean([p["strong"]["correct"] for p in tune_all])), 4
                ),
            },
            "floor_met": bool(
                cascade_points[0]["strong_share"] <= 0.5
                and cascade_points[0]["accuracy"] >= acc["always_strong"] - 0.01
            ),
        },
        "cascade_router": {
            "threshold_picked_on_tune": cascade_picked,
            "at_picked": cascade_at_picked,
            "floor_met": bool(
                cascade_at_picked is not None
                and cascade_at_picked["strong_share"] <= 0.5
                and cascade_at_picked["accuracy"] >= acc["always_strong"] - 0.01
            ),
            "curve": cascade_points,
            "tune_curve_cv": tune_cascade_points,
        },
        "threshold_picked_on_tune": picked,
        "at_picked": at_picked,
        "best_on_test_for_reading_only": best,
        "floor_met": bool(
            at_picked is not None
            and at_picked["strong_share"] <= 0.5
            and at_picked["accuracy"] >= acc["always_strong"] - 0.01
        ),
        "curve": points,
        "tune_curve_cv": tune_curve,
        "choose_ms_p50": round(statistics.median(lat), 4),
        "answer_s_p50": seconds,
    }


# --------------------------------------------------------------------------- gateway overhead


def bench_gateway(calls: int, weights_path: Path | None) -> dict[str, Any]:
    from ragline.config import load_settings
    from ragline.models.chat import SamplingParams
    from ragline.models.gateway import Gateway
    from ragline.models.openai_compat import OpenAICompatChatModel
    from ragline.route.models import ModelRouter, load_weights
    from ragline.store.limits_base import MemoryLimitStore
    from ragline.testing.fault_server import FaultServer
    from ragline.testing.trace_conformance import ListSink
    from ragline.trace.tracer import Tracer

    messages = [{"role": "user", "content": "How tall is the Eiffel Tower?"}]
    params = SamplingParams(temperature=0.0, max_tokens=16)
    with FaultServer(reply="The tower is 330 metres tall.") as server:
        url = server.url("ok")
        settings = load_settings(
            gateway={"endpoints": {"stub": {"base_url": url, "model": "stub"}}, "max_retries": 0}
        )
        tracer = Tracer(settings.trace, [ListSink()])
        gateway = Gateway(settings, tracer=tracer)
        direct = OpenAICompatChatModel(base_url=url, model="stub")
        router = ModelRouter(load_weights(weights_path), weak="stub", strong="stub")
        limits = MemoryLimitStore()

        def via_gateway() -> None:
            with tracer.trace("ask"):
                grant = limits.consume("key1", "requests", 1, limit=1e12, window_s=60)
                choice = router.choose(messages[0]["content"], [0.7, 0.5])
                result = gateway.generate(messages, params, model=choice.model)
                limits.settle(grant, result.usage.total_tokens if result.usage else 1)

        def straight() -> None:
            direct.generate(messages, params)

        for _ in range(30):  # warm both: connections, imports
            via_gateway()
            straight()
        d, g, dc, gc = [], [], [], []
        for i in range(calls):
            order = ((straight, d, dc), (via_gateway, g, gc))
            for fn, out, cpu in order if i % 2 else order[::-1]:
                t, c = time.perf_counter(), time.thread_time()
                fn()
                cpu.append((time.thread_time() - c) * 1e3)
                out.append((time.perf_counter() - t) * 1e3)
        tracer.close()
        direct.close()
    return {
        "calls": calls,
        "direct_ms_p50": round(statistics.median(d), 3),
        "direct_ms_p99": round(percentile(d, 99), 3),
        "gateway_ms_p50": round(statistics.median(g), 3),
        "gateway_ms_p99": round(percentile(g, 99), 3),
        "added_ms_p50": round(statistics.median(g) - statistics.median(d), 3),
        "added_ms_p99": round(percentile(g, 99) - percentile(d, 99), 3),
        "added_ms_paired_p50": round(
            statistics.median(a - b for a, b in zip(g, d, strict=True)), 3
        ),
        # CPU time of the calling thread: what the path itself costs, whatever else runs
        "direct_cpu_ms_p50": round(statistics.median(dc), 3),
        "gateway_cpu_ms_p50": round(statistics.median(gc), 3),
        "added_cpu_ms_p50": round(statistics.median(gc) - statistics.median(dc), 3),
        "added_cpu_ms_p99": round(percentile(gc, 99) - percentile(dc, 99), 3),
        "path": "limit consume+settle (memory), model router choice, gateway generate "
        "(retry/fallback, pricing), generation span in a trace; no answer cache on this branch",
    }


# --------------------------------------------------------------------------- report


def markdown(r: dict[str, Any]) -> str:
    i, m, g = r["intents"], r["models"], r["gateway"]
    lines = [
        "### Router (`bench_router.py`)",
        "",
        f"Intent routing, {i['messages']} labelled messages "
        f"(`benchmarks/data/intents_eval.jsonl`, none a training example), "
        f"`route.min_confidence` {i['min_confidence']}: accuracy **{i['accuracy']:.1%}**; "
        f"document questions sent elsewhere: "
        f"{i['by_threshold'][str(i['min_confidence'])]['documents_sent_elsewhere']:.1%}.",
        "",
        "| intent | precision | recall | F1 | n |",
        "|---|---|---|---|---|",
    ]
    for k, v in i["per_class"].items():
        lines.append(
            f"| {k} | {v['precision']:.2f} | {v['recall']:.2f} | {v['f1-score']:.2f} "
            f"| {int(v['support'])} |"
        )
    b = m["baselines"]
    lines += [
        "",
        f"Model routing, {m['weak']} (weak) vs {m['strong']} (strong), SQuAD 2.0 answerable "
        f"questions, router fitted on the tune half ({m['questions']['tune']}), reported on the "
        f"held-out test half ({m['questions']['test']}):",
        "",
        "| router | accuracy | calls to strong |",
        "|---|---|---|",
        f"| always weak | {b['always_weak']:.1%} | 0% |",
        f"| always strong | {b['always_strong']:.1%} | 100% |",
        f"| cascade (weak, then strong if the checker declines it) | "
        f"{m['cascade']['accuracy']:.1%} | {m['cascade']['strong_share']:.0%} |",
    ]
    c = m["cascade_router"]
    if c["at_picked"]:
        a = c["at_picked"]
        lines.append(
            f"| cascade + router, threshold {a['threshold']} (picked on tune) | "
            f"{a['accuracy']:.1%} | {a['strong_share']:.0%} |"
        )
    if m["at_picked"]:
        a = m["at_picked"]
        lines.append(
            f"| router, threshold {a['threshold']} (picked on tune) | {a['accuracy']:.1%} | "
            f"{a['strong_share']:.0%} |"
        )
    lines += [
        f"| oracle | {b['oracle']:.1%} | — |",
        "",
        f"Floor (≥ 50% weak at ≤ 1 point lost, held-out): router alone "
        f"{'met' if m['floor_met'] else 'not met'}; cascade "
        f"{'met' if m['cascade']['floor_met'] else 'not met'}; cascade + router "
        f"{'met' if c['floor_met'] else 'not met'}. Calls to strong: questions the strong "
        "model answered, over those calling a model; in the cascade each of them also cost "
        "a weak call.",
        "",
        f"Latency: intent classification p50 {i['classify_ms_p50']} ms (p95 "
        f"{i['classify_ms_p95']} ms; CPU time p50 {i['classify_cpu_ms_p50']} ms; the linear "
        f"model alone {i['linear_ms_p50']} ms); model "
        f"router choice p50 {m['choose_ms_p50']} ms. Gateway path vs the provider directly "
        f"(local stub, {g['calls']} calls each): p50 {g['direct_ms_p50']} → "
        f"{g['gateway_ms_p50']} ms (+{g['added_ms_p50']}), p99 {g['direct_ms_p99']} → "
        f"{g['gateway_ms_p99']} ms (+{g['added_ms_p99']}); CPU time of the calling thread "
        f"+{g['added_cpu_ms_p50']} ms p50, +{g['added_cpu_ms_p99']} ms p99.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--weak", default="qwen2.5-0.5b")
    parser.add_argument("--strong", default="qwen2.5-1.5b")
    parser.add_argument("--no-write-weights", action="store_true")
    args = parser.parse_args()

    from ragline.config import load_settings
    from ragline.models.embedder import get_embedder

    settings = load_settings()
    embedder = get_embedder(settings.embedder)
    results: dict[str, Any] = {"load_average_at_start": os.getloadavg()}
    results["intents"] = bench_intents(settings, embedder)
    print(json.dumps({k: v for k, v in results["intents"].items() if k != "errors"}, indent=1))
    results["models"] = bench_models(args.weak, args.strong, not args.no_write_weights)
    brief = {k: v for k, v in results["models"].items() if "curve" not in k}
    brief["cascade_router"] = {k: v for k, v in brief["cascade_router"].items() if "curve" not in k}
    print(json.dumps(brief, indent=1))
    results["gateway"] = bench_gateway(args.calls, None)
    print(json.dumps(results["gateway"], indent=1))
    md = markdown(results)
    print()
    print(md)
    write_results("router", results)
    (RESULTS / "router.md").write_text(md + "\n")


if __name__ == "__main__":
    main()
